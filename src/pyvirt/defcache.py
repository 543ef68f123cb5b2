"""Stored definitions as the last run read them, kept for the next start.

At start-up pyvirtd reads, validates and fills in every stored definition, as
libvirtd does; for a domain that is about 0.6 ms, most of the time before the
first call is answered when many domains are defined.  The outcome depends
only on the file's text and on the code that reads it, so each driver keeps
it in a cache file (``var/cache/pyvirt/qemu/definitions``,
``var/cache/pyvirt/network/definitions``): by object name, a *state* holding
the file's text (``"xml"``) and what the driver needs to list the object
without reading the text again (for a domain, :meth:`DomainDef.compact_state`).

At start, a definition whose file holds exactly the cached text is taken from
its state.  Any other file (edited by hand, written by another version, new)
is read as before.  The cache belongs to the code that wrote it: its key names
the Python and lxml versions and the size and modification time of every
module of pyvirt and of lxml's ``etree``, so an upgrade or an edit of the code
discards it.  A missing, unreadable or damaged cache is ignored and
everything is read; it is never needed for correctness.

The file holds :mod:`marshal` data, like Python's own bytecode caches: it
loads in a few milliseconds.  marshal is not meant for untrusted data; only
root can write the file (its directory is 0700), as for the definitions.
"""

from __future__ import annotations

import logging
import marshal
import os
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Protocol

import pyvirt
from pyvirt.store import write_atomic

__all__ = ["DefinitionCache", "State", "code_key"]

log = logging.getLogger(__name__)

State = dict[str, str | int | bool]


class Cached(Protocol):
    """A driver's object: its persistent definition as a state, or None (transient)."""

    def cache_state(self) -> State | None: ...


# The first item of the file; a new layout of the file gets a new one.
_FORMAT = "pyvirt-definitions-1"

_code_key: str | None = None


def _stat_line(path: str) -> str:
    st = os.stat(path)
    return f"{path} {st.st_size} {st.st_mtime_ns}"


def code_key() -> str:
    """What the cached states depend on besides the files' text: the code that read them.

    The Python and lxml versions, lxml's ``etree`` module, and every ``.py``
    file of the pyvirt package (path, size and modification time).  Computed
    once per process.  Raises OSError when the package cannot be read.
    """
    global _code_key
    if _code_key is None:
        import lxml  # the package alone, for its version and place: etree loads with the first document

        parts = [sys.version, str(marshal.version), lxml.__version__]  # type: ignore[attr-defined]
        lxml_dir = os.path.dirname(lxml.__file__)  # type: ignore[type-var]
        for filename in sorted(os.listdir(lxml_dir)):
            if filename.startswith("etree.") and filename.endswith((".so", ".py")):
                parts.append(_stat_line(os.path.join(lxml_dir, filename)))
        package = os.path.dirname(pyvirt.__file__)  # type: ignore[type-var]
        for dirpath, dirnames, filenames in os.walk(package):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for filename in sorted(filenames):
                if filename.endswith(".py"):
                    parts.append(_stat_line(os.path.join(dirpath, filename)))
        _code_key = "\n".join(parts)
    return _code_key


class DefinitionCache:
    """The cache file at ``path``: load it at start, save it when the definitions changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # The states loaded, until the next save; then only the texts the file holds (a state
        # follows from its text): they are the definitions' own strings, so they cost no memory.
        self._states: dict[str, State] = {}
        self._matched = 0
        self._texts: dict[str, object] = {}

    def load(self) -> None:
        """Read the file; nothing is held when it is missing, damaged or from other code.

        Raises nothing: every problem is logged at DEBUG and means "read everything".
        """
        self._states = {}
        self._matched = 0
        self._texts = {}
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as err:
            log.debug("definition cache %s unreadable: %s", self.path, err)
            return
        try:
            fmt, key, entries = marshal.loads(data)
            if fmt != _FORMAT or key != code_key() or not isinstance(entries, dict):
                log.debug("definition cache %s is from other code; not used", self.path)
                return
        except (ValueError, TypeError, EOFError, OSError) as err:
            log.debug("definition cache %s damaged: %s", self.path, err)
            return
        self._states = entries
        self._texts = _texts(entries)

    def match(self, name: str, text: str) -> State | None:
        """The state loaded for ``name`` when it was made from ``text``, else None.

        Only between :meth:`load` and the next :meth:`save`.  Raises nothing.
        """
        state = self._states.get(name)
        if type(state) is not dict or state.get("xml") != text:
            return None
        self._matched += 1
        return state

    def save_objects(self, objects: Collection[Cached]) -> None:
        """:meth:`save` the states of a driver's ``objects``.

        Right after a start that took every object from the cache, and every
        cached state for one, nothing can have changed: the states are not
        even built.  Raises nothing.
        """
        if self._states and len(objects) == self._matched == len(self._states):
            self._states = {}
            return
        entries = {}
        for obj in objects:
            state = obj.cache_state()
            if state is not None:
                entries[str(state["name"])] = state
        self.save(entries)

    def save(self, entries: dict[str, State]) -> None:
        """Write ``entries`` (name -> state with the file's text as ``"xml"``) unless the file
        holds them already.

        Readers see the old file or the new one.  Raises nothing: a cache
        that cannot be written is logged at WARNING and only costs the next
        start its speed.
        """
        self._states = {}
        texts = _texts(entries)
        if texts == self._texts:
            return
        try:
            data = marshal.dumps((_FORMAT, code_key(), entries))
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(self.path, data, durable=False)  # a torn file fails to load, and is ignored
        except (OSError, ValueError) as err:
            log.warning("cannot write the definition cache %s: %s", self.path, err)
            return
        self._texts = texts


def _texts(entries: dict[str, State]) -> dict[str, object]:
    return {name: state.get("xml") if type(state) is dict else None for name, state in entries.items()}
