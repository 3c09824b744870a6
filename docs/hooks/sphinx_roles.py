"""Griffe extension for the API reference: Sphinx roles in docstrings become links.

The package docstrings are Google style with Sphinx cross-reference roles
(``:func:`stack```, ``:class:`~jax_expdecay.ExponentialDecay```, ``:meth:`to_dict```),
which mkdocstrings would show as literal text; worse, a role in the first line of a
``Returns:`` entry reads as ``type: description``. Before the docstrings are parsed,
each role becomes an autorefs link to the public object it names, or plain code when
it names nothing public (such as ``CheckedSchedule``), so ``mkdocs build --strict``
never meets a dangling reference. Only docstring text is rewritten; nothing is executed.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(func|class|meth|attr|mod|data|obj):`(~?)([\w.]+)`")
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

            obj.docstring.value = _ROLE.sub(link, obj.docstring.value)
