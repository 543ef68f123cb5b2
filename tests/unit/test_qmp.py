"""QemuMonitor's own QMP client against a fake QEMU on a unix socket.

The fake server is plain asyncio on a raw socket (recvmsg, so it can receive
the fd that getfd passes); each test scripts what "QEMU" says.
"""

from __future__ import annotations

import array
import asyncio
import json
import os
import socket
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.qemu.monitor import (
    MAX_MESSAGE,
    MonitorClosedError,
    MonitorCommandError,
    MonitorConnectError,
    MonitorError,
    QemuMonitor,
)

GREETING = {
    "QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}
}
CLOSED = "operation failed: domain is no longer running"


class FakeConn:
    """One accepted client connection, seen from "QEMU"."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.lines: list[bytes] = []
        # (fd, the bytes that arrived in the same recvmsg as the fd)
        self.fds: list[tuple[int, bytes]] = []

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        loop.add_reader(self.sock.fileno(), ready)
        try:
            await fut
        finally:
            loop.remove_reader(self.sock.fileno())

    async def recv(self) -> dict[str, Any] | None:
        """The next message from the client, None at EOF."""
        while b"\n" not in self.buf:
            try:
                data, ancdata, _flags, _addr = self.sock.recvmsg(65536, socket.CMSG_SPACE(4 * 4))
            except BlockingIOError:
                await self._readable()
                continue
            except ConnectionError:
                return None
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds = array.array("i")
                    fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
                    self.fds.extend((fd, data) for fd in fds)
            if not data:
                return None
            self.buf += data
        line, _, rest = bytes(self.buf).partition(b"\n")
        self.buf = bytearray(rest)
        self.lines.append(line)
        msg = json.loads(line)
        assert isinstance(msg, dict)
        return msg

    async def send_raw(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def send(self, msg: dict[str, Any]) -> None:
        await self.send_raw(json.dumps(msg).encode() + b"\r\n")  # QEMU ends lines with \r\n

    async def reply(self, cmd: dict[str, Any], value: Any = None) -> None:
        await self.send({"return": {} if value is None else value, "id": cmd["id"]})

    async def event(self, name: str, data: dict[str, Any], seconds: int = 1700000000, us: int = 0) -> None:
        await self.send({"event": name, "data": data, "timestamp": {"seconds": seconds, "microseconds": us}})

    async def negotiate(self) -> None:
        await self.send(GREETING)
        msg = await self.recv()
        assert msg is not None and msg["execute"] == "qmp_capabilities", msg
        assert "arguments" not in msg
        await self.send({"return": {}, "id": msg["id"]} if "id" in msg else {"return": {}})

    async def expect(self, command: str) -> dict[str, Any]:
        msg = await self.recv()
        assert msg is not None and msg["execute"] == command, msg
        assert isinstance(msg["id"], str)
        return msg

    def close(self) -> None:
        self.sock.close()


Script = Callable[[FakeConn], Awaitable[None]]


class FakeQemu:
    """A listening QMP socket; each connection runs ``script`` (after which it is closed)."""

    def __init__(self, path: str, script: Script) -> None:
        self.path = path
        self.script = script
        self.conns: list[FakeConn] = []
        self.errors: list[BaseException] = []
        self.done = asyncio.Event()
        self._listener: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> FakeQemu:
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(8)
        self._listener.setblocking(False)
        self._tasks.add(asyncio.get_running_loop().create_task(self._accept()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        assert self._listener is not None
        self._listener.close()
        for conn in self.conns:
            conn.close()
            for fd, _ in conn.fds:
                os.close(fd)
        if self.errors and exc[0] is None:
            raise self.errors[0]

    async def _accept(self) -> None:
        assert self._listener is not None
        loop = asyncio.get_running_loop()
        while True:
            sock, _ = await loop.sock_accept(self._listener)
            sock.setblocking(False)
            conn = FakeConn(sock)
            self.conns.append(conn)
            self._tasks.add(loop.create_task(self._run(conn)))

    async def _run(self, conn: FakeConn) -> None:
        try:
            await self.script(conn)
        except (asyncio.CancelledError, BrokenPipeError, ConnectionResetError):
            pass
        except BaseException as err:  # surfaced by __aexit__
            self.errors.append(err)
        finally:
            conn.close()
            self.done.set()


@pytest.fixture
def sock_path() -> Iterator[str]:
    # A short directory: pytest's tmp_path can exceed a unix socket's 108 bytes.
    with tempfile.TemporaryDirectory(prefix="qmp-") as d:
        yield str(Path(d) / "qmp.sock")


def run(coro: Awaitable[None]) -> None:
    async def main() -> None:
        await asyncio.wait_for(coro, 30)

    asyncio.run(main())


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], float]] = []
        self.eofs = 0

    def on_event(self, name: str, data: dict[str, Any], ts: float) -> None:
        self.events.append((name, data, ts))

    def on_eof(self) -> None:
        self.eofs += 1

    def monitor(self, path: str) -> QemuMonitor:
        return QemuMonitor(path, name="t", on_event=self.on_event, on_eof=self.on_eof)


async def hold(conn: FakeConn) -> None:
    """Keep the connection open until the client closes it."""
    while await conn.recv() is not None:
        pass


# --------------------------------------------------------------------------


def test_negotiation_then_commands(sock_path: str) -> None:
    async def script(conn: FakeConn) -> None:
        await conn.negotiate()
        cmd = await conn.expect("query-status")
        assert "arguments" not in cmd
        await conn.reply(cmd, {"status": "running", "singlestep": False, "running": True})
        cmd = await conn.expect("device_del")
        assert cmd["arguments"] == {"id": "net1"}
        await conn.reply(cmd)
        cmd = await conn.expect("query-chardev")
        await conn.reply(
            cmd,
            [
                {"frontend-open": True, "filename": "pty:/dev/pts/7", "label": "charserial0"},
                {"frontend-open": True, "filename": "disconnected:unix:/x,server=on", "label": "charmonitor"},
            ],
        )
        await hold(conn)

    async def main() -> None:
        rec = Recorder()
        async with FakeQemu(sock_path, script) as fake:
            mon = rec.monitor(sock_path)
            assert not mon.connected
            await mon.connect(timeout=5)
            assert mon.connected
            assert await mon.query_status() == ("running", True)
            await mon.device_del("net1")
            assert await mon.pty_paths() == {"serial0": "/dev/pts/7"}
            await mon.close()
            assert not mon.connected
            await mon.close()  # idempotent
            with pytest.raises(MonitorClosedError):
                await mon.cont()
            ids = [json.loads(line)["id"] for line in fake.conns[0].lines]
            assert len(set(ids)) == len(ids)
        assert rec.eofs == 0  # close() is not an EOF

    run(main())


def test_error_answer_raises_command_error(sock_path: str) -> None:
    async def script(conn: FakeConn) -> None:
        await conn.negotiate()
        cmd = await conn.expect("device_del")
        await conn.send(
            {"error": {"class": "DeviceNotFound", "desc": "Device 'nope' not found"}, "id": cmd["id"]}
        )
        cmd = await conn.expect("query-balloon")
        await conn.send({"error": {"class": "DeviceNotActive", "desc": "No balloon device"}, "id": cmd["id"]})
        await hold(conn)

    async def main() -> None:
        async with FakeQemu(sock_path, script):
            mon = QemuMonitor(sock_path)
            await mon.connect(timeout=5)
            with pytest.raises(MonitorCommandError) as exc:
                await mon.device_del("nope")
            err = exc.value
            assert (
                err.message
                == "internal error: unable to execute QEMU command 'device_del': Device 'nope' not found"
            )
            assert (err.code, err.domain) == (ErrorNumber.INTERNAL_ERROR, ErrorDomain.QEMU)
            assert (err.command, err.error_class, err.desc) == (
                "device_del",
                "DeviceNotFound",
                "Device 'nope' not found",
            )
            assert await mon.query_balloon() is None
            assert mon.connected
            await mon.close()

    run(main())


def test_events_arrive_in_order_while_a_command_waits(sock_path: str) -> None:
    seen_at_return: list[int] = []

    async def script(conn: FakeConn) -> None:
        await conn.negotiate()
        cmd = await conn.expect("system_powerdown")
        await conn.event("POWERDOWN", {})
        await conn.event("STOP", {}, 1700000001, 250000)
        await conn.event("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"}, 1700000002, 500000)
        await conn.reply(cmd)
        await conn.event("RESET", {"guest": False})
        await hold(conn)

    async def main() -> None:
        rec = Recorder()
        async with FakeQemu(sock_path, script):
            mon = rec.monitor(sock_path)
            await mon.connect(timeout=5)
            await mon.system_powerdown()
            seen_at_return.append(len(rec.events))
            while len(rec.events) < 4:
                await asyncio.sleep(0.01)
            await mon.close()
        assert [e[0] for e in rec.events] == ["POWERDOWN", "STOP", "SHUTDOWN", "RESET"]
        assert rec.events[2] == ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"}, 1700000002.5)
        assert rec.events[1][2] == 1700000001.25

    run(main())
    assert seen_at_return[0] >= 3  # the events before the answer were delivered before it


def test_concurrent_commands_answered_out_of_order(sock_path: str) -> None:
    async def script(conn: FakeConn) -> None:
        await conn.negotiate()
        cmds = [await conn.recv() for _ in range(5)]
        for cmd in reversed(cmds):
            assert cmd is not None
            await conn.event("TICK", {"for": cmd["execute"]})
            await conn.reply(cmd, {"echo": cmd["execute"], "args": cmd.get("arguments")})
        await hold(conn)

    async def main() -> None:
        rec = Recorder()
        async with FakeQemu(sock_path, script):
            mon = rec.monitor(sock_path)
            await mon.connect(timeout=5)
            names = [f"cmd-{i}" for i in range(5)]
            results = await asyncio.gather(*(mon.execute(n, {"n": i}) for i, n in enumerate(names)))
            assert results == [{"echo": n, "args": {"n": i}} for i, n in enumerate(names)]
            assert [e[1]["for"] for e in rec.events] == list(reversed(names))
            await mon.close()

    run(main())


def test_eof_during_a_command(sock_path: str) -> None:
    async def script(conn: FakeConn) -> None:
        await conn.negotiate()
        await conn.expect("query-status")
        await conn.send_raw(b'{"event": "STOP", "timest')  # QEMU dies mid-message

    async def main() -> None:
        rec = Recorder()
        async with FakeQemu(sock_path, script):
            mon = rec.monitor(sock_path)
            await mon.connect(timeout=5)
            with pytest.raises(MonitorClosedError) as exc:
                await mon.query_status()
            assert exc.value.message == CLOSED
            assert exc.value.code == ErrorNumber.OPERATION_FAILED
            assert not mon.connected
            for _ in range(50):
                await asyncio.sleep(0.01)
            assert rec.eofs == 1
            with pytest.raises(MonitorClosedError) as exc:
                await mon.cont()
            assert exc.value.message == CLOSED
            await mon.close()
            assert rec.eofs == 1

    run(main())


def test_eof_while_idle_calls_on_eof_once(sock_path: str) -> None:
    async def script(conn: FakeConn) -> None:
        await conn.negotiate()
        await conn.event("SHUTDOWN", {"guest": False})

    async def main() -> None:
        rec = Recorder()
        async with FakeQemu(sock_path, script):
            mon = rec.monitor(sock_path)
            await mon.connect(timeout=5)
            while rec.eofs == 0:
                await asyncio.sleep(0.01)
            assert not mon.connected
            await asyncio.sleep(0.1)
            await mon.close()
        assert rec.eofs == 1
        assert [e[0] for e in rec.events] == ["SHUTDOWN"]

    run(main())


@pytest.mark.parametrize("answer_first", [False, True])
def test_quit_with_eof_as_answer(sock_path: str, answer_first: bool) -> None:
    async def script(conn: FakeConn) -> None:
        await conn.negotiate()
        cmd = await conn.expect("quit")
        if answer_first:
            await conn.reply(cmd)
        # and QEMU exits: the connection closes

    async def main() -> None:
        rec = Recorder()
        async with FakeQemu(sock_path, script):
            mon = rec.monitor(sock_path)
            await mon.connect(timeout=5)
            await mon.quit()
            while rec.eofs == 0:
                await asyncio.sleep(0.01)
            await mon.quit()  # already gone: still fine
            await mon.close()
        assert rec.eofs == 1

    run(main())


def test_close_fails_waiting_commands(sock_path: str) -> None:
    async def main() -> None:
        rec = Recorder()
        async with FakeQemu(sock_path, lambda c: _negotiate_and_hold(c)):
            mon = rec.monitor(sock_path)
            await mon.connect(timeout=5)
            waiting = [asyncio.ensure_future(mon.execute("query-status")) for _ in range(3)]
            await asyncio.sleep(0.05)
            await mon.close()
            for task in waiting:
                with pytest.raises(MonitorClosedError):
                    await task
            await asyncio.sleep(0.05)
        assert rec.eofs == 0

    run(main())


async def _negotiate_and_hold(conn: FakeConn) -> None:
    await conn.negotiate()
    await hold(conn)


def test_command_timeout_then_late_answer_is_ignored(sock_path: str) -> None:
    async def script(conn: FakeConn) -> None:
        await conn.negotiate()
        slow = await conn.expect("slow")
        await asyncio.sleep(0.3)
        await conn.reply(slow, "late")
        cmd = await conn.expect("query-status")
        await conn.reply(cmd, {"status": "paused", "running": False})
        await hold(conn)

    async def main() -> None:
        async with FakeQemu(sock_path, script):
            mon = QemuMonitor(sock_path)
            await mon.connect(timeout=5)
            with pytest.raises(VirtError) as exc:
                await mon.execute("slow", timeout=0.1)
            assert exc.value.code == ErrorNumber.OPERATION_TIMEOUT
            assert exc.value.message == "Timed out during operation: QEMU command 'slow' timed out"
            await asyncio.sleep(0.4)
            assert await mon.query_status() == ("paused", False)
            await mon.close()

    run(main())


def test_getfd_passes_a_real_fd(sock_path: str) -> None:
    async def script(conn: FakeConn) -> None:
        await conn.negotiate()
        cmd = await conn.expect("getfd")
        assert cmd["arguments"] == {"fdname": "hostnet1"}
        assert len(conn.fds) == 1
        fd, with_bytes = conn.fds[0]
        assert with_bytes.startswith(b'{"execute":"getfd"')  # the fd came with the command itself
        os.fstat(fd)  # a valid descriptor in this "process"...
        os.write(fd, b"through the passed fd")  # ...for the pipe the client sent
        await conn.reply(cmd)
        cmd = await conn.expect("closefd")
        await conn.reply(cmd)
        await hold(conn)

    async def main() -> None:
        r, w = os.pipe()
        try:
            async with FakeQemu(sock_path, script):
                mon = QemuMonitor(sock_path)
                await mon.connect(timeout=5)
                await mon.getfd(w, "hostnet1")
                await mon.closefd("hostnet1")
                os.fstat(w)  # the caller keeps its copy
                os.close(w)
                w = -1
                assert os.read(r, 100) == b"through the passed fd"
                await mon.close()
                with pytest.raises(MonitorClosedError):
                    await mon.getfd(r, "x")
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)

    run(main())


@pytest.mark.parametrize(
    ("garbage", "message"),
    [
        (b"this is not json\r\n", "internal error: cannot parse json this is not json: "),
        (b"[1, 2, 3]\r\n", "internal error: Parsed JSON reply '[1, 2, 3]' isn't an object"),
        (b'"just a string"\n', "internal error: Parsed JSON reply '\"just a string\"' isn't an object"),
        (b"\xff\xfe{}\n", "internal error: cannot parse json "),
        (b"[" * 100000 + b"\n", "internal error: cannot parse json [[[["),
        (
            b"x" * (MAX_MESSAGE + 4096),
            f"No complete monitor response found in {MAX_MESSAGE} bytes: Numerical result out of range",
        ),
    ],
    ids=["not-json", "array", "string", "bad-utf8", "deep", "huge"],
)
def test_garbage_closes_the_monitor_with_an_error(sock_path: str, garbage: bytes, message: str) -> None:
    async def script(conn: FakeConn) -> None:
        await conn.negotiate()
        await conn.expect("query-status")
        await conn.event("STOP", {})
        await conn.send_raw(garbage)
        await hold(conn)  # until the client hangs up

    async def main() -> None:
        rec = Recorder()
        async with FakeQemu(sock_path, script) as fake:
            mon = rec.monitor(sock_path)
            await mon.connect(timeout=5)
            with pytest.raises(MonitorError) as exc:
                await mon.query_status()
            err = exc.value
            assert not isinstance(err, MonitorClosedError | MonitorCommandError)
            assert err.message is not None and err.message.startswith(message), err.message
            assert len(err.message) < 1000
            assert err.domain == ErrorDomain.QEMU
            assert not mon.connected
            await asyncio.wait_for(fake.done.wait(), 5)  # the client closed the socket
            assert rec.eofs == 1
            assert [e[0] for e in rec.events] == ["STOP"]
            with pytest.raises(MonitorError) as again:
                await mon.cont()
            assert again.value.message == err.message  # libvirt's lastError: the same error again
            await mon.close()
            with pytest.raises(MonitorClosedError):
                await mon.cont()

    run(main())


def test_a_failing_event_callback_does_not_stop_the_reader(sock_path: str) -> None:
    seen: list[str] = []

    def on_event(name: str, data: dict[str, Any], ts: float) -> None:
        seen.append(name)
        raise RuntimeError("buggy callback")

    async def script(conn: FakeConn) -> None:
        await conn.negotiate()
        cmd = await conn.expect("cont")
        await conn.event("RESUME", {})
        await conn.send({"event": "ODD", "data": "not a dict", "timestamp": "bad"})
        await conn.send({"unknown": "message"})
        await conn.reply(cmd)
        await hold(conn)

    async def main() -> None:
        async with FakeQemu(sock_path, script):
            mon = QemuMonitor(sock_path, on_event=on_event)
            await mon.connect(timeout=5)
            await mon.cont()
            assert mon.connected
            await mon.close()

    run(main())
    assert seen == ["RESUME", "ODD"]


def test_connect_without_socket_times_out(sock_path: str) -> None:
    async def main() -> None:
        mon = QemuMonitor(sock_path)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(MonitorConnectError) as exc:
            await mon.connect(timeout=0.3, interval=0.02)
        assert 0.25 < loop.time() - t0 < 2
        assert exc.value.message == f"internal error: monitor socket did not show up: {sock_path}: timed out"
        assert exc.value.code == ErrorNumber.INTERNAL_ERROR
        assert not mon.connected
        await mon.close()

    run(main())


def test_connect_gives_up_when_qemu_is_dead(sock_path: str) -> None:
    async def main() -> None:
        mon = QemuMonitor(sock_path)
        with pytest.raises(MonitorConnectError) as exc:
            await mon.connect(timeout=30, alive=lambda: False)
        assert exc.value.message == f"internal error: QEMU exited before its monitor at {sock_path} answered"

    run(main())


def test_connect_refused_then_no_greeting_times_out(sock_path: str) -> None:
    async def main() -> None:
        # A socket file nobody listens on: refused, retried until the deadline.
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(sock_path)
        stale.close()
        mon = QemuMonitor(sock_path)
        with pytest.raises(MonitorConnectError) as exc:
            await mon.connect(timeout=0.3, interval=0.02)
        assert "Connection refused" in str(exc.value.message)
        os.unlink(sock_path)

        async def silent(conn: FakeConn) -> None:
            await hold(conn)  # accepts, never greets

        async with FakeQemu(sock_path, silent):
            with pytest.raises(MonitorConnectError) as exc:
                await mon.connect(timeout=0.3, interval=0.02)
            assert exc.value.message is not None
            assert exc.value.message.startswith("internal error: monitor socket did not show up: ")
            assert not mon.connected

    run(main())


def test_connect_retries_until_the_socket_answers(sock_path: str) -> None:
    attempts: list[int] = []

    async def flaky(conn: FakeConn) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            await conn.send_raw(b'{"QMP": {"vers')  # dies during the greeting
            return
        await conn.negotiate()
        cmd = await conn.expect("query-status")
        await conn.reply(cmd, {"status": "prelaunch", "running": False})
        await hold(conn)

    async def main() -> None:
        mon = QemuMonitor(sock_path)
        connecting = asyncio.ensure_future(mon.connect(timeout=5, interval=0.02))
        await asyncio.sleep(0.1)  # the socket does not exist yet
        assert not connecting.done()
        async with FakeQemu(sock_path, flaky):
            await connecting
            assert len(attempts) == 2
            assert await mon.query_status() == ("prelaunch", False)
            with pytest.raises(MonitorConnectError):
                await mon.connect(timeout=1)  # already connected
            await mon.close()

    run(main())


def test_reconnect_after_close(sock_path: str) -> None:
    async def script(conn: FakeConn) -> None:
        await conn.negotiate()
        cmd = await conn.expect("query-status")
        await conn.reply(cmd, {"status": "running", "running": True})
        await hold(conn)

    async def main() -> None:
        rec = Recorder()
        async with FakeQemu(sock_path, script) as fake:
            mon = rec.monitor(sock_path)
            for _ in range(2):
                await mon.connect(timeout=5)
                assert await mon.query_status() == ("running", True)
                await mon.close()
            assert len(fake.conns) == 2
        assert rec.eofs == 0

    run(main())


def test_close_right_after_eof(sock_path: str) -> None:
    # The driver closes the monitor as soon as QEMU's exit is seen, often while the
    # reader is still finishing its EOF: close() must neither hang nor raise.
    async def script(conn: FakeConn) -> None:
        await conn.negotiate()

    async def main() -> None:
        for _ in range(20):
            rec = Recorder()
            async with FakeQemu(sock_path, script):
                mon = rec.monitor(sock_path)
                await mon.connect(timeout=5)
                while mon.connected:
                    await asyncio.sleep(0)
                await mon.close()  # directly: wait_for would run it a loop iteration later
                assert rec.eofs <= 1
            os.unlink(sock_path)

    run(main())
