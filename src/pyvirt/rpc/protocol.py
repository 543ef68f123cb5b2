"""libvirt RPC framing: program numbers, the message header and its limits.

A message on the wire is a u32 length word (counting itself), a 24-byte
header of six 32-bit fields, then the XDR payload (see libvirt's
``src/rpc/virnetprotocol.x``).
"""

from __future__ import annotations

from _struct import Struct
from _struct import error as _StructError  # type: ignore[attr-defined]

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    import enum
    from typing import NamedTuple

__all__ = [
    "ADMIN_PROGRAM",
    "ADMIN_PROTOCOL_VERSION",
    "HEADER_MAX",
    "KEEPALIVE_PING",
    "KEEPALIVE_PONG",
    "KEEPALIVE_PROGRAM",
    "KEEPALIVE_PROTOCOL_VERSION",
    "LEN_MAX",
    "LXC_PROGRAM",
    "LXC_PROTOCOL_VERSION",
    "MESSAGE_INITIAL",
    "MESSAGE_MAX",
    "MSG_CALL",
    "MSG_CALL_WITH_FDS",
    "MSG_MESSAGE",
    "MSG_REPLY",
    "MSG_REPLY_WITH_FDS",
    "MSG_STREAM",
    "NUM_FDS_MAX",
    "PAYLOAD_MAX",
    "QEMU_PROGRAM",
    "QEMU_PROTOCOL_VERSION",
    "REMOTE_PROGRAM",
    "REMOTE_PROTOCOL_VERSION",
    "STATUS_CONTINUE",
    "STATUS_ERROR",
    "STATUS_OK",
    "STRING_MAX",
    "Header",
    "MessageStatus",
    "MessageType",
    "ProtocolError",
    "XdrError",
    "check_length",
    "keepalive_message",
    "pack_message",
    "unpack_header",
]

REMOTE_PROGRAM = 0x20008086
REMOTE_PROTOCOL_VERSION = 1
QEMU_PROGRAM = 0x20008087
QEMU_PROTOCOL_VERSION = 1
LXC_PROGRAM = 0x00068000
LXC_PROTOCOL_VERSION = 1
ADMIN_PROGRAM = 0x06900690
ADMIN_PROTOCOL_VERSION = 1
KEEPALIVE_PROGRAM = 0x6B656570  # "keep"
KEEPALIVE_PROTOCOL_VERSION = 1
KEEPALIVE_PING = 1
KEEPALIVE_PONG = 2

#: Initial buffer size libvirt starts with.
MESSAGE_INITIAL = 65536
#: Largest message, header + payload, not counting the length word.
MESSAGE_MAX = 16777216
#: Size of the serialised header.
HEADER_MAX = 24
#: Largest payload.
PAYLOAD_MAX = MESSAGE_MAX - HEADER_MAX
#: Size of the length word.
LEN_MAX = 4
#: Longest string (VIR_NET_MESSAGE_STRING_MAX).
STRING_MAX = 4194304
#: Most file descriptors passed with one message.
NUM_FDS_MAX = 32


class ProtocolError(ValueError):
    """A framing violation: bad length word, short header, bad field values."""


class XdrError(ValueError):
    """Raised for anything that cannot be encoded or decoded as XDR.

    Defined here, the module every RPC user loads anyway, and re-exported by
    :mod:`pyvirt.rpc.xdr` (its home name): the client's codecs need the
    exception but not the Packer / Unpacker classes.
    """


XdrError.__module__ = "pyvirt.rpc.xdr"


#: ``virNetMessageType`` values as plain ints (the :class:`MessageType` enum has the same).
MSG_CALL = 0
MSG_REPLY = 1
MSG_MESSAGE = 2
MSG_STREAM = 3
MSG_CALL_WITH_FDS = 4
MSG_REPLY_WITH_FDS = 5
#: ``virNetMessageStatus`` values as plain ints (the :class:`MessageStatus` enum has the same).
STATUS_OK = 0
STATUS_ERROR = 1
STATUS_CONTINUE = 2

# MessageType, MessageStatus (IntEnums) and Header (a namedtuple) are built on
# first use (module __getattr__): ``enum`` and ``collections`` cost pyvirsh
# start-up time, and the client's fast path needs none of them.

if TYPE_CHECKING:

    class MessageType(enum.IntEnum):
        """``virNetMessageType``."""

        CALL = 0
        REPLY = 1
        MESSAGE = 2
        STREAM = 3
        CALL_WITH_FDS = 4
        REPLY_WITH_FDS = 5

    class MessageStatus(enum.IntEnum):
        """``virNetMessageStatus``."""

        OK = 0
        ERROR = 1
        CONTINUE = 2

    class Header(NamedTuple):
        """``virNetMessageHeader``: the six fields after the length word."""

        prog: int
        vers: int
        proc: int
        type: int
        serial: int
        status: int


def _build_lazy(name: str) -> object:
    if name == "Header":
        from collections import namedtuple

        header = namedtuple("Header", "prog vers proc type serial status", module=__name__)  # type: ignore[name-match]
        header.__doc__ = "``virNetMessageHeader``: the six fields after the length word."
        return header
    import enum

    if name == "MessageType":
        members = {
            "CALL": MSG_CALL,
            "REPLY": MSG_REPLY,
            "MESSAGE": MSG_MESSAGE,
            "STREAM": MSG_STREAM,
            "CALL_WITH_FDS": MSG_CALL_WITH_FDS,
            "REPLY_WITH_FDS": MSG_REPLY_WITH_FDS,
        }
        doc = "``virNetMessageType``."
    else:
        members = {"OK": STATUS_OK, "ERROR": STATUS_ERROR, "CONTINUE": STATUS_CONTINUE}
        doc = "``virNetMessageStatus``."
    cls = enum.IntEnum(name, members, module=__name__)  # type: ignore[misc]
    cls.__doc__ = doc
    return cls


def _lazy(name: str) -> object:
    value = globals().get(name)
    if value is None:
        value = globals()[name] = _build_lazy(name)
    return value


def __getattr__(name: str) -> object:
    """Build :class:`Header`, :class:`MessageType` or :class:`MessageStatus` on first use."""
    if name not in ("Header", "MessageType", "MessageStatus"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _lazy(name)


# length word + header, in one go: prog/vers/serial unsigned, the rest signed.
_FRAME = Struct(">IIIiiIi")
_HEADER = Struct(">IIiiIi")
_LEN = Struct(">I")


def check_length(length: int) -> int:
    """Validate a length word and return the number of bytes that follow it.

    Raises :class:`ProtocolError` when the packet could not even hold a header
    or is larger than ``MESSAGE_MAX`` (+ the length word).
    """
    if length < LEN_MAX + HEADER_MAX:
        raise ProtocolError(f"packet length {length} is too small for a message header")
    if length - LEN_MAX > MESSAGE_MAX:
        raise ProtocolError(f"packet length {length} exceeds the maximum of {MESSAGE_MAX + LEN_MAX}")
    return length - LEN_MAX


def pack_message(header: Header, payload: bytes = b"") -> bytes:
    """Frame one message: length word (counting itself), header, payload.

    Raises :class:`ProtocolError` if the payload is too large or a header
    field does not fit its 32-bit slot.
    """
    if len(payload) > PAYLOAD_MAX:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds the maximum of {PAYLOAD_MAX}")
    try:
        frame = _FRAME.pack(LEN_MAX + HEADER_MAX + len(payload), *header)
    except _StructError as err:
        raise ProtocolError(f"invalid message header {header!r}: {err}") from err
    return frame + payload if payload else frame


def unpack_header(data: bytes | bytearray | memoryview) -> Header:
    """Decode the 24-byte header at the start of ``data`` (after the length word).

    Raises :class:`ProtocolError` if fewer than 24 bytes are given.
    """
    if len(data) < HEADER_MAX:
        raise ProtocolError(f"message of {len(data)} bytes is too short for a header")
    header: Header = _lazy("Header")(*_HEADER.unpack_from(data, 0))  # type: ignore[operator]
    return header


def keepalive_message(proc: int) -> bytes:
    """Return a complete keepalive PING (1) or PONG (2) message (28 bytes)."""
    return _FRAME.pack(
        LEN_MAX + HEADER_MAX, KEEPALIVE_PROGRAM, KEEPALIVE_PROTOCOL_VERSION, proc, MSG_MESSAGE, 0, STATUS_OK
    )
