"""The stored domain definitions as the last run parsed them, kept for the next start.

At start-up pyvirtd parses, validates and fills in every stored definition, as
libvirtd does; that is about 0.6 ms a definition, most of the time before the
first call is answered when many domains are defined.  The outcome depends
only on the file's text and on the code that reads it, so pyvirtd keeps it:
``var/cache/pyvirt/qemu/definitions`` maps each stored domain's name to the
state of its compact definition (:meth:`DomainDef.compact_state`: the text, as
written to the file, and the few fields listings read).

At start, a definition whose file holds exactly the cached text is rebuilt
from that state instead of being parsed again.  Any other file (edited by
hand, written by another version, new) is parsed as before.  The cache
belongs to the code that wrote it: its key names the Python version and the
size and modification time of every module of pyvirt and of lxml's ``etree``,
so an upgrade or an edit of the code discards it.  A missing, unreadable or
damaged cache is ignored, and everything is parsed; it is never needed for
correctness.

The file holds :mod:`marshal` data, like Python's own bytecode caches: it
loads in a few milliseconds.  marshal is not meant for untrusted data; only
root can write the file (its directory is 0700), as for the definitions.
"""

from __future__ import annotations

import logging
import marshal
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

import pyvirt
from pyvirt.store import write_atomic

if TYPE_CHECKING:
    from pyvirt.conf.domain import DomainDef

__all__ = ["DefinitionCache", "State", "code_key"]

log = logging.getLogger(__name__)

State = dict[str, str | int | bool]

# The first item of the file; a new layout of the file gets a new one.
_FORMAT = "pyvirt-definitions-1"

_code_key: str | None = None


def code_key() -> str:
    """What the cached states depend on besides the files' text: the code that parsed them.

    The Python version, lxml's version and ``etree`` module, and the path,
    size and modification time of every ``.py`` file of the pyvirt package.
    Computed once per process.  Raises OSError when the package cannot be read.
    """
    global _code_key
    if _code_key is None:
        parts = [sys.version, str(marshal.version), etree.__version__]
        st = os.stat(etree.__file__)  # type: ignore[arg-type]  # a compiled module has a file
        parts.append(f"{etree.__file__} {st.st_size} {st.st_mtime_ns}")
        package = os.path.dirname(pyvirt.__file__)  # type: ignore[type-var]
        for dirpath, dirnames, filenames in os.walk(package):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for filename in sorted(filenames):
                if filename.endswith(".py"):
                    path = os.path.join(dirpath, filename)
                    st = os.stat(path)
                    parts.append(f"{path} {st.st_size} {st.st_mtime_ns}")
        _code_key = "\n".join(parts)
    return _code_key


class DefinitionCache:
    """The cache file at ``path``: load it at start, save it when the definitions changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # What the file holds, as last loaded or saved.
        self._held: dict[str, State] = {}

    def load(self) -> dict[str, State]:
        """The cached states by domain name; empty when the file is missing, damaged or stale.

        Raises nothing: every problem is logged at DEBUG and means "parse everything".
        """
        self._held = {}
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as err:
            log.debug("definition cache %s unreadable: %s", self.path, err)
            return {}
        try:
            fmt, key, entries = marshal.loads(data)
            if fmt != _FORMAT or key != code_key() or not isinstance(entries, dict):
                log.debug("definition cache %s is from other code; not used", self.path)
                return {}
        except (ValueError, TypeError, EOFError, OSError) as err:
            log.debug("definition cache %s damaged: %s", self.path, err)
            return {}
        self._held = entries
        return entries

    @staticmethod
    def lookup(state: State | None, text: str) -> DomainDef | None:
        """The definition ``state`` describes when it was parsed from ``text``, else None.

        Raises nothing (a state of the wrong shape is a miss).
        """
        if type(state) is not dict or state.get("xml") != text:
            return None
        from pyvirt.conf.domain import DomainDef

        try:
            return DomainDef.from_compact_state(state)
        except ValueError as err:
            log.debug("definition cache entry not used: %s", err)
            return None

    def save(self, entries: dict[str, State]) -> None:
        """Write ``entries`` (name -> :meth:`DomainDef.compact_state`) unless the file holds them already.

        Readers see the old file or the new one.  Raises nothing: a cache
        that cannot be written is logged at WARNING and only costs the next
        start its speed.
        """
        if entries == self._held:
            return
        try:
            data = marshal.dumps((_FORMAT, code_key(), entries))
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(self.path, data)
        except (OSError, ValueError) as err:
            log.warning("cannot write the definition cache %s: %s", self.path, err)
            return
        self._held = entries
