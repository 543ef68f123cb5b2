"""A thin asyncio wrapper over ``qemu.qmp.QMPClient`` for one QEMU monitor.

:class:`QemuMonitor` connects to the QMP unix socket of a running QEMU,
runs the handful of commands the driver needs, and delivers QMP events
(``SHUTDOWN``, ``STOP``, ``RESUME``, ``RESET``, ``POWERDOWN``, ...) to a
callback as they arrive.

Errors are :class:`~pyvirt.errors.VirtError` subclasses, so the driver can
let them travel to the client unchanged:

* :class:`MonitorClosedError` -- QEMU went away (socket closed, process
  dead): ``operation failed: domain is no longer running``, libvirt's words.
* :class:`MonitorCommandError` -- QEMU answered with an error:
  ``internal error: unable to execute QEMU command 'X': DESC``.
* :class:`MonitorConnectError` -- the monitor could not be reached.

``qemu.qmp`` (and the ``ssl`` module it pulls in) is imported when the first
monitor is created, not with this module, so an idle daemon does not carry it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError

if TYPE_CHECKING:
    from qemu.qmp import EventListener, Message, QMPClient

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


@functools.cache
def _callback_listener_class() -> Callable[[EventCallback], EventListener]:
    """The listener class, defined on first use (its base class lives in ``qemu.qmp``)."""
    from qemu.qmp import EventListener

    class _CallbackListener(EventListener):
        """An EventListener that hands each event to a callback instead of queueing it."""

        def __init__(self, callback: EventCallback) -> None:
            super().__init__()
            self._callback = callback

        async def put(self, event: Message) -> None:
            ts: Any = event.get("timestamp") or {}
            try:
                when = float(ts.get("seconds", 0)) + float(ts.get("microseconds", 0)) / 1e6
            except (TypeError, ValueError, AttributeError):
                when = time.time()
            name = str(event.get("event", ""))
            data: Any = event.get("data") or {}
            try:
                self._callback(name, dict(data), when)
            except Exception:  # a buggy callback must not kill the reader task
                log.exception("QMP event callback failed for %s", name)

    return _CallbackListener


class QemuMonitor:
    """One QMP connection to one QEMU.

    ``on_event(name, data, timestamp)`` is called (in the event loop, from
    the reader task) for every QMP event; ``on_eof()`` once when the
    connection ends without :meth:`close` having been called.  Both run
    synchronously and must not block.
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
        from qemu.qmp import QMPClient

        self._client: QMPClient = QMPClient(name)
        # The default listener would keep every event in memory forever.
        self._client.events.event_filter = lambda _event: False
        if on_event is not None:
            self._client.register_listener(_callback_listener_class()(on_event))
        self._closing = False
        self._eof_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------
    # connection

    @property
    def connected(self) -> bool:
        """True while the QMP session is up."""
        from qemu.qmp import Runstate

        return self._client.runstate == Runstate.RUNNING

    async def connect(
        self,
        *,
        timeout: float = 30.0,
        alive: Callable[[], bool] | None = None,
        interval: float = 0.05,
    ) -> None:
        """Connect and negotiate, retrying until the socket answers.

        Retries while the socket does not exist or refuses connections, for
        up to ``timeout`` seconds, and gives up early once ``alive()`` (if
        given) returns False -- QEMU died.

        Raises :class:`MonitorConnectError` on timeout or when QEMU is dead.
        """
        from qemu.qmp import ConnectError

        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while True:
            if alive is not None and not alive():
                raise MonitorConnectError(f"QEMU exited before its monitor at {self.path} answered")
            if os.path.exists(self.path):
                try:
                    remaining = max(0.1, deadline - time.monotonic())
                    await asyncio.wait_for(self._client.connect(self.path), remaining)
                    break
                except (TimeoutError, ConnectError, OSError) as err:
                    last = err
                    await self._reset_client()
            if time.monotonic() >= deadline:
                raise MonitorConnectError(
                    f"monitor socket did not show up: {self.path}: {last or 'timed out'}"
                ) from last
            await asyncio.sleep(interval)
        self._closing = False
        self._eof_task = asyncio.get_running_loop().create_task(
            self._watch_eof(), name=f"qmp-eof-{self.name}"
        )
        log.debug("connected to QEMU monitor %s", self.path)

    async def _reset_client(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.disconnect()

    async def _watch_eof(self) -> None:
        """Report once when the session ends (QEMU closed the socket or died)."""
        from qemu.qmp import Runstate

        try:
            while self._client.runstate == Runstate.RUNNING:
                await self._client.runstate_changed()
        except asyncio.CancelledError:
            return
        if self._closing:
            return
        log.debug("QEMU monitor %s closed", self.path)
        # Finish the disconnect so the client's tasks end; errors are the EOF itself.
        with contextlib.suppress(Exception):
            await self._client.disconnect()
        if self._on_eof is not None:
            try:
                self._on_eof()
            except Exception:
                log.exception("monitor EOF callback failed")

    async def close(self) -> None:
        """Disconnect (idempotent, never raises)."""
        self._closing = True
        task, self._eof_task = self._eof_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self._client.disconnect()

    # ------------------------------------------------------------------
    # commands

    async def execute(
        self, command: str, arguments: Mapping[str, object] | None = None, *, timeout: float | None = 60.0
    ) -> Any:
        """Run one QMP command and return its ``return`` value.

        Raises :class:`MonitorCommandError` when QEMU answers with an error,
        :class:`MonitorClosedError` when the connection is (or goes) down.
        """
        from qemu.qmp import ExecInterruptedError, ExecuteError, QMPError, Runstate, StateError

        if self._client.runstate != Runstate.RUNNING:
            raise MonitorClosedError()
        try:
            return await asyncio.wait_for(self._client.execute(command, arguments), timeout)
        except ExecuteError as err:
            raise MonitorCommandError(command, err.error_class, str(err)) from err
        except (ExecInterruptedError, StateError, EOFError, ConnectionError) as err:
            raise MonitorClosedError() from err
        except TimeoutError as err:
            raise VirtError(
                ErrorNumber.OPERATION_TIMEOUT, ErrorDomain.QEMU, f"QEMU command '{command}' timed out"
            ) from err
        except QMPError as err:
            raise MonitorClosedError() from err

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

        The caller keeps (and later closes) its own copy of ``fd``.
        """
        from qemu.qmp import Runstate, StateError

        if self._client.runstate != Runstate.RUNNING:
            raise MonitorClosedError()
        try:
            self._client.send_fd_scm(fd)
        except (OSError, StateError) as err:
            raise MonitorClosedError() from err
        await self.execute("getfd", {"fdname": fdname})

    async def closefd(self, fdname: str) -> None:
        await self.execute("closefd", {"fdname": fdname})
