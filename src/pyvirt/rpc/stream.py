"""Server-side message framing over asyncio streams.

:func:`read_message` reads one framed message and enforces libvirt's size
limits before reading the body; the ``*_message`` helpers build complete
reply, error and event messages ready to write.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from pyvirt.errors import VirtError
from pyvirt.rpc.protocol import (
    HEADER_MAX,
    LEN_MAX,
    REMOTE_PROGRAM,
    REMOTE_PROTOCOL_VERSION,
    Header,
    MessageStatus,
    MessageType,
    check_length,
    pack_message,
    unpack_header,
)
from pyvirt.rpc.remote import PROCEDURES, encode, encode_error, get_procedure

__all__ = [
    "error_message",
    "event_message",
    "read_message",
    "reply_message",
    "reply_value",
    "write_message",
]

_LEN = struct.Struct(">I")


async def read_message(reader: asyncio.StreamReader) -> tuple[Header, bytes]:
    """Read one message and return its header and payload.

    Raises :class:`EOFError` when the peer closed the connection cleanly
    between messages, :class:`asyncio.IncompleteReadError` when it closed in
    the middle of one, and :class:`~pyvirt.rpc.protocol.ProtocolError` when
    the length word is below 28 or above ``MESSAGE_MAX + 4`` (checked before
    the body is read, so nothing large is allocated for a bad length).
    """
    try:
        word = await reader.readexactly(LEN_MAX)
    except asyncio.IncompleteReadError as err:
        if not err.partial:
            raise EOFError("connection closed by peer") from err
        raise
    (length,) = _LEN.unpack(word)
    body = await reader.readexactly(check_length(length))
    return unpack_header(body), body[HEADER_MAX:]


async def write_message(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write one framed message and wait for the transport to drain.

    Raises :class:`ConnectionError` (or another :class:`OSError`) if the peer went away.
    """
    writer.write(data)
    await writer.drain()


def reply_message(call: Header, payload: bytes = b"") -> bytes:
    """Build a successful REPLY to ``call`` carrying an encoded payload.

    Raises :class:`~pyvirt.rpc.protocol.ProtocolError` if the payload is too large.
    """
    return pack_message(
        Header(call.prog, call.vers, call.proc, MessageType.REPLY, call.serial, MessageStatus.OK), payload
    )


def reply_value(call: Header, value: Any) -> bytes:
    """Build a REPLY to a REMOTE_PROGRAM ``call``, encoding ``value`` with the table's ``ret`` codec.

    Raises :class:`VirtError` for an unknown procedure,
    :class:`~pyvirt.rpc.xdr.XdrError` if ``value`` does not fit the layout and
    :class:`~pyvirt.rpc.protocol.ProtocolError` if the result is too large.
    """
    return reply_message(call, encode(get_procedure(call.proc).ret, value))


def error_message(call: Header, err: VirtError) -> bytes:
    """Build an error REPLY (status ERROR, ``remote_error`` payload) to ``call``.

    Raises :class:`~pyvirt.rpc.xdr.XdrError` if the error's strings are too long.
    """
    return pack_message(
        Header(call.prog, call.vers, call.proc, MessageType.REPLY, call.serial, MessageStatus.ERROR),
        encode_error(err),
    )


def event_message(
    proc: int,
    value: Any,
    program: int = REMOTE_PROGRAM,
    version: int = REMOTE_PROTOCOL_VERSION,
) -> bytes:
    """Build an event (MESSAGE type, serial 0) for ``proc``.

    For REMOTE_PROGRAM events in the table ``value`` is encoded with the
    event's message layout; otherwise it must already be encoded ``bytes``.
    Raises :class:`~pyvirt.rpc.xdr.XdrError` if ``value`` does not fit.
    """
    entry = PROCEDURES.get(proc) if program == REMOTE_PROGRAM else None
    payload = encode(entry.args, value) if entry is not None else bytes(value)
    return pack_message(Header(program, version, proc, MessageType.MESSAGE, 0, MessageStatus.OK), payload)
