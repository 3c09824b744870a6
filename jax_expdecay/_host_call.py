"""The accurate path's call to the host: an XLA FFI handler on CPU, ``jax.pure_callback``
elsewhere.

Why not ``jax.pure_callback`` on CPU too: jaxlib dispatches every CPU program that holds a
host callback synchronously ("When using host callbacks on CPU, we need to use synchronous
dispatch to avoid deadlocks with reentrant callbacks", ``PyLoadedExecutable``), taken or
not, so the next training update's Python dispatch no longer overlaps this one's
execution (a small adam update cost ~1.15x a constant rate, ``benchmarks/bench_kernel.py
--callback-cost``), and JAX's persistent compilation cache skips every program that holds
one. Our host function never calls back into JAX, so the reentrancy that rule guards
against cannot happen here.

So on CPU the call is a custom call to an FFI handler registered with
``jax.ffi.register_ffi_target``: a ``ctypes`` function that reads XLA's call frame (the C
structs of ``xla/ffi/api/c_api.h``, of which only the stable leading fields are declared),
runs ``_fixed.accurate`` on the operands (ctypes takes the GIL) and writes the results into
the output buffers. To JAX it is an ordinary custom call: the program dispatches
asynchronously and can be cached. An exception in the host function becomes an XLA error
(``XLA_FFI_Error_Create``), so it surfaces where the program's result is read, never as a
silently unwritten buffer. On other platforms, whose runtimes do not force synchronous
dispatch, ``jax.pure_callback`` does the same job (``jax.lax.platform_dependent`` lowers
only the branch of the platform at hand).
"""

from __future__ import annotations

import ctypes as C
import functools
from typing import Any

import jax
import numpy as np

TARGET = "jax_expdecay_accurate"


class _ExtBase(C.Structure):
    pass


_ExtBase._fields_ = [("struct_size", C.c_size_t), ("type", C.c_int), ("next", C.c_void_p)]


class _ApiVersion(C.Structure):
    _fields_ = [
        ("struct_size", C.c_size_t),
        ("extension_start", C.c_void_p),
        ("major_version", C.c_int),
        ("minor_version", C.c_int),
    ]


class _Metadata(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("api_version", _ApiVersion), ("traits", C.c_uint32)]


class _MetadataExt(C.Structure):
    _fields_ = [("extension_base", _ExtBase), ("metadata", C.POINTER(_Metadata))]


class _ErrorCreateArgs(C.Structure):
    _fields_ = [
        ("struct_size", C.c_size_t),
        ("extension_start", C.c_void_p),
        ("message", C.c_char_p),
        ("errc", C.c_int),
    ]


_ErrorCreate = C.CFUNCTYPE(C.c_void_p, C.POINTER(_ErrorCreateArgs))


class _Api(C.Structure):
    _fields_ = [
        ("struct_size", C.c_size_t),
        ("extension_start", C.c_void_p),
        ("api_version", _ApiVersion),
        ("internal_api", C.c_void_p),
        ("error_create", _ErrorCreate),
    ]


class _Buffer(C.Structure):
    _fields_ = [
        ("struct_size", C.c_size_t),
        ("extension_start", C.c_void_p),
        ("dtype", C.c_int),
        ("data", C.c_void_p),
        ("rank", C.c_int64),
        ("dims", C.POINTER(C.c_int64)),
    ]


class _List(C.Structure):  # XLA_FFI_Args and XLA_FFI_Rets share this layout
    _fields_ = [
        ("struct_size", C.c_size_t),
        ("extension_start", C.c_void_p),
        ("size", C.c_int64),
        ("types", C.c_void_p),
        ("items", C.POINTER(C.c_void_p)),
    ]


class _Attrs(C.Structure):
    _fields_ = [
        ("struct_size", C.c_size_t),
        ("extension_start", C.c_void_p),
        ("size", C.c_int64),
        ("types", C.c_void_p),
        ("names", C.c_void_p),
        ("attrs", C.c_void_p),
    ]


class _CallFrame(C.Structure):
    _fields_ = [
        ("struct_size", C.c_size_t),
        ("extension_start", C.POINTER(_ExtBase)),
        ("api", C.POINTER(_Api)),
        ("ctx", C.c_void_p),
        ("stage", C.c_int),
        ("args", _List),
        ("rets", _List),
        ("attrs", _Attrs),
        ("future", C.c_void_p),
    ]


# XLA_FFI_DataType codes of the operands we pass
_DTYPES = {
    1: np.bool_,
    4: np.int32,
    5: np.int64,
    8: np.uint32,
    9: np.uint64,
    11: np.float32,
    12: np.float64,
}
_METADATA, _EXECUTE, _INTERNAL = 1, 3, 13


def _view(ptr: int) -> np.ndarray:
    """The buffer ``ptr`` (an ``XLA_FFI_Buffer*``) as a numpy array over XLA's memory."""
    b = C.cast(ptr, C.POINTER(_Buffer)).contents
    shape = tuple(int(b.dims[i]) for i in range(b.rank))
    dt = np.dtype(_DTYPES[b.dtype])
    size = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if size == 0:
        return np.zeros(shape, dt)
    return np.frombuffer(memoryview((C.c_char * size).from_address(b.data)), dt).reshape(shape)


def _handler(frame_p: Any) -> int | None:
    frame = frame_p.contents
    try:
        if frame.extension_start:  # XLA asks which FFI API version the handler speaks
            if frame.extension_start.contents.type == _METADATA:
                md = C.cast(frame.extension_start, C.POINTER(_MetadataExt)).contents.metadata
                md.contents.api_version.major_version = 0
                md.contents.api_version.minor_version = 1
                return None
        if frame.stage != _EXECUTE:
            return None
        from . import _fixed
        from ._exponent import _NA

        und, n, frac, dig, params = (_view(frame.args.items[i]) for i in range(5))
        val, ok = (_view(frame.rets.items[i]) for i in range(2))
        bits, emin, emax = (int(v) for v in params.reshape(-1, 3)[0])  # vmap broadcasts it
        got, good = _fixed.accurate(
            und, n, frac, dig, bits=bits, emin=emin, emax=emax, na=_NA, out=val.dtype.type
        )
        np.copyto(val, np.asarray(got, val.dtype).reshape(val.shape))
        np.copyto(ok, np.asarray(good, bool).reshape(ok.shape))
        return None
    except BaseException as exc:  # every failure must reach XLA as an error
        return _error(frame, f"jax_expdecay accurate path: {type(exc).__name__}: {exc}")


def _error(frame: Any, message: str) -> int | None:
    _messages.append(message.encode())  # alive while XLA reads it
    args = _ErrorCreateArgs(C.sizeof(_ErrorCreateArgs), None, _messages[-1], _INTERNAL)
    return frame.api.contents.error_create(C.byref(args))


_messages: list[bytes] = []
_HANDLER = C.CFUNCTYPE(C.c_void_p, C.POINTER(_CallFrame))(_handler)


@functools.cache
def _registered() -> bool:
    new_capsule = C.pythonapi.PyCapsule_New
    new_capsule.restype = C.py_object
    new_capsule.argtypes = (C.c_void_p, C.c_char_p, C.c_void_p)
    capsule = new_capsule(C.cast(_HANDLER, C.c_void_p).value, b"xla._CUSTOM_CALL_TARGET", None)
    jax.ffi.register_ffi_target(TARGET, capsule, platform="cpu", api_version=1)
    return True


def _on_host(und: Any, n: Any, frac: Any, dig: Any, **kw: Any) -> Any:
    """``jax.pure_callback``'s host function (platforms other than CPU). Like the CPU
    handler, it looks ``_fixed.accurate`` up at each call (not when the program is traced,
    so a program compiled earlier in the process runs the same function) and names a
    failure the same way."""
    from . import _fixed
    from ._exponent import _NA

    try:
        return _fixed.accurate(und, n, frac, dig, na=_NA, **kw)
    except Exception as exc:
        raise RuntimeError(f"jax_expdecay accurate path: {type(exc).__name__}: {exc}") from exc


def call(out: Any, und: Any, n: Any, frac: Any, dig: Any, *, bits: int, emin: int, emax: int):
    """``_fixed.accurate(und, n, frac, dig, bits=, emin=, emax=)`` on the host -> ``out``
    (two arrays: the values in the working float, and where they apply), broadcasting
    under ``vmap``. The CPU handler gets ``(bits, emin, emax)`` as a fifth operand and the
    working float from its output buffer."""
    _registered()

    def on_cpu(*ops: Any) -> Any:
        p = jax.numpy.asarray((bits, emin, emax), jax.numpy.int32)
        return jax.ffi.ffi_call(TARGET, out, vmap_method="broadcast_all")(*ops, p)

    def elsewhere(*ops: Any) -> Any:
        host = functools.partial(_on_host, bits=bits, emin=emin, emax=emax, out=out[0].dtype.type)
        return jax.pure_callback(host, out, *ops, vmap_method="broadcast_all")

    return jax.lax.platform_dependent(und, n, frac, dig, cpu=on_cpu, default=elsewhere)
