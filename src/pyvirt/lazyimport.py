"""Modules imported on first use: ``process = lazy_module("pyvirt.qemu.process")``.

The daemon's drivers refer to their runtime modules (QEMU processes and
monitors, bridges and dnsmasq, console streams) only when a guest or network
actually runs.  A :func:`lazy_module` stands in for such a module: the first
attribute read imports it (about 1 MiB and 10-20 ms that an idle daemon does
not pay), later reads are forwarded to it.  Setting or deleting an attribute
acts on the real module, as ``monkeypatch`` expects.

Use it as::

    if TYPE_CHECKING:
        from pyvirt.qemu import process
    else:
        process = lazy_module("pyvirt.qemu.process")

so type checkers see the module itself.

A module the code uses in hot paths (``lxml.etree`` in the XML code) can
replace its stand-in on first use, so later reads cost nothing extra::

    etree = lazy_module("lxml.etree", home=(globals(), "etree"))
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import MutableMapping

__all__ = ["lazy_module"]


class _LazyModule:
    __slots__ = ("_lazy_home", "_lazy_module", "_lazy_name")

    def __init__(self, name: str, home: tuple[MutableMapping[str, Any], str] | None) -> None:
        object.__setattr__(self, "_lazy_name", name)
        object.__setattr__(self, "_lazy_module", None)
        object.__setattr__(self, "_lazy_home", home)

    def _load(self) -> ModuleType:
        module: ModuleType | None = object.__getattribute__(self, "_lazy_module")
        if module is None:
            module = importlib.import_module(object.__getattribute__(self, "_lazy_name"))
            object.__setattr__(self, "_lazy_module", module)
            home = object.__getattribute__(self, "_lazy_home")
            if home is not None and home[0].get(home[1]) is self:
                home[0][home[1]] = module
        return module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        setattr(self._load(), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(self._load(), attr)

    def __repr__(self) -> str:
        return f"<lazy module {object.__getattribute__(self, '_lazy_name')!r}>"


def lazy_module(name: str, home: tuple[MutableMapping[str, Any], str] | None = None) -> Any:
    """A stand-in for module ``name`` that imports it on first attribute access.

    With ``home`` (a module's ``globals()`` and the name the stand-in is
    bound to there), that binding is replaced by the module when it loads.
    The import's own errors (ImportError, ...) surface at that first access.
    """
    return _LazyModule(name, home)
