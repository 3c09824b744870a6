"""Griffe extension for the API reference: Sphinx roles in docstrings become links.

The package docstrings are Google style with Sphinx cross-reference roles
(``:func:`stack```, ``:class:`~jax_expdecay.ExponentialDecay```, ``:meth:`to_dict```),
which mkdocstrings would show as literal text; worse, a role in the first line of a
``Returns:`` entry reads as ``type: description``. Before the docstrings are parsed,
each role becomes an autorefs link to the public object it names, or plain code when
it names nothing public (such as ``CheckedSchedule``), so ``mkdocs build --strict``
never meets a dangling reference.

Two more reStructuredText habits are rewritten for Markdown: an inline literal
````x```` becomes the code span `` `x` `` (outside ``>>>`` example lines, which are code
already), and the first line of a ``Returns:`` section gets the signature's return
annotation in front (``jax.Array: ...``), so that griffe, which splits that line at its
first colon into a type and a description, keeps the whole sentence as the description
(a colon inside the sentence, as in ``{"class_name": ...}``, would split it).

A parameter whose default is a private sentinel (``= _MISSING``: the function tells a
missing argument from any value, to raise a clearer error) is shown with the default of
an overload that has one, else as required, so no private name reaches the page. Only
docstrings and displayed defaults are rewritten; nothing is executed.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(func|class|meth|attr|mod|data|obj):`(~?)([\w.]+)`")
_LITERAL = re.compile(r"``(.+?)``")
_RETURNS = re.compile(r"^(\s*)Returns:\s*\n(\s*)(?=\S)", flags=re.M)
_PACKAGE = "jax_expdecay"


def _objects(obj: griffe.Object) -> list[griffe.Object]:
    """``obj`` and every object defined in it (aliases skipped), depth first."""
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_objects(member))  # pyright: ignore[reportArgumentType]
    return found


def _target(name: str, owner: griffe.Object, exports: set[str]) -> str | None:
    """The public path that ``name`` names inside ``owner``'s docstring, or None."""
    name = name.removeprefix(f"{_PACKAGE}.")
    if name.split(".")[0] in exports:
        return f"{_PACKAGE}.{name}"
    cls = owner if owner.is_class else owner.parent
    if cls is not None and cls.is_class and cls.name in exports and name in cls.members:
        return f"{_PACKAGE}.{cls.name}.{name}"  # a method named from its own class
    return None


class SphinxRoles(griffe.Extension):
    """Rewrites Sphinx roles in the package's docstrings as Markdown links."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.name != _PACKAGE:
            return
        exports = {str(e) for e in (pkg.exports or ())}
        for obj in _objects(pkg):
            if obj.docstring is None:
                continue

            def link(m: re.Match[str], obj: griffe.Object = obj) -> str:
                _, tilde, name = m.groups()
                shown = name.rsplit(".", 1)[-1] if tilde else name
                target = _target(name, obj, exports)
                return f"[`{shown}`][{target}]" if target else f"`{shown}`"

            text = _ROLE.sub(link, obj.docstring.value)
            text = "\n".join(_markdown_literals(line) for line in text.split("\n"))
            returns = getattr(obj, "returns", None)
            if obj.is_function and returns is not None:
                text = _RETURNS.sub(lambda m, r=returns: f"{m[0]}{r}: ", text, count=1)
            obj.docstring.value = text
        for obj in _objects(pkg):
            if obj.is_function:
                _public_defaults(obj)  # pyright: ignore[reportArgumentType]


def _public_defaults(func: griffe.Function) -> None:
    """Private sentinel defaults replaced by an overload's default, or by none."""
    overloads = list(func.overloads or ())
    for param in func.parameters:
        if param.default is None or not str(param.default).startswith("_"):
            continue
        shown = [
            p.default
            for o in overloads
            for p in o.parameters
            if p.name == param.name and p.default is not None
        ]
        param.default = shown[0] if shown else None


def _markdown_literals(line: str) -> str:
    """````x```` as `` `x` `` (a Markdown code span), except on ``>>>``/``...`` lines."""
    if line.lstrip().startswith((">>>", "...")):
        return line
    return _LITERAL.sub(lambda m: f"`{m[1]}`" if "`" not in m[1] else f"`` {m[1]} ``", line)
