"""Our own small asyncio QMP client for one QEMU monitor.

:class:`QemuMonitor` connects to the QMP unix socket of a running QEMU,
runs the handful of commands the driver needs, and delivers QMP events
(``SHUTDOWN``, ``STOP``, ``RESUME``, ``RESET``, ``POWERDOWN``, ...) to a
callback as they arrive.

The protocol (QEMU's ``docs/interop/qmp-spec``): QEMU greets with
``{"QMP": {...}}``, we answer ``{"execute": "qmp_capabilities"}`` and get
``{"return": {}}``; then each command carries an ``id`` that QEMU echoes in its
``return``/``error`` answer, and ``{"event": ...}`` messages may arrive at any
time in between.  Messages are JSON objects, one per line.  One reader task
per connection reads every line, resolves the waiting command by id and
hands events to the callback, so commands may be issued from several tasks
at once.  No TLS is ever involved, so nothing here imports ``ssl``.

Errors are :class:`~pyvirt.errors.VirtError` subclasses, so the driver can
let them travel to the client unchanged:

* :class:`MonitorClosedError` -- QEMU went away (socket closed, process
  dead): ``operation failed: domain is no longer running``, libvirt's words.
* :class:`MonitorCommandError` -- QEMU answered with an error:
  ``internal error: unable to execute QEMU command 'X': DESC``.
* :class:`MonitorConnectError` -- the monitor could not be reached.
* :class:`MonitorError` itself -- QEMU sent something that is not QMP (not
  JSON, not an object, a line over :data:`MAX_MESSAGE` bytes), worded as
  libvirt's monitor code does; the connection is closed.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import itertools
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError

__all__ = [
    "EventCallback",
    "MonitorClosedError",
    "MonitorCommandError",
    "MonitorConnectError",
    "MonitorError",
    "QemuMonitor",
]

log = logging.getLogger(__name__)

# on_event(name, data, timestamp_seconds)
EventCallback = Callable[[str, dict[str, Any], float], None]
EofCallback = Callable[[], None]

#: Longest message accepted from QEMU (libvirt's QEMU_MONITOR_MAX_RESPONSE).
MAX_MESSAGE = 10 * 1024 * 1024


class MonitorError(VirtError):
    """Base of the monitor's errors (all carry libvirt's numbers)."""


class MonitorClosedError(MonitorError):
    """QEMU's monitor is gone: the process exited or closed the socket."""

    def __init__(self, detail: str = "domain is no longer running") -> None:
        super().__init__(ErrorNumber.OPERATION_FAILED, ErrorDomain.QEMU, detail)


class MonitorCommandError(MonitorError):
    """QEMU answered a command with an error; ``error_class``/``desc`` are QEMU's."""

    def __init__(self, command: str, error_class: str, desc: str) -> None:
        self.command = command
        self.error_class = error_class
        self.desc = desc
        super().__init__(
            ErrorNumber.INTERNAL_ERROR,
            ErrorDomain.QEMU,
            f"unable to execute QEMU command '{command}': {desc}",
        )


class MonitorConnectError(MonitorError):
    """The monitor socket could not be reached (QEMU died or never created it)."""

    def __init__(self, detail: str) -> None:
        super().__init__(ErrorNumber.INTERNAL_ERROR, ErrorDomain.QEMU, detail)


def _protocol_error(code: int, detail: str) -> MonitorError:
    return MonitorError(code, ErrorDomain.QEMU, detail)


def _excerpt(line: bytes) -> str:
    """The start of a bad line, for an error message (the line may be megabytes of garbage)."""
    text = line[:256].decode("utf-8", "replace").rstrip("\r\n")
    return text + ("..." if len(line) > 256 else "")


async def _read_message(reader: asyncio.StreamReader) -> dict[str, Any]:
    """The next QMP message.

    Raises EOFError at end of stream, OSError when the connection broke, and
    :class:`MonitorError` for a line that is not a JSON object or is too long.
    """
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as err:
            if err.partial.strip():
                log.debug("QEMU monitor closed in the middle of a message: %s", _excerpt(err.partial))
            raise EOFError from None
        except asyncio.LimitOverrunError:
            raise _protocol_error(
                ErrorNumber.SYSTEM_ERROR,
                f"No complete monitor response found in {MAX_MESSAGE} bytes: Numerical result out of range",
            ) from None
        if not line.strip():
            continue
        try:
            # Decode ourselves: json.loads(bytes) would guess UTF-16/32 from the first bytes.
            msg = json.loads(line.decode())
        except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
            raise _protocol_error(
                ErrorNumber.INTERNAL_ERROR, f"cannot parse json {_excerpt(line)}: {err}"
            ) from None
        if not isinstance(msg, dict):
            raise _protocol_error(
                ErrorNumber.INTERNAL_ERROR, f"Parsed JSON reply '{_excerpt(line)}' isn't an object"
            )
        return msg


def _command_error(command: str, error: Any) -> MonitorCommandError:
    """The exception for QEMU's ``{"error": {"class": ..., "desc": ...}}`` answer."""
    if not isinstance(error, dict):
        error = {"desc": str(error)}
    return MonitorCommandError(command, str(error.get("class", "")), str(error.get("desc", "")))


def _encode(msg: Mapping[str, object]) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode() + b"\n"


class QemuMonitor:
    """One QMP connection to one QEMU.

    ``on_event(name, data, timestamp)`` is called (in the event loop, from
    the reader task) for every QMP event; ``on_eof()`` once when the
    connection ends without :meth:`close` having been called (QEMU closed it,
    or sent something that is not QMP).  Both run synchronously and must not
    block.
    """

    def __init__(
        self,
        path: str,
        *,
        name: str = "qemu",
        on_event: EventCallback | None = None,
        on_eof: EofCallback | None = None,
    ) -> None:
        self.path = path
        self.name = name
        self._on_event = on_event
        self._on_eof = on_eof
        self._writer: asyncio.StreamWriter | None = None
        self._sock: socket.socket | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._up = False
        self._closing = False
        # Why the last session ended, when it was a protocol error (libvirt's lastError):
        # commands then fail with it rather than with "no longer running".
        self._failure: MonitorError | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------
    # connection

    @property
    def connected(self) -> bool:
        """True while the QMP session is up."""
        return self._up

    async def connect(
        self,
        *,
        timeout: float = 30.0,
        alive: Callable[[], bool] | None = None,
        interval: float = 0.05,
    ) -> None:
        """Connect and negotiate, retrying until the socket answers.

        Retries while the socket does not exist, refuses connections, or
        closes before the negotiation is done, for up to ``timeout`` seconds,
        and gives up early once ``alive()`` (if given) returns False -- QEMU
        died.

        Raises :class:`MonitorConnectError` on timeout, when QEMU is dead, or
        when the monitor is already connected.
        """
        if self._up:
            raise MonitorConnectError(f"already connected to the monitor at {self.path}")
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while True:
            if alive is not None and not alive():
                raise MonitorConnectError(f"QEMU exited before its monitor at {self.path} answered")
            if os.path.exists(self.path):
                try:
                    remaining = max(0.1, deadline - time.monotonic())
                    reader, writer, sock = await asyncio.wait_for(self._open(), remaining)
                    break
                except (TimeoutError, OSError, EOFError, MonitorError) as err:
                    last = err
            if time.monotonic() >= deadline:
                raise MonitorConnectError(
                    f"monitor socket did not show up: {self.path}: {last or 'timed out'}"
                ) from last
            await asyncio.sleep(interval)
        self._writer, self._sock = writer, sock
        self._up, self._closing, self._failure = True, False, None
        self._reader_task = asyncio.get_running_loop().create_task(
            self._read_loop(reader), name=f"qmp-reader-{self.name}"
        )
        log.debug("connected to QEMU monitor %s", self.path)

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, socket.socket]:
        """One attempt: connect, read the greeting, negotiate capabilities.

        Raises OSError, EOFError or :class:`MonitorError` (the connection is closed then).
        """
        # Our own socket object, not the transport's wrapper: getfd needs its sendmsg().
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, self.path)
            reader, writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_MESSAGE)
        except BaseException:
            sock.close()
            raise
        try:
            greeting = await _read_message(reader)
            if "QMP" not in greeting:
                raise _protocol_error(
                    ErrorNumber.INTERNAL_ERROR, f"unexpected QMP greeting: {json.dumps(greeting)[:256]}"
                )
            writer.write(_encode({"execute": "qmp_capabilities", "id": "pyvirt-caps"}))
            while True:
                msg = await _read_message(reader)
                if "event" in msg:
                    self._deliver_event(msg)
                elif "return" in msg:
                    return reader, writer, sock
                elif "error" in msg:
                    raise _command_error("qmp_capabilities", msg["error"])
        except BaseException:
            writer.close()  # also on cancellation (connect's timeout)
            raise

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        """Read until the session ends; then fail waiting commands and report EOF."""
        failure: MonitorError | None = None
        try:
            while True:
                self._dispatch(await _read_message(reader))
        except (EOFError, OSError):
            log.debug("QEMU monitor %s closed", self.path)
        except MonitorError as err:
            log.warning("QEMU monitor %s: %s; closing it", self.path, err.message)
            failure = err
        except Exception as err:  # a bug here must still end the session cleanly
            log.exception("QEMU monitor %s: reader failed", self.path)
            failure = _protocol_error(ErrorNumber.INTERNAL_ERROR, f"QEMU monitor reader failed: {err}")
        finally:  # also when close() cancels us
            self._teardown(failure)
        # No await from here on: close() may cancel this task, and cancelling it while it
        # awaited writer.wait_closed() would cancel the stream's shared close future.
        if not self._closing and self._on_eof is not None:
            try:
                self._on_eof()
            except Exception:
                log.exception("monitor EOF callback failed")

    def _teardown(self, failure: MonitorError | None = None) -> None:
        """Mark the session down, close the socket, fail every waiting command (idempotent)."""
        if self._up and failure is not None:
            self._failure = failure
        self._up = False
        if self._writer is not None:
            self._writer.close()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(self._down_error())
        self._pending.clear()

    def _down_error(self) -> MonitorError:
        """A fresh error for a command that cannot run (each waiter raises its own instance)."""
        if self._failure is not None:
            return MonitorError(self._failure.code, self._failure.domain, self._failure.detail)
        return MonitorClosedError()

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if "event" in msg:
            self._deliver_event(msg)
            return
        msg_id = msg.get("id")
        fut = self._pending.get(msg_id) if isinstance(msg_id, str) else None
        if fut is not None:
            if not fut.done():
                fut.set_result(msg)
        elif "return" in msg or "error" in msg:
            # The answer to a command whose caller gave up (timeout, cancellation).
            log.debug("QEMU monitor %s: answer to no waiting command: %s", self.path, msg_id)
        else:
            log.warning("QEMU monitor %s: unexpected message ignored: %s", self.path, str(msg)[:256])

    def _deliver_event(self, msg: dict[str, Any]) -> None:
        name = str(msg.get("event", ""))
        data = msg.get("data")
        ts: Any = msg.get("timestamp")
        try:
            when = float(ts["seconds"]) + float(ts.get("microseconds", 0)) / 1e6
        except (LookupError, TypeError, ValueError, AttributeError, OverflowError):
            when = time.time()
        if self._on_event is None:
            return
        try:
            self._on_event(name, dict(data) if isinstance(data, dict) else {}, when)
        except Exception:  # a buggy callback must not kill the reader task
            log.exception("QMP event callback failed for %s", name)

    async def close(self) -> None:
        """Disconnect (idempotent, never raises); waiting commands fail with MonitorClosedError."""
        self._closing, self._failure = True, None  # after close(), commands just see a closed monitor
        self._teardown()  # before any await: the session is down once close() is called
        task, self._reader_task = self._reader_task, None
        writer, self._writer, self._sock = self._writer, None, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait({task})  # unlike awaiting the task, lets our own cancellation through
        if writer is not None:
            # shield: a cancelled close() must not cancel the stream's own close future.
            with contextlib.suppress(Exception):
                await asyncio.shield(writer.wait_closed())

    # ------------------------------------------------------------------
    # commands

    async def execute(
        self, command: str, arguments: Mapping[str, object] | None = None, *, timeout: float | None = 60.0
    ) -> Any:
        """Run one QMP command and return its ``return`` value.

        Raises :class:`MonitorCommandError` when QEMU answers with an error,
        :class:`MonitorClosedError` when the connection is (or goes) down,
        :class:`MonitorError` after QEMU sent garbage, and a VirtError
        OPERATION_TIMEOUT when no answer came within ``timeout`` seconds.
        """
        return await self._execute(command, arguments, timeout)

    async def _execute(
        self, command: str, arguments: Mapping[str, object] | None, timeout: float | None, fd: int = -1
    ) -> Any:
        if not self._up or self._writer is None:
            raise self._down_error()
        cmd_id = f"pyvirt-{next(self._ids)}"
        msg: dict[str, object] = {"execute": command, "id": cmd_id}
        if arguments is not None:
            msg["arguments"] = dict(arguments)
        data = _encode(msg)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[cmd_id] = fut
        try:
            async with asyncio.timeout(timeout):
                if fd >= 0:
                    await self._send_with_fd(data, fd)
                else:
                    self._writer.write(data)
                reply = await fut
        except TimeoutError as err:
            raise VirtError(
                ErrorNumber.OPERATION_TIMEOUT, ErrorDomain.QEMU, f"QEMU command '{command}' timed out"
            ) from err
        finally:
            self._pending.pop(cmd_id, None)
        if "error" in reply:
            raise _command_error(command, reply["error"])
        return reply.get("return")

    async def _send_with_fd(self, data: bytes, fd: int) -> None:
        """Send ``data`` with ``fd`` attached (SCM_RIGHTS) in one sendmsg on the socket.

        Raises :class:`MonitorClosedError` when the connection is down or the send fails.
        """
        fds = array.array("i", [fd]).tobytes()
        while True:
            if not self._up or self._writer is None or self._sock is None:
                raise self._down_error()
            # Bytes still queued in the transport must go first, or this command would overtake them.
            if not self._writer.transport.get_write_buffer_size():
                try:
                    sent = self._sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
                    break
                except BlockingIOError:
                    pass  # the socket buffer is full: QEMU is not reading yet
                except OSError as err:
                    raise MonitorClosedError() from err
            await asyncio.sleep(0.01)
        if sent < len(data):  # the fd went with the first bytes; the transport sends the rest
            self._writer.write(data[sent:])

    async def cont(self) -> None:
        """Start (or resume) the vCPUs."""
        await self.execute("cont")

    async def stop(self) -> None:
        """Pause the vCPUs."""
        await self.execute("stop")

    async def system_powerdown(self) -> None:
        """Press the ACPI power button (the guest decides what to do)."""
        await self.execute("system_powerdown")

    async def system_reset(self) -> None:
        """Hard-reset the guest."""
        await self.execute("system_reset")

    async def quit(self) -> None:
        """Ask QEMU to exit; a connection dropped by the exit counts as success."""
        with contextlib.suppress(MonitorClosedError):
            await self.execute("quit")

    async def query_status(self) -> tuple[str, bool]:
        """``(status, running)``, e.g. ``("running", True)``, ``("paused", False)``,
        ``("shutdown", False)`` (guest powered off, QEMU kept alive by -no-shutdown).
        """
        reply = await self.execute("query-status")
        return str(reply.get("status", "")), bool(reply.get("running", False))

    async def query_chardev(self) -> dict[str, str]:
        """Map chardev label (``charserial0``) to QEMU's filename (``pty:/dev/pts/3``)."""
        reply = await self.execute("query-chardev")
        return {str(c["label"]): str(c.get("filename", "")) for c in reply}

    async def pty_paths(self) -> dict[str, str]:
        """Map a device alias (``serial0``) to its pty path (``/dev/pts/3``)."""
        out: dict[str, str] = {}
        for label, filename in (await self.query_chardev()).items():
            if filename.startswith("pty:"):
                alias = label[4:] if label.startswith("char") else label
                out[alias] = filename[4:]
        return out

    async def query_balloon(self) -> int | None:
        """Current guest memory in bytes from the balloon, or None without a balloon."""
        try:
            reply = await self.execute("query-balloon")
        except MonitorCommandError:
            return None
        return int(reply["actual"])

    # hotplug ------------------------------------------------------------

    async def device_add(self, props: Mapping[str, object]) -> None:
        """``device_add`` with the same properties as a JSON ``-device``."""
        await self.execute("device_add", props)

    async def device_del(self, dev_id: str) -> None:
        """Request unplug; completion is the DEVICE_DELETED event."""
        await self.execute("device_del", {"id": dev_id})

    async def netdev_add(self, props: Mapping[str, object]) -> None:
        """``netdev_add`` with the same properties as a JSON ``-netdev``."""
        await self.execute("netdev_add", props)

    async def netdev_del(self, netdev_id: str) -> None:
        await self.execute("netdev_del", {"id": netdev_id})

    async def blockdev_add(self, props: Mapping[str, object]) -> None:
        """``blockdev-add`` with the same properties as a JSON ``-blockdev``."""
        await self.execute("blockdev-add", props)

    async def blockdev_del(self, node_name: str) -> None:
        await self.execute("blockdev-del", {"node-name": node_name})

    async def getfd(self, fd: int, fdname: str) -> None:
        """Pass ``fd`` to QEMU under ``fdname`` (for a hotplugged tap: netdev ``fd=fdname``).

        The fd travels with the ``getfd`` command's own bytes (one sendmsg with
        SCM_RIGHTS).  The caller keeps (and later closes) its own copy of ``fd``.

        Raises as :meth:`execute`; :class:`MonitorClosedError` also when the send fails.
        """
        await self._execute("getfd", {"fdname": fdname}, 60.0, fd)

    async def closefd(self, fdname: str) -> None:
        await self.execute("closefd", {"fdname": fdname})
