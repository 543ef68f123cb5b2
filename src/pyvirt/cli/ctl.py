"""The state one pyvirsh run shares with its commands (virsh's ``vshControl``)."""

from __future__ import annotations

import sys

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TextIO

    from pyvirt.cli.vsh import Command
    from pyvirt.client import Connection, Domain, Network

__all__ = ["CommandFailed", "Ctl"]

# Errors after which the connection is assumed gone (virsh's "disconnected" check).
_DISCONNECT_CODES = (ErrorNumber.RPC, ErrorNumber.NO_CONNECT, ErrorNumber.INVALID_CONN)


def looks_like_int(text: str) -> bool:
    """virsh's ID test, ``re.match(r"^\\s*[+-]?\\d+$", text)`` without importing ``re``.

    ``re`` (with the ``enum`` and ``functools`` it pulls in) would cost pyvirsh
    several milliseconds of start-up.  ``$`` also matches before one final
    newline; ``\\s`` is ``str.isspace`` and ``\\d`` is ``str.isdecimal``.
    """
    if text.endswith("\n"):
        text = text[:-1]
    text = text.lstrip()
    if text[:1] in ("+", "-"):
        text = text[1:]
    return text.isdecimal()


class CommandFailed(Exception):
    """A command failed after printing its own ``error:`` lines (no libvirt error to report)."""


class Ctl:
    """Output streams, options and the (lazily opened) connection of one pyvirsh run.

    ``connector(uri, readonly)`` opens connections; tests pass a fake.
    """

    def __init__(
        self,
        uri: str | None = None,
        readonly: bool = False,
        quiet: bool = False,
        timing: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
        connector: Callable[[str | None, bool], Connection] | None = None,
    ) -> None:
        self.uri = uri
        self.readonly = readonly
        self.quiet = quiet
        self.timing = timing
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self._connector = connector
        self._conn: Connection | None = None
        self.escape = "^]"
        self.interactive = False
        self.last_ms = 0.0
        # main() pauses the garbage collector for a one-shot run
        self.gc_paused = False

    def resume_gc(self) -> None:
        """Turn the garbage collector back on for a long-lived mode (shell, event loop, console)."""
        if self.gc_paused:
            import gc

            gc.enable()
            self.gc_paused = False

    # -- output ----------------------------------------------------------------

    def print(self, text: str) -> None:
        """vshPrint: always printed."""
        self.out.write(text)

    def extra(self, text: str) -> None:
        """vshPrintExtra: suppressed by ``-q``."""
        if not self.quiet:
            self.out.write(text)

    def error(self, message: str) -> None:
        """vshError: flush stdout, then ``error: message`` on stderr."""
        self.out.flush()
        self.err.write(f"error: {message}\n")
        self.err.flush()

    def report(self, err: VirtError) -> None:
        """vshReportError for a libvirt error."""
        self.error(err.message if err.message is not None else "Unknown error")
        if err.code in _DISCONNECT_CODES or (
            err.code == ErrorNumber.SYSTEM_ERROR and err.domain in (ErrorDomain.REMOTE, ErrorDomain.RPC)
        ):
            self.drop_connection()

    # -- connection ------------------------------------------------------------

    def _open(self, uri: str | None, readonly: bool) -> Connection:
        if self._connector is not None:
            return self._connector(uri, readonly)
        from pyvirt import client

        return client.openReadOnly(uri) if readonly else client.open(uri)

    @property
    def conn(self) -> Connection:
        """The connection, opened on first use.

        Raises :class:`VirtError` after printing "failed to connect to the hypervisor".
        """
        if self._conn is None:
            try:
                self._conn = self._open(self.uri, self.readonly)
            except VirtError:
                self.error("failed to connect to the hypervisor")
                raise
        return self._conn

    def connect(self, uri: str | None, readonly: bool) -> None:
        """(Re)connect, as the ``connect`` command does.  Raises :class:`VirtError`."""
        self.drop_connection()
        self.uri = uri if uri is not None else self.uri
        self.readonly = readonly
        _ = self.conn

    def drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except (VirtError, OSError):
                pass

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def close(self) -> None:
        self.drop_connection()

    # -- lookups (tools/virsh-util.c) -----------------------------------------

    def lookup_domain(self, cmd: Command, optname: str = "domain", by_id: bool = True) -> Domain:
        """Look a domain up like virsh: id (int >= 0), uuid (36 chars), then name.

        On failure prints only "failed to get domain 'x'" (virsh resets the
        libvirt error) and raises :class:`CommandFailed`.
        """
        name = cmd.get(optname)
        if name is None:
            raise CommandFailed
        dom = self.find_domain(name, by_id=by_id)
        if dom is None:
            self.error(f"failed to get domain '{name}'")
            raise CommandFailed
        return dom

    def find_domain(self, name: str, by_id: bool = True) -> Domain | None:
        conn = self.conn
        if by_id and looks_like_int(name):
            ident = int(name)
            if 0 <= ident <= 0x7FFFFFFF:
                try:
                    return conn.lookupByID(ident)
                except VirtError:
                    pass
        if len(name) == 36:
            try:
                return conn.lookupByUUIDString(name)
            except VirtError:
                pass
        try:
            return conn.lookupByName(name)
        except VirtError:
            return None

    def lookup_network(self, cmd: Command, optname: str = "network") -> Network:
        """Look a network up like virsh: uuid (36 chars), then name.

        Raises :class:`VirtError` (after printing "failed to get network 'x'").
        """
        name = cmd.get(optname) or ""
        conn = self.conn
        if len(name) == 36:
            try:
                return conn.networkLookupByUUIDString(name)
            except VirtError:
                pass
        try:
            return conn.networkLookupByName(name)
        except VirtError:
            self.error(f"failed to get network '{name}'")
            raise

    # -- misc ------------------------------------------------------------------

    def read_file(self, path: str) -> str:
        """Read an XML file like virFileReadAll; prints virsh's error and raises :class:`CommandFailed`."""
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                return fh.read()
        except OSError as err:
            self.error(f"Failed to open file '{path}': {err.strerror or err}")
            raise CommandFailed from err

    @staticmethod
    def is_root() -> bool:
        import os

        return hasattr(os, "geteuid") and os.geteuid() == 0

    def json(self, data: Any) -> None:
        import json

        self.print(json.dumps(data, indent=2, sort_keys=False) + "\n")
