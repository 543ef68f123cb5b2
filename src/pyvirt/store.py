"""Persistent definitions and live status files, written atomically.

Layout under the daemon's ``--root`` (see DESIGN.md):

- ``etc/pyvirt/qemu/NAME.xml`` and ``etc/pyvirt/qemu/autostart/NAME.xml``
- ``etc/pyvirt/qemu/networks/NAME.xml`` and ``.../networks/autostart/NAME.xml``
- ``run/pyvirt/qemu/NAME.xml`` and ``run/pyvirt/network/NAME.xml`` (live status)

A definition on disk is either the old one or the new one, never a mix: every
write goes to a temp file in the same directory, is fsynced, then renamed over
the target.  That is libvirt's virFileRewrite: the directory is not fsynced, so
after a power failure (not a crash of the daemon) the last rename or unlink may
be undone, leaving the previous complete file.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.uuids import format_uuid, parse_uuid_bytes

log = logging.getLogger(__name__)

TEMP_PREFIX = ".pyvirt-tmp-"


def write_atomic(path: str | Path, text: str | bytes, mode: int = 0o600, *, durable: bool = True) -> None:
    """Replace ``path`` with ``text`` (str: written as UTF-8) so readers see the old or the new file.

    The data is on disk before the rename (fsync of the temp file), as libvirt's
    virFileRewrite; the directory is not fsynced (see the module docstring).
    ``durable=False`` skips the fsync, for a cache whose reader checks what it
    reads: after a power failure the file may then be empty or truncated.

    Raises:
        OSError: when the file cannot be written (disk full, permissions); the
            old file, if any, is left untouched and no temp file remains.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        fd, tmp = _create_temp(path)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = _create_temp(path)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if mode != 0o600:  # _create_temp made it 0600
                os.fchmod(fd, mode)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


_temp_serial = itertools.count()


def _create_temp(path: str | Path) -> tuple[int, str]:
    """A new 0600 temp file beside ``path``: ``(fd, its path)``.

    Named by pid and a counter rather than with tempfile's random names (the
    tempfile module is a few ms of the daemon's start-up); a name left by a
    dead process with the same pid is skipped.  Raises OSError.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    directory, base = os.path.split(path)
    while True:
        tmp = os.path.join(directory, f"{TEMP_PREFIX}{base}.{os.getpid()}.{next(_temp_serial)}")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    try:
        dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def remove(path: str | Path) -> None:
    """Remove ``path`` if it exists (an unlink, as libvirt's; the directory is not fsynced)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return


def clean_temp_files(directory: Path) -> int:
    """Delete temp files left by an interrupted write; return how many."""
    count = 0
    if not directory.is_dir():
        return 0
    for entry in directory.iterdir():
        if entry.name.startswith(TEMP_PREFIX):
            log.info("removing leftover temp file %s", entry)
            entry.unlink(missing_ok=True)
            count += 1
    return count


@functools.lru_cache(maxsize=65536)
def uuid_bytes(text: str) -> bytes:
    """The 16 raw bytes of a uuid string (the wire form), memoised."""
    return parse_uuid_bytes(text)


@functools.lru_cache(maxsize=65536)
def uuid_str(raw: bytes) -> str:
    """The uuid string of 16 raw bytes (the wire form), memoised.

    Raises:
        ValueError: ``raw`` is not 16 bytes long.
    """
    return format_uuid(raw)


class ObjectStore:
    """Where one kind of object (domains or networks) keeps its files.

    ``config_dir`` holds ``NAME.xml`` definitions, ``autostart_dir`` the
    symlinks, ``state_dir`` the live status files.  (A plain class: one is
    made at every start, before anything needs the dataclasses module.)
    """

    __slots__ = ("_autostart", "autostart_dir", "config_dir", "state_dir")

    def __init__(self, config_dir: Path, autostart_dir: Path, state_dir: Path) -> None:
        self.config_dir = config_dir
        self.autostart_dir = autostart_dir
        self.state_dir = state_dir
        # Autostart flags as last read or set: listing must not stat a link per object.
        self._autostart: dict[str, bool] = {}

    def __repr__(self) -> str:
        return f"ObjectStore(config_dir={self.config_dir!r})"

    def prepare(self) -> None:
        """Create the directories (0755 for config, 0700 for state), tidy what a crash left.

        Temp files of interrupted writes are deleted, and autostart links whose
        definition is gone (a crash between the two steps of an undefine).

        Raises:
            OSError: a directory cannot be created.
        """
        _mkdir(self.config_dir, 0o755)
        _mkdir(self.state_dir, 0o700)
        clean_temp_files(self.config_dir)
        clean_temp_files(self.state_dir)
        if self.autostart_dir.is_dir():
            for link in self.autostart_dir.iterdir():
                if link.is_symlink() and not self.config_path(link.stem).exists():
                    log.warning("removing autostart link %s: its definition is gone", link)
                    link.unlink(missing_ok=True)

    def config_path(self, name: str) -> Path:
        return self.config_dir / f"{name}.xml"

    def _file(self, directory: Path, name: str) -> str:
        # A string: building a Path per define/undefine cost more than the rest of the store's work.
        return f"{os.fspath(directory)}/{name}.xml"

    def autostart_path(self, name: str) -> Path:
        return self.autostart_dir / f"{name}.xml"

    def status_path(self, name: str) -> Path:
        return self.state_dir / f"{name}.xml"

    def configs(self) -> Iterator[tuple[str, str]]:
        """Yield ``(name, path)`` for each stored definition, by name (a name may start with a dot)."""
        yield from _xml_files(self.config_dir)

    def statuses(self) -> Iterator[tuple[str, str]]:
        """Yield ``(name, path)`` for each live status file, by name."""
        yield from _xml_files(self.state_dir)

    def save_config(self, name: str, text: str) -> None:
        """Store the definition of ``name`` atomically and durably.

        Raises:
            VirtError: VIR_ERR_SYSTEM_ERROR (libvirt's ``cannot write data to
                file``) when it cannot be written; the old definition is intact.
        """
        path = self._file(self.config_dir, name)
        try:
            write_atomic(path, text)
        except OSError as err:
            raise VirtError(
                ErrorNumber.SYSTEM_ERROR,
                ErrorDomain.NONE,
                f"cannot write data to file '{path}': {err.strerror or err}",
                int1=err.errno or -1,
            ) from err

    def delete_config(self, name: str) -> None:
        """Remove the definition of ``name`` and its autostart link.

        The definition goes first: a crash in between leaves a dangling link,
        which :meth:`prepare` removes at the next start, so the undefine is
        all or nothing (the other order could leave the definition without
        its autostart flag).

        Raises:
            OSError: the files cannot be removed.
        """
        remove(self._file(self.config_dir, name))
        self.set_autostart(name, False)

    def save_status(self, name: str, text: str) -> None:
        write_atomic(self.status_path(name), text)

    def save_live(
        self, name: str, tag: str, definition_xml: str, runtime: dict[str, Any], **attrs: str
    ) -> None:
        """Write the live status of ``name``: ``<TAG attrs>`` holding the live
        definition and a ``<runtime>`` element with the runtime record as JSON.

        Raises:
            VirtError: the file cannot be written (the old one is intact).
        """
        import json  # only running domains have live files: not loaded at daemon start

        from lxml import etree

        root = etree.Element(tag, attrib=attrs)
        root.append(etree.fromstring(definition_xml))
        etree.SubElement(root, "runtime").text = json.dumps(runtime, sort_keys=True)
        self.save_status(name, etree.tostring(root, encoding="unicode", pretty_print=True))

    @staticmethod
    def load_live(path: str | Path, definition_tag: str) -> tuple[str, dict[str, Any], dict[str, str]]:
        """Read a file written by :meth:`save_live`.

        Returns the live definition's XML, the runtime record and the root's
        attributes.

        Raises:
            OSError: the file cannot be read.
            ValueError: it is not well-formed XML (lxml's XMLSyntaxError), not
                JSON, or lacks the definition or the runtime element.
        """
        import json

        from lxml import etree

        with open(path, "rb") as f:
            data = f.read()
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        def_elem = root.find(definition_tag)
        rt_elem = root.find("runtime")
        if def_elem is None or rt_elem is None:
            raise ValueError("incomplete status file")
        runtime = json.loads(rt_elem.text or "{}")
        return etree.tostring(def_elem, encoding="unicode"), runtime, dict(root.attrib)

    def delete_status(self, name: str) -> None:
        remove(self.status_path(name))

    def autostart(self, name: str) -> bool:
        cached = self._autostart.get(name)
        if cached is None:
            cached = self._autostart[name] = os.path.lexists(self._file(self.autostart_dir, name))
        return cached

    def set_autostart(self, name: str, enabled: bool, domain: int = ErrorDomain.NONE) -> None:
        """Create or remove the autostart symlink, as libvirt does.

        Raises:
            VirtError: VIR_ERR_SYSTEM_ERROR (libvirt's ``Failed to create
                symlink``) when the link cannot be changed; ``domain`` is the
                error domain of the calling driver.
        """
        link = self._file(self.autostart_dir, name)
        known = self._autostart.pop(name, None)
        try:
            if enabled:
                if os.path.lexists(link):
                    return
                self.autostart_dir.mkdir(parents=True, exist_ok=True)
                os.symlink(self._file(self.config_dir, name), link)
                fsync_dir(self.autostart_dir)
            elif known is not False and os.path.lexists(link):  # known: no lstat needed
                os.unlink(link)
                fsync_dir(self.autostart_dir)
        except OSError as err:
            raise VirtError(
                ErrorNumber.SYSTEM_ERROR, domain, f"Failed to create symlink '{link}': {err.strerror}"
            ) from err


def _mkdir(path: Path, mode: int) -> None:
    """Create ``path`` (and parents) and make sure it has ``mode``, whatever the umask."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    if path.stat().st_mode & 0o7777 != mode:
        os.chmod(path, mode)


def read_text(path: str | Path) -> str:
    """The UTF-8 text of the file at ``path`` (as :func:`write_atomic` writes it).

    Raises OSError when it cannot be read, UnicodeDecodeError (a ValueError) when it is not UTF-8.
    """
    with open(path, encoding="utf-8") as f:
        return f.read()


def _xml_files(directory: Path) -> Iterator[tuple[str, str]]:
    # os.scandir and plain strings: at start-up this runs once per stored definition
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        name = entry.name
        # "NAME.xml" with a non-empty NAME (".xml" alone has no suffix, as for pathlib)
        if len(name) > 4 and name.endswith(".xml") and not name.startswith(TEMP_PREFIX) and entry.is_file():
            yield name[:-4], entry.path
