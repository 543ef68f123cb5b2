"""A small blocking RPC client for libvirt's remote protocol over a Unix socket.

This is on ``pyvirsh``'s start-up path, so it uses only light standard
library modules.  It is not thread-safe: one thread drives one client.

The client answers the server's keepalive PINGs, decodes events (MESSAGE
type) and either hands them to a handler or queues them, and sends nothing
on its own besides the calls it is asked to make.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections import deque, namedtuple
from collections.abc import Callable

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.rpc.protocol import (
    HEADER_MAX,
    KEEPALIVE_PING,
    KEEPALIVE_PONG,
    KEEPALIVE_PROGRAM,
    LEN_MAX,
    REMOTE_PROGRAM,
    REMOTE_PROTOCOL_VERSION,
    Header,
    MessageStatus,
    MessageType,
    ProtocolError,
    check_length,
    keepalive_message,
    pack_message,
    unpack_header,
)
from pyvirt.rpc.remote import PROCEDURES, decode, decode_error, encode
from pyvirt.rpc.xdr import XdrError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any, NamedTuple

__all__ = ["Event", "EventHandler", "RpcClient"]


def _warn(msg: str, *args: object) -> None:
    """Log a warning; ``logging`` is imported only here, keeping it off pyvirsh's start-up path."""
    import logging

    logging.getLogger(__name__).warning(msg, *args)


_LEN = struct.Struct(">I")
_RECV_SIZE = 65536
_RECV_MAX = 4 * 1024 * 1024


if TYPE_CHECKING:

    class Event(NamedTuple):
        """An event received from the server.

        ``msg`` is the decoded message (a dict) for REMOTE_PROGRAM events in the
        procedure table, otherwise the raw payload bytes.
        """

        program: int
        proc: int
        msg: Any

else:
    Event = namedtuple("Event", "program proc msg")
    Event.__doc__ = "An event received from the server (``msg``: decoded dict or raw payload bytes)."


EventHandler = Callable[[Event], None]


def _rpc_error(detail: str) -> VirtError:
    return VirtError(ErrorNumber.RPC, ErrorDomain.RPC, detail)


class RpcClient:
    """A connection to a libvirt-protocol daemon on a Unix socket.

    Raises :class:`VirtError` (VIR_ERR_SYSTEM_ERROR, domain RPC) with
    libvirt's wording ``Failed to connect socket to '<path>': <strerror>``
    when the socket cannot be reached.  ``timeout`` (seconds) bounds every
    wait for a reply; ``None`` waits for ever.
    """

    def __init__(self, path: str, *, timeout: float | None = None) -> None:
        self.path = path
        self.timeout = timeout
        self._serial = 0
        self._rbuf = bytearray()
        self._events: deque[Event] = deque()
        self._handler: EventHandler | None = None
        # STREAM messages by the serial of the call that opened the stream.
        self._streams: dict[int, deque[tuple[int, bytes]]] = {}
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError as err:
            sock.close()
            raise VirtError(
                ErrorNumber.SYSTEM_ERROR,
                ErrorDomain.RPC,
                f"Failed to connect socket to '{path}': {err.strerror or err}",
                int1=err.errno or -1,
            ) from err
        self._sock: socket.socket | None = sock

    # -- public API -------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called or the connection broke."""
        return self._sock is None

    def fileno(self) -> int:
        """The socket's file descriptor (for ``select``); raises :class:`VirtError` when closed."""
        return self._require_sock().fileno()

    def set_event_handler(self, handler: EventHandler | None) -> None:
        """Deliver events to ``handler`` instead of queueing them (``None`` queues again).

        Events already queued are handed to the new handler at once.
        """
        self._handler = handler
        if handler is not None:
            while self._events:
                handler(self._events.popleft())

    def events(self) -> list[Event]:
        """Return and forget the events queued so far, without waiting."""
        out = list(self._events)
        self._events.clear()
        return out

    def poll_events(self, timeout: float | None = None) -> list[Event]:
        """Wait up to ``timeout`` seconds for traffic and return the queued events.

        Returns at once if events are already queued.  Keepalive PINGs that
        arrive meanwhile are answered.  With a handler set, events go to the
        handler and the returned list is empty.  Raises :class:`VirtError` if
        the connection breaks.
        """
        if not self._events:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._events:
                msg = self._read_message(deadline)
                if msg is None:
                    break
                self._handle_unsolicited(*msg)
                if self._handler is not None and not self._rbuf:
                    break
        return self.events()

    def call(
        self,
        proc: int,
        args: Any = None,
        program: int = REMOTE_PROGRAM,
        version: int = REMOTE_PROTOCOL_VERSION,
    ) -> Any:
        """Call ``proc`` and return its decoded result (``None`` for void).

        For REMOTE_PROGRAM procedures in the table, ``args`` is encoded with
        the table's codec (a dict, or ``None`` for void) and the reply is
        decoded; for anything else ``args`` must be encoded ``bytes`` and the
        raw reply payload is returned.  Raises the server's
        :class:`VirtError` on an error reply, and a :class:`VirtError` with
        VIR_ERR_RPC for encoding, decoding or framing failures or a timeout
        (VIR_ERR_SYSTEM_ERROR when the connection drops).
        """
        return self._call(proc, args, program, version)[0]

    def call_stream(self, proc: int, args: Any = None) -> int:
        """Call ``proc`` (e.g. DOMAIN_OPEN_CONSOLE) that opens a data stream.

        Returns the stream's serial for :meth:`stream_send` /
        :meth:`stream_recv`.  Raises like :meth:`call`.
        """
        serial = self._serial
        self._streams[serial] = deque()
        try:
            self._call(proc, args, REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION)
        except BaseException:
            del self._streams[serial]
            raise
        return serial

    def stream_send(self, proc: int, serial: int, data: bytes, status: int = MessageStatus.CONTINUE) -> None:
        """Send stream bytes (CONTINUE), or end the stream (OK, empty data)."""
        header = Header(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, proc, MessageType.STREAM, serial, status)
        self._send(self._require_sock(), pack_message(header, data))

    def stream_recv(self, serial: int, timeout: float | None = None) -> tuple[int, bytes] | None:
        """The next ``(status, data)`` of stream ``serial``; None on timeout.

        Status CONTINUE carries data; OK (empty) is the end of the stream;
        ERROR raises the server's error.
        """
        queue = self._streams.setdefault(serial, deque())
        deadline = None if timeout is None else time.monotonic() + timeout
        while not queue:
            msg = self._read_message(deadline)
            if msg is None:
                return None
            self._handle_unsolicited(*msg)
        status, data = queue.popleft()
        if status == MessageStatus.ERROR:
            self._streams.pop(serial, None)
            raise decode_error(data)
        if status == MessageStatus.OK:
            self._streams.pop(serial, None)
        return status, data

    def _call(self, proc: int, args: Any, program: int, version: int) -> tuple[Any, int]:
        sock = self._require_sock()
        entry = PROCEDURES.get(proc) if program == REMOTE_PROGRAM else None
        try:
            payload = encode(entry.args, args) if entry is not None else bytes(args or b"")
        except (XdrError, TypeError) as err:
            raise _rpc_error(f"Unable to encode message payload: {err}") from err
        serial = self._serial
        self._serial = (serial + 1) & 0xFFFFFFFF
        try:
            message = pack_message(
                Header(program, version, proc, MessageType.CALL, serial, MessageStatus.OK), payload
            )
        except ProtocolError as err:
            raise _rpc_error(str(err)) from err
        self._send(sock, message)

        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            msg = self._read_message(deadline)
            if msg is None:
                self._break()
                raise VirtError(
                    ErrorNumber.OPERATION_TIMEOUT,
                    ErrorDomain.RPC,
                    f"no reply to procedure {proc} within {self.timeout} seconds",
                )
            header, body = msg
            if (
                header.type in (MessageType.REPLY, MessageType.REPLY_WITH_FDS)
                and header.serial == serial
                and header.prog == program
            ):
                return self._finish_reply(header, body, entry), serial
            self._handle_unsolicited(header, body)

    def close(self) -> None:
        """Close the socket (sends nothing); safe to call twice."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals ----------------------------------------------------------

    def _require_sock(self) -> socket.socket:
        if self._sock is None:
            raise VirtError(ErrorNumber.INVALID_CONN, ErrorDomain.RPC, "client socket is closed")
        return self._sock

    def _break(self) -> None:
        self.close()

    def _send(self, sock: socket.socket, data: bytes) -> None:
        try:
            sock.sendall(data)
        except OSError as err:
            self._break()
            raise VirtError(
                ErrorNumber.SYSTEM_ERROR,
                ErrorDomain.RPC,
                f"Cannot write data: {err.strerror or err}",
                int1=err.errno or -1,
            ) from err

    def _finish_reply(self, header: Header, body: bytes, entry: Any) -> Any:
        if header.type == MessageType.REPLY_WITH_FDS:
            # The FD count comes first; FDs themselves are not supported here.
            body = body[4:]
        if header.status == MessageStatus.ERROR:
            try:
                raise decode_error(body)
            except XdrError as err:
                raise _rpc_error("Unable to decode message payload") from err
        if header.status != MessageStatus.OK:
            raise _rpc_error(f"Unexpected message status {header.status}")
        if entry is None:
            return body
        try:
            return decode(entry.ret, body)
        except XdrError as err:
            raise _rpc_error("Unable to decode message payload") from err

    def _handle_unsolicited(self, header: Header, body: bytes) -> None:
        """Deal with a message that is not the reply being waited for."""
        if header.prog == KEEPALIVE_PROGRAM:
            if header.proc == KEEPALIVE_PING:
                self._send(self._require_sock(), keepalive_message(KEEPALIVE_PONG))
            return
        if header.type == MessageType.STREAM and header.serial in self._streams:
            self._streams[header.serial].append((header.status, body))
            return
        if header.type != MessageType.MESSAGE:
            _warn(
                "ignoring unexpected message prog=%#x proc=%d type=%d serial=%d",
                header.prog,
                header.proc,
                header.type,
                header.serial,
            )
            return
        msg: Any = body
        entry = PROCEDURES.get(header.proc) if header.prog == REMOTE_PROGRAM else None
        if entry is not None:
            try:
                msg = decode(entry.args, body)
            except XdrError as err:
                _warn("dropping undecodable event %d: %s", header.proc, err)
                return
        event = Event(header.prog, header.proc, msg)
        if self._handler is not None:
            self._handler(event)
        else:
            self._events.append(event)

    def _read_message(self, deadline: float | None) -> tuple[Header, bytes] | None:
        """Read one whole message; ``None`` if ``deadline`` passed first."""
        while True:
            buf = self._rbuf
            if len(buf) >= LEN_MAX:
                (length,) = _LEN.unpack_from(buf, 0)
                try:
                    check_length(length)
                except ProtocolError as err:
                    self._break()
                    raise _rpc_error(str(err)) from err
                if len(buf) >= length:
                    header = unpack_header(buf[LEN_MAX : LEN_MAX + HEADER_MAX])
                    body = bytes(buf[LEN_MAX + HEADER_MAX : length])
                    del buf[:length]
                    return header, body
                wanted = length - len(buf)
            else:
                wanted = LEN_MAX + HEADER_MAX
            if not self._fill(deadline, wanted):
                return None

    def _fill(self, deadline: float | None, wanted: int) -> bool:
        """Receive up to ``wanted`` more bytes (at least one chunk) into the buffer; False on timeout."""
        sock = self._require_sock()
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([sock], [], [], remaining)
            if not ready:
                return False
        try:
            chunk = sock.recv(min(max(wanted, _RECV_SIZE), _RECV_MAX))
        except OSError as err:
            self._break()
            raise VirtError(
                ErrorNumber.SYSTEM_ERROR,
                ErrorDomain.RPC,
                f"Cannot recv data: {err.strerror or err}",
                int1=err.errno or -1,
            ) from err
        if not chunk:
            self._break()
            raise VirtError(
                ErrorNumber.SYSTEM_ERROR,
                ErrorDomain.RPC,
                "End of file while reading data: Input/output error",
            )
        self._rbuf += chunk
        return True
