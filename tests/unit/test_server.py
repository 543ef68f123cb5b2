"""The per-client protocol object: framing, inline and waiting calls, flow control.

A fake transport records what the daemon writes and whether it reads; a fake
daemon carries the real dispatcher over drivers that answer from memory, or
wait on an event the test controls.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from pyvirt.daemon import server
from pyvirt.daemon.dispatch import Dispatcher
from pyvirt.daemon.server import ClientConnection, FrameSlots
from pyvirt.rpc import protocol, remote
from pyvirt.rpc.protocol import Header, MessageStatus, MessageType
from pyvirt.rpc.remote import Proc


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.reading = True
        self.closed = False
        self.buffered = 0  # what get_write_buffer_size() reports

    def write(self, data: Any) -> None:
        self.out += data

    def pause_reading(self) -> None:
        assert self.reading
        self.reading = False

    def resume_reading(self) -> None:
        assert not self.reading
        self.reading = True

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def messages(self) -> list[tuple[Header, bytes]]:
        """Every whole message written so far (and forget them)."""
        out, data = [], bytes(self.out)
        while data:
            (length,) = struct.unpack(">I", data[:4])
            out.append((protocol.unpack_header(data[4:28]), data[28:length]))
            data = data[length:]
        self.out.clear()
        return out


class Domains:
    """Answers lookups at once; defines wait until the test sets ``go``."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.defined: list[str] = []

    def lookup_by_name(self, name: str) -> Any:
        return _Obj(name)

    async def define_xml(self, xml: str, flags: int = 0) -> Any:
        await self.go.wait()
        self.defined.append(xml)
        return _Obj(xml)


@dataclass
class _Obj:
    name: str

    def ref(self) -> dict[str, Any]:
        return {"name": self.name, "uuid": b"\1" * 16, "id": -1}


class Events:
    def __init__(self) -> None:
        self.dropped: list[ClientConnection] = []

    def drop_client(self, client: ClientConnection) -> None:
        self.dropped.append(client)


@dataclass
class FakeDaemon:
    domains: Domains = field(default_factory=Domains)
    networks: Any = None
    events: Events = field(default_factory=Events)
    clients: set[ClientConnection] = field(default_factory=set)
    big_frames: FrameSlots = field(default_factory=lambda: FrameSlots(1))
    dispatcher: Dispatcher = field(init=False)

    def __post_init__(self) -> None:
        self.dispatcher = Dispatcher(self)  # type: ignore[arg-type]


def call(proc: int, value: Any = None, serial: int = 1) -> bytes:
    payload = remote.encode(remote.PROCEDURES[proc].args, value) if value is not None else b""
    return protocol.pack_message(
        Header(protocol.REMOTE_PROGRAM, protocol.REMOTE_PROTOCOL_VERSION, proc, MessageType.CALL, serial, 0),
        payload,
    )


def connect(daemon: FakeDaemon | None = None) -> tuple[FakeDaemon, ClientConnection, FakeTransport]:
    daemon = daemon or FakeDaemon()
    client = ClientConnection(daemon, readonly=False)  # type: ignore[arg-type]
    transport = FakeTransport()
    client.connection_made(transport)
    client.opened = True
    return daemon, client, transport


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_frames_split_and_joined_are_all_answered_in_order() -> None:
    async def body() -> None:
        _d, client, tr = connect()
        stream = b"".join(call(Proc.CONNECT_GET_LIB_VERSION, serial=s) for s in range(1, 6))
        # Byte by byte, then all at once: same answers.
        for i in range(len(stream)):
            client.data_received(stream[i : i + 1])
        client.data_received(stream)
        got = tr.messages()
        assert [h.serial for h, _ in got] == [1, 2, 3, 4, 5] * 2
        assert all(h.type == MessageType.REPLY and h.status == MessageStatus.OK for h, _ in got)
        assert remote.decode(remote.PROCEDURES[Proc.CONNECT_GET_LIB_VERSION].ret, got[0][1]) == {
            "lib_ver": 9_000_000
        }

    run(body())


def test_a_call_that_need_not_wait_is_answered_inline_without_a_task() -> None:
    async def body() -> None:
        _d, client, tr = connect()
        client.data_received(call(Proc.DOMAIN_LOOKUP_BY_NAME, {"name": "pc1"}, serial=7))
        assert not client._tasks
        ((header, payload),) = tr.messages()
        assert header.serial == 7 and header.status == MessageStatus.OK
        dom = remote.decode(remote.PROCEDURES[Proc.DOMAIN_LOOKUP_BY_NAME].ret, payload)["dom"]
        assert dom["name"] == "pc1"

    run(body())


def test_waiting_calls_run_as_tasks_and_reading_pauses_at_the_limit() -> None:
    async def body() -> None:
        daemon, client, tr = connect()
        n = server.MAX_CLIENT_REQUESTS
        for serial in range(1, n + 1):
            client.data_received(call(Proc.DOMAIN_DEFINE_XML, {"xml": f"x{serial}"}, serial=serial))
        assert len(client._tasks) == n and not tr.reading
        # A call already buffered waits too: nothing is read past the limit.
        client.data_received(call(Proc.CONNECT_GET_LIB_VERSION, serial=99))
        await asyncio.sleep(0)
        assert tr.messages() == []
        daemon.domains.go.set()
        for _ in range(5):
            await asyncio.sleep(0)
        serials = [h.serial for h, _ in tr.messages()]
        assert sorted(serials) == [*range(1, n + 1), 99]
        assert tr.reading and not client._tasks

    run(body())


def test_errors_are_replies_and_the_connection_stays() -> None:
    async def body() -> None:
        _d, client, tr = connect()
        client.data_received(call(Proc.DOMAIN_LOOKUP_BY_NAME, serial=3))  # no arguments at all
        client.data_received(call(0x7FFF, serial=4))
        client.data_received(call(Proc.CONNECT_GET_LIB_VERSION, serial=5))
        got = tr.messages()
        assert [(h.serial, h.status) for h, _ in got] == [
            (3, MessageStatus.ERROR),
            (4, MessageStatus.ERROR),
            (5, MessageStatus.OK),
        ]
        assert "Unable to decode message payload" in str(remote.decode_error(got[0][1]).message)
        assert not tr.closed

    run(body())


def test_a_bad_length_word_disconnects() -> None:
    async def body() -> None:
        daemon, client, tr = connect()
        client.data_received(struct.pack(">I", 3))
        assert tr.closed
        client.connection_lost(None)
        assert client not in daemon.clients and daemon.events.dropped == [client]

    run(body())


def test_big_frames_wait_for_a_daemon_wide_slot() -> None:
    async def body() -> None:
        daemon = FakeDaemon()  # one big-frame slot
        _, first, tr1 = connect(daemon)
        _, second, tr2 = connect(daemon)
        big = call(Proc.CONNECT_GET_LIB_VERSION, serial=1) + b"\0" * (server.BIG_FRAME + 1)
        big = struct.pack(">I", len(big)) + big[4:]
        first.data_received(big[:100])  # holds the slot, body still coming
        assert daemon.big_frames.free == 0
        second.data_received(big[:100])
        assert not tr2.reading  # waits for the slot, reads nothing more
        first.data_received(big[100:])
        assert [h.serial for h, _ in tr1.messages()] == [1]
        # The slot went straight to the waiting client.
        assert tr2.reading and daemon.big_frames.free == 0
        second.data_received(big[100:])
        assert [h.serial for h, _ in tr2.messages()] == [1]
        assert daemon.big_frames.free == 1

    run(body())


def test_a_client_that_does_not_read_is_not_read_from() -> None:
    async def body() -> None:
        _d, client, tr = connect()
        client.pause_writing()
        assert not tr.reading
        client.data_received(call(Proc.CONNECT_GET_LIB_VERSION, serial=1))
        assert tr.messages() == []  # buffered, not answered
        client.resume_writing()
        assert tr.reading and [h.serial for h, _ in tr.messages()] == [1]

    run(body())


def test_events_to_a_client_that_does_not_read_them_drop_it() -> None:
    async def body() -> None:
        _d, client, tr = connect()
        value = {"callbackID": 1, "net": {"name": "n", "uuid": b"\0" * 16}, "event": 0, "detail": 0}
        client.send_event(Proc.NETWORK_EVENT_LIFECYCLE, value)
        ((header, _),) = tr.messages()
        assert header.type == MessageType.MESSAGE and header.serial == 0
        tr.buffered = server.MAX_EVENT_BACKLOG + 1
        client.send_event(Proc.NETWORK_EVENT_LIFECYCLE, value)
        assert tr.closed and tr.messages() == []

    run(body())


def test_keepalive_ping_is_answered() -> None:
    async def body() -> None:
        _d, client, tr = connect()
        client.data_received(protocol.keepalive_message(protocol.KEEPALIVE_PING))
        ((header, _),) = tr.messages()
        assert (header.prog, header.proc) == (protocol.KEEPALIVE_PROGRAM, protocol.KEEPALIVE_PONG)

    run(body())


@pytest.mark.parametrize("size", [0, 1, 3])
def test_frame_slots_hand_over_in_order(size: int) -> None:
    slots = FrameSlots(size)
    got: list[int] = []

    def waiter(i: int) -> Callable[[], None]:
        return lambda: got.append(i)

    taken = [slots.try_acquire(waiter(i)) for i in range(size + 3)]
    assert taken == [True] * size + [False] * 3
    slots.cancel(lambda: None)  # unknown waiter: ignored
    for _ in range(3):
        slots.release()
    assert got == [size, size + 1, size + 2] and slots.free == 0
    for _ in range(size):
        slots.release()
    assert slots.free == size
