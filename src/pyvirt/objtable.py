"""A uuid-keyed table of domain or network objects with an index by name.

The drivers keep their objects in a dict keyed by UUID string; lookups by
name (``lookupByName``, the duplicate check of every define) used to scan all
objects.  :class:`ObjectTable` is that dict plus a name index kept up to date
by ``obj[uuid] = ...``, ``del obj[uuid]`` and ``pop``.  An object's name never
changes while it is in the table (a redefinition must keep the name, see the
drivers' duplicate checks), so the name is indexed when the object is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

__all__ = ["ObjectTable", "filter_pair"]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_T = TypeVar("_T", bound=_Named)
_V = TypeVar("_V")
_MISSING: Any = object()


class ObjectTable(dict[str, _T]):
    """``{uuid: object}`` with :meth:`find_name` in constant time."""

    def __init__(self) -> None:
        super().__init__()
        self._by_name: dict[str, _T] = {}
        # The name each key was indexed under: an object may have lost its
        # definition (and so its name) by the time it is removed.
        self._key_names: dict[str, str] = {}

    def __setitem__(self, key: str, obj: _T) -> None:
        old = super().get(key)
        if old is not None:
            self._unindex(key, old)
        super().__setitem__(key, obj)
        name = obj.name
        self._by_name[name] = obj
        self._key_names[key] = name

    def __delitem__(self, key: str) -> None:
        obj = super().__getitem__(key)
        super().__delitem__(key)
        self._unindex(key, obj)

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        if key in self:
            obj = super().pop(key)
            self._unindex(key, obj)
            return obj
        if default is _MISSING:
            raise KeyError(key)
        return default

    def clear(self) -> None:
        super().clear()
        self._by_name.clear()
        self._key_names.clear()

    def _unindex(self, key: str, obj: _T) -> None:
        name = self._key_names.pop(key, None)
        if name is not None and self._by_name.get(name) is obj:
            del self._by_name[name]

    def find_name(self, name: str) -> _T | None:
        """The object called ``name``, or None."""
        obj = self._by_name.get(name)
        if obj is None or obj.name == name:
            return obj
        # A stale entry (an object renamed in place, which the drivers never
        # do): rebuild the index from the objects.
        self._by_name = {o.name: o for o in self.values()}
        return self._by_name.get(name)


def filter_pair(objs: list[_V], flags: int, yes: int, no: int, value: Callable[[_V], bool]) -> list[_V]:
    """libvirt's paired list filters (ACTIVE/INACTIVE, PERSISTENT/TRANSIENT, ...).

    With neither or both of ``yes``/``no`` in ``flags``, ``objs`` as they are
    (``value`` is not asked); otherwise those whose ``value`` matches the one
    that is set, in order.
    """
    chosen = flags & (yes | no)
    if chosen in (0, yes | no):
        return objs
    want = chosen == yes
    return [o for o in objs if value(o) == want]
