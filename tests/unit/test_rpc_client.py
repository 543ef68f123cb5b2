"""RpcClient against a tiny scripted server thread on a Unix socket."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError, no_network
from pyvirt.rpc.client import Event, RpcClient
from pyvirt.rpc.protocol import (
    KEEPALIVE_PING,
    KEEPALIVE_PONG,
    KEEPALIVE_PROGRAM,
    QEMU_PROGRAM,
    REMOTE_PROGRAM,
    Header,
    MessageStatus,
    MessageType,
    keepalive_message,
    pack_message,
    unpack_header,
)
from pyvirt.rpc.remote import PROCEDURES, Proc, decode, encode
from pyvirt.rpc.stream import error_message, event_message, reply_message, reply_value

NET = {"name": "default", "uuid": b"\x22" * 16}

# A handler gets (server, header, payload) and sends whatever it likes back.
Handler = Callable[["FakeServer", Header, bytes], None]


class FakeServer:
    """Accepts one connection and answers each CALL with ``handler``."""

    def __init__(self, path: str, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self.received: list[tuple[Header, bytes]] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.conn: socket.socket | None = None
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def send(self, data: bytes) -> None:
        assert self.connected.wait(5)
        assert self.conn is not None
        self.conn.sendall(data)

    def _recv_exact(self, n: int) -> bytes | None:
        assert self.conn is not None
        buf = b""
        while len(buf) < n:
            chunk = self.conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def _run(self) -> None:
        try:
            self.conn, _ = self.listener.accept()
        except OSError:  # closed before any client came
            return
        self.connected.set()
        try:
            while True:
                word = self._recv_exact(4)
                if word is None:
                    return
                (length,) = struct.unpack(">I", word)
                body = self._recv_exact(length - 4)
                if body is None:
                    return
                header = unpack_header(body[:24])
                self.received.append((header, body[24:]))
                if header.type == MessageType.CALL:
                    self.handler(self, header, body[24:])
        except OSError:
            return

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.conn.close()
        self.listener.close()
        self.thread.join(timeout=5)


def answer(replies: dict[int, Any]) -> Handler:
    """Reply with the table-encoded value for each proc, raising VirtErrors as error replies."""

    def handler(server: FakeServer, header: Header, payload: bytes) -> None:
        value = replies[header.proc]
        if isinstance(value, VirtError):
            server.send(error_message(header, value))
        else:
            server.send(reply_value(header, value))

    return handler


@pytest.fixture
def sock_path(tmp_path: Path) -> str:
    return str(tmp_path / "pyvirt-sock")


@pytest.fixture
def serve(sock_path: str) -> Iterator[Callable[[Handler], tuple[FakeServer, RpcClient]]]:
    made: list[tuple[FakeServer, RpcClient]] = []

    def start(handler: Handler, timeout: float | None = 5) -> tuple[FakeServer, RpcClient]:
        server = FakeServer(sock_path, handler)
        client = RpcClient(sock_path, timeout=timeout)
        made.append((server, client))
        return server, client

    yield start
    for server, client in made:
        client.close()
        server.close()


def test_connect_failure_wording(tmp_path: Path) -> None:
    path = str(tmp_path / "missing-sock")
    with pytest.raises(VirtError) as exc:
        RpcClient(path)
    err = exc.value
    assert err.code == ErrorNumber.SYSTEM_ERROR == 38
    assert err.domain == ErrorDomain.RPC == 7
    assert err.message == f"Failed to connect socket to '{path}': No such file or directory"


def test_prologue_calls_and_serials(serve: Any) -> None:
    server, client = serve(
        answer(
            {
                Proc.AUTH_LIST: {"types": [0]},
                Proc.CONNECT_SUPPORTS_FEATURE: {"supported": 1},
                Proc.CONNECT_OPEN: None,
                Proc.CONNECT_LIST_ALL_NETWORKS: {"nets": [NET], "ret": 1},
                Proc.CONNECT_CLOSE: None,
            }
        )
    )
    assert client.call(Proc.AUTH_LIST) == {"types": [0]}
    assert client.call(Proc.CONNECT_SUPPORTS_FEATURE, {"feature": 10}) == {"supported": 1}
    assert client.call(Proc.CONNECT_OPEN, {"name": "qemu:///system", "flags": 0}) is None
    assert client.call(Proc.CONNECT_LIST_ALL_NETWORKS, {"need_results": 1, "flags": 3}) == {
        "nets": [NET],
        "ret": 1,
    }
    assert client.call(Proc.CONNECT_CLOSE) is None
    headers = [h for h, _ in server.received]
    assert [h.serial for h in headers] == [0, 1, 2, 3, 4]
    assert [h.proc for h in headers] == [66, 60, 1, 283, 2]
    assert all(h.prog == REMOTE_PROGRAM and h.vers == 1 and h.type == 0 and h.status == 0 for h in headers)
    # exact bytes of the CONNECT_OPEN call payload
    assert server.received[2][1].hex() == "000000010000000e" + b"qemu:///system".hex() + "000000000000"


def test_error_reply_raises_server_error(serve: Any) -> None:
    _, client = serve(
        answer({Proc.NETWORK_LOOKUP_BY_NAME: no_network("no network with matching name 'nosuch'")})
    )
    with pytest.raises(VirtError) as exc:
        client.call(Proc.NETWORK_LOOKUP_BY_NAME, {"name": "nosuch"})
    err = exc.value
    assert (err.code, err.domain) == (43, 19)
    assert err.message == "Network not found: no network with matching name 'nosuch'"
    assert err.str1 == "Network not found: %s"
    assert err.str2 == "no network with matching name 'nosuch'"
    assert not client.closed  # an error reply does not break the connection


def test_answers_server_ping_before_reply(serve: Any) -> None:
    pongs: list[bytes | None] = []

    def handler(server: FakeServer, header: Header, payload: bytes) -> None:
        server.send(keepalive_message(KEEPALIVE_PING))
        # the client must answer the PING before it gets its reply
        pong = server._recv_exact(28)
        pongs.append(pong)
        server.send(reply_value(header, {"hostname": "host"}))

    _, client = serve(handler)
    assert client.call(Proc.CONNECT_GET_HOSTNAME) == {"hostname": "host"}
    assert pongs == [keepalive_message(KEEPALIVE_PONG)]
    assert pongs[0] is not None
    assert unpack_header(pongs[0][4:]) == Header(
        KEEPALIVE_PROGRAM, 1, KEEPALIVE_PONG, MessageType.MESSAGE, 0, 0
    )


def test_server_pong_is_ignored(serve: Any) -> None:
    def handler(server: FakeServer, header: Header, payload: bytes) -> None:
        server.send(keepalive_message(KEEPALIVE_PONG) + reply_value(header, {"type": "QEMU"}))

    server, client = serve(handler)
    assert client.call(Proc.CONNECT_GET_TYPE) == {"type": "QEMU"}
    assert len(server.received) == 1  # nothing sent in response to a PONG


def lifecycle(cb: int, event: int) -> bytes:
    return event_message(
        Proc.NETWORK_EVENT_LIFECYCLE, {"callbackID": cb, "net": NET, "event": event, "detail": 0}
    )


def test_events_are_queued_and_polled(serve: Any) -> None:
    def handler(server: FakeServer, header: Header, payload: bytes) -> None:
        server.send(lifecycle(7, 2) + reply_value(header, {"callbackID": 7}) + lifecycle(7, 3))

    _, client = serve(handler)
    reply = client.call(Proc.CONNECT_NETWORK_EVENT_REGISTER_ANY, {"eventID": 0, "net": None})
    assert reply == {"callbackID": 7}
    first = client.events()
    assert first == [Event(REMOTE_PROGRAM, 315, {"callbackID": 7, "net": NET, "event": 2, "detail": 0})]
    later = client.poll_events(timeout=5)
    assert [e.msg["event"] for e in later] == [3]
    assert client.events() == []


def test_event_handler_and_poll_timeout(serve: Any) -> None:
    server, client = serve(answer({Proc.CONNECT_GET_URI: {"uri": "qemu:///system"}}))
    got: list[Event] = []
    client.set_event_handler(got.append)
    start = time.monotonic()
    assert client.poll_events(timeout=0.2) == []
    assert 0.15 < time.monotonic() - start < 2
    server.send(lifecycle(1, 0))
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        client.poll_events(timeout=0.5)
    assert got and got[0].proc == 315
    # calls still work while a handler is set
    assert client.call(Proc.CONNECT_GET_URI) == {"uri": "qemu:///system"}


def test_ping_while_polling_is_answered(serve: Any) -> None:
    server, client = serve(answer({}))
    server.send(keepalive_message(KEEPALIVE_PING))
    assert client.poll_events(timeout=0.3) == []
    deadline = time.monotonic() + 5
    while not server.received and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.received[0][0].proc == KEEPALIVE_PONG


def test_connection_closed_by_server(serve: Any) -> None:
    def handler(server: FakeServer, header: Header, payload: bytes) -> None:
        assert server.conn is not None
        server.conn.shutdown(socket.SHUT_RDWR)

    _, client = serve(handler)
    with pytest.raises(VirtError) as exc:
        client.call(Proc.CONNECT_GET_TYPE)
    assert exc.value.code == ErrorNumber.SYSTEM_ERROR
    assert exc.value.message == "End of file while reading data: Input/output error"
    assert client.closed
    with pytest.raises(VirtError):
        client.call(Proc.CONNECT_GET_TYPE)


def test_oversized_length_word_from_server(serve: Any) -> None:
    def handler(server: FakeServer, header: Header, payload: bytes) -> None:
        server.send(struct.pack(">I", 0x7FFFFFFF))

    _, client = serve(handler)
    with pytest.raises(VirtError) as exc:
        client.call(Proc.CONNECT_GET_TYPE)
    assert exc.value.code == ErrorNumber.RPC
    assert client.closed


def test_malformed_reply_payload(serve: Any) -> None:
    def handler(server: FakeServer, header: Header, payload: bytes) -> None:
        server.send(reply_message(header, b"\0\0\0\x10ab"))

    _, client = serve(handler)
    with pytest.raises(VirtError) as exc:
        client.call(Proc.CONNECT_GET_TYPE)
    assert exc.value.message == "Unable to decode message payload"
    assert exc.value.code == ErrorNumber.RPC


def test_reply_timeout(serve: Any) -> None:
    _, client = serve(lambda server, header, payload: None, timeout=0.2)
    with pytest.raises(VirtError) as exc:
        client.call(Proc.CONNECT_GET_TYPE)
    assert exc.value.code == ErrorNumber.OPERATION_TIMEOUT


def test_stale_reply_is_skipped(serve: Any) -> None:
    def handler(server: FakeServer, header: Header, payload: bytes) -> None:
        stale = Header(header.prog, header.vers, header.proc, header.type, header.serial + 100, header.status)
        server.send(reply_value(stale, {"type": "OLD"}) + reply_value(header, {"type": "QEMU"}))

    _, client = serve(handler)
    assert client.call(Proc.CONNECT_GET_TYPE) == {"type": "QEMU"}


def test_raw_program_call(serve: Any) -> None:
    def handler(server: FakeServer, header: Header, payload: bytes) -> None:
        assert header.prog == QEMU_PROGRAM
        server.send(reply_message(header, payload[::-1]))

    _, client = serve(handler)
    assert client.call(1, b"\x01\x02\x03\x04", program=QEMU_PROGRAM) == b"\x04\x03\x02\x01"


def test_bad_args_do_not_touch_the_wire(serve: Any) -> None:
    server, client = serve(answer({}))
    with pytest.raises(VirtError) as exc:
        client.call(Proc.CONNECT_OPEN, {"name": "x"})
    assert exc.value.code == ErrorNumber.RPC
    time.sleep(0.05)
    assert server.received == []


def test_big_reply_crosses_many_recv_calls(serve: Any) -> None:
    xml = "<domain>" + "x" * 3_000_000 + "</domain>\n"
    _, client = serve(answer({Proc.DOMAIN_GET_XML_DESC: {"xml": xml}}))
    dom = {"name": "pc1", "uuid": b"\x01" * 16, "id": 1}
    assert client.call(Proc.DOMAIN_GET_XML_DESC, {"dom": dom, "flags": 0}) == {"xml": xml}


def test_close_is_idempotent_and_context_manager(serve: Any, sock_path: str) -> None:
    _, client = serve(answer({}))
    client.close()
    client.close()
    assert client.closed
    with RpcClient(sock_path) as other:
        assert not other.closed
    assert other.closed


def test_client_import_is_light() -> None:
    code = (
        "import sys, pyvirt.rpc.client;"
        "heavy = [m for m in ('asyncio', 'lxml', 'pyroute2', 'hypothesis', 'qemu') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == ""


def test_remote_table_decodes_what_client_sent(serve: Any) -> None:
    server, client = serve(
        answer({Proc.DOMAIN_LOOKUP_BY_NAME: {"dom": {"name": "pc1", "uuid": b"\1" * 16, "id": -1}}})
    )
    assert client.call(Proc.DOMAIN_LOOKUP_BY_NAME, {"name": "pc1"})["dom"]["id"] == -1
    header, payload = server.received[0]
    assert decode(PROCEDURES[header.proc].args, payload) == {"name": "pc1"}
    assert payload == encode(PROCEDURES[23].args, {"name": "pc1"})
    assert pack_message(header, payload)[:4] == struct.pack(">I", 28 + len(payload))
    assert header.status == MessageStatus.OK
