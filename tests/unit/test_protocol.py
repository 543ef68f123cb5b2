"""Message framing: header packing, limits, asyncio reading, reply builders."""

from __future__ import annotations

import asyncio
import struct

import pytest

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.rpc import protocol as P
from pyvirt.rpc.protocol import Header, MessageStatus, MessageType, ProtocolError
from pyvirt.rpc.remote import Proc, decode, decode_error, get_procedure
from pyvirt.rpc.stream import error_message, event_message, read_message, reply_message, reply_value


def test_constants() -> None:
    assert P.REMOTE_PROGRAM == 0x20008086
    assert P.KEEPALIVE_PROGRAM == 0x6B656570
    assert P.QEMU_PROGRAM == 0x20008087
    assert P.LXC_PROGRAM == 0x00068000
    assert P.ADMIN_PROGRAM == 0x06900690
    assert P.MESSAGE_MAX == 16777216
    assert P.PAYLOAD_MAX == 16777192
    assert P.STRING_MAX == 4194304
    assert P.MESSAGE_INITIAL == 65536
    assert [m.value for m in MessageType] == [0, 1, 2, 3, 4, 5]
    assert [s.value for s in MessageStatus] == [0, 1, 2]


def test_keepalive_message_is_28_bytes() -> None:
    ping = P.keepalive_message(P.KEEPALIVE_PING)
    assert len(ping) == 28
    assert (
        ping.hex() == "0000001c" + "6b656570" + "00000001" + "00000001" + "00000002" + "00000000" + "00000000"
    )
    pong = P.keepalive_message(P.KEEPALIVE_PONG)
    assert P.unpack_header(pong[4:]) == Header(P.KEEPALIVE_PROGRAM, 1, 2, 2, 0, 0)


def test_pack_message_length_includes_itself() -> None:
    msg = P.pack_message(Header(P.REMOTE_PROGRAM, 1, 23, MessageType.CALL, 7, MessageStatus.OK), b"x" * 10)
    assert len(msg) == 38
    assert struct.unpack(">I", msg[:4])[0] == 38
    assert P.unpack_header(msg[4:28]) == Header(0x20008086, 1, 23, 0, 7, 0)
    assert msg[28:] == b"x" * 10


def test_pack_message_limits() -> None:
    h = Header(P.REMOTE_PROGRAM, 1, 1, 0, 0, 0)
    with pytest.raises(ProtocolError):
        P.pack_message(h, b"\0" * (P.PAYLOAD_MAX + 1))
    with pytest.raises(ProtocolError):
        P.pack_message(Header(P.REMOTE_PROGRAM, 1, 1, 0, 2**32, 0))
    with pytest.raises(ProtocolError):
        P.pack_message(Header(-1, 1, 1, 0, 0, 0))


def test_negative_signed_fields_round_trip() -> None:
    msg = P.pack_message(Header(P.REMOTE_PROGRAM, 1, -5, -1, 0xFFFFFFFF, -2))
    assert P.unpack_header(msg[4:]) == Header(P.REMOTE_PROGRAM, 1, -5, -1, 0xFFFFFFFF, -2)


def test_check_length_bounds() -> None:
    assert P.check_length(28) == 24
    assert P.check_length(P.MESSAGE_MAX + 4) == P.MESSAGE_MAX
    for bad in (0, 3, 4, 27, P.MESSAGE_MAX + 5, 0xFFFFFFFF):
        with pytest.raises(ProtocolError):
            P.check_length(bad)


def test_unpack_header_short() -> None:
    with pytest.raises(ProtocolError):
        P.unpack_header(b"\0" * 23)


def _reader(data: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


def _read(data: bytes, eof: bool = True) -> tuple[Header, bytes]:
    async def go() -> tuple[Header, bytes]:
        return await read_message(_reader(data, eof))

    return asyncio.run(go())


def test_read_message_ok_and_sequence() -> None:
    a = P.pack_message(Header(P.REMOTE_PROGRAM, 1, 66, 0, 0, 0))
    b = P.pack_message(Header(P.REMOTE_PROGRAM, 1, 60, 0, 1, 0), b"\0\0\0\x0a")

    async def go() -> list[tuple[Header, bytes]]:
        reader = _reader(a + b)
        out = [await read_message(reader), await read_message(reader)]
        with pytest.raises(EOFError):
            await read_message(reader)
        return out

    (h1, p1), (h2, p2) = asyncio.run(go())
    assert (h1.proc, h1.serial, p1) == (66, 0, b"")
    assert (h2.proc, h2.serial, p2) == (60, 1, b"\0\0\0\x0a")


def test_read_message_eof_cases() -> None:
    with pytest.raises(EOFError):
        _read(b"")
    with pytest.raises(asyncio.IncompleteReadError):
        _read(b"\0\0")
    with pytest.raises(asyncio.IncompleteReadError):
        _read(b"\0\0\0\x28" + b"\0" * 20)


@pytest.mark.parametrize("length", [0, 4, 27, P.MESSAGE_MAX + 5, 0x7FFFFFFF, 0xFFFFFFFF])
def test_read_message_rejects_bad_length_before_body(length: int) -> None:
    # No body is fed and no EOF: a bad length must be rejected at once, not waited on.
    async def go() -> None:
        reader = _reader(struct.pack(">I", length), eof=False)
        await asyncio.wait_for(read_message(reader), timeout=1)

    with pytest.raises(ProtocolError):
        asyncio.run(go())


def test_reply_and_error_builders() -> None:
    call = Header(P.REMOTE_PROGRAM, 1, Proc.AUTH_LIST, MessageType.CALL, 0, MessageStatus.OK)
    msg = reply_value(call, {"types": [0]})
    assert len(msg) == 36
    assert msg[28:].hex() == "0000000100000000"
    assert P.unpack_header(msg[4:]) == Header(P.REMOTE_PROGRAM, 1, 66, 1, 0, 0)
    assert len(reply_message(call)) == 28

    err = VirtError(ErrorNumber.NO_NETWORK, ErrorDomain.NETWORK, "no network with matching name 'nosuch'")
    emsg = error_message(Header(P.REMOTE_PROGRAM, 1, 46, 0, 5, 0), err)
    h = P.unpack_header(emsg[4:28])
    assert (h.type, h.status, h.serial, h.proc) == (MessageType.REPLY, MessageStatus.ERROR, 5, 46)
    back = decode_error(emsg[28:])
    assert back.message == "Network not found: no network with matching name 'nosuch'"
    assert (back.code, back.domain) == (43, 19)


def test_event_builder() -> None:
    net = {"name": "default", "uuid": b"\x11" * 16}
    msg = event_message(Proc.NETWORK_EVENT_LIFECYCLE, {"callbackID": 3, "net": net, "event": 2, "detail": 0})
    h = P.unpack_header(msg[4:28])
    assert h == Header(P.REMOTE_PROGRAM, 1, 315, MessageType.MESSAGE, 0, MessageStatus.OK)
    body = decode(get_procedure(315).args, msg[28:])
    assert body == {"callbackID": 3, "net": net, "event": 2, "detail": 0}
    raw = event_message(6, b"\0\0\0\0", program=P.QEMU_PROGRAM)
    assert P.unpack_header(raw[4:28]).prog == P.QEMU_PROGRAM
