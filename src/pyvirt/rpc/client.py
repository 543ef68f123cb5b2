"""A small blocking RPC client for libvirt's remote protocol over a Unix socket.

This is on ``pyvirsh``'s start-up path, so it uses only light standard
library modules.  It is not thread-safe: one thread drives one client.

The client answers the server's keepalive PINGs, decodes events (MESSAGE
type) and either hands them to a handler or queues them, and sends nothing
on its own besides the calls it is asked to make.
"""

from __future__ import annotations

import time

# _socket, not socket: socket.py builds IntEnums and imports selectors and
# array, several milliseconds of every pyvirsh run.  ``select``, ``logging``,
# ``collections`` (deque, namedtuple) are imported only where needed.
from _socket import AF_UNIX, SOCK_STREAM
from _socket import socket as _socket
from _struct import error as _StructError  # type: ignore[attr-defined]

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.rpc.protocol import (
    _FRAME,
    _HEADER,
    _LEN,
    HEADER_MAX,
    KEEPALIVE_PING,
    KEEPALIVE_PONG,
    KEEPALIVE_PROGRAM,
    LEN_MAX,
    MSG_CALL,
    MSG_MESSAGE,
    MSG_REPLY,
    MSG_REPLY_WITH_FDS,
    MSG_STREAM,
    PAYLOAD_MAX,
    REMOTE_PROGRAM,
    REMOTE_PROTOCOL_VERSION,
    STATUS_CONTINUE,
    STATUS_ERROR,
    STATUS_OK,
    ProtocolError,
    XdrError,
    check_length,
    keepalive_message,
)
from pyvirt.rpc.remote import PROCEDURES, decode, decode_error

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any, NamedTuple

__all__ = ["Event", "EventHandler", "RpcClient"]


def _warn(msg: str, *args: object) -> None:
    """Log a warning; ``logging`` is imported only here, keeping it off pyvirsh's start-up path."""
    import logging

    logging.getLogger(__name__).warning(msg, *args)


_RECV_SIZE = 65536
_RECV_MAX = 4 * 1024 * 1024
_FRAME_SIZE = LEN_MAX + HEADER_MAX

# A received header is a plain tuple (prog, vers, proc, type, serial, status).
_PROG, _VERS, _PROC, _TYPE, _SERIAL, _STATUS = range(6)


if TYPE_CHECKING:

    class Event(NamedTuple):
        """An event received from the server.

        ``msg`` is the decoded message (a dict) for REMOTE_PROGRAM events in the
        procedure table, otherwise the raw payload bytes.
        """

        program: int
        proc: int
        msg: Any

    EventHandler = Callable[[Event], None]


def _event_class() -> type[Event]:
    """The :class:`Event` namedtuple, built on first use (``collections`` is slow to import)."""
    known: type[Event] | None = globals().get("Event")
    if known is not None:
        return known
    from collections import namedtuple

    cls: Any = namedtuple("Event", "program proc msg", module=__name__)  # type: ignore[name-match]
    cls.__doc__ = "An event received from the server (``msg``: decoded dict or raw payload bytes)."
    globals()["Event"] = cls
    return globals()["Event"]  # type: ignore[no-any-return]


def __getattr__(name: str) -> Any:
    if name == "Event":
        return _event_class()
    if name == "EventHandler":
        from collections.abc import Callable

        return Callable[[_event_class()], None]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        self._events: list[Event] = []
        self._handler: EventHandler | None = None
        # STREAM messages by the serial of the call that opened the stream.
        self._streams: dict[int, deque[tuple[int, bytes]]] = {}
        sock = _socket(AF_UNIX, SOCK_STREAM)
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
        self._sock: _socket | None = sock

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
                handler(self._events.pop(0))

    def events(self) -> list[Event]:
        """Return and forget the events queued so far, without waiting."""
        out = self._events
        self._events = []
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
        from collections import deque

        serial = self._serial
        self._streams[serial] = deque()
        try:
            self._call(proc, args, REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION)
        except BaseException:
            del self._streams[serial]
            raise
        return serial

    def stream_send(self, proc: int, serial: int, data: bytes, status: int = STATUS_CONTINUE) -> None:
        """Send stream bytes (CONTINUE), or end the stream (OK, empty data)."""
        from pyvirt.rpc.protocol import Header, pack_message

        header = Header(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, proc, MSG_STREAM, serial, status)
        self._send(self._require_sock(), pack_message(header, data))

    def stream_recv(self, serial: int, timeout: float | None = None) -> tuple[int, bytes] | None:
        """The next ``(status, data)`` of stream ``serial``; None on timeout.

        Status CONTINUE carries data; OK (empty) is the end of the stream;
        ERROR raises the server's error.
        """
        queue = self._streams.get(serial)
        if queue is None:
            from collections import deque

            queue = self._streams[serial] = deque()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not queue:
            msg = self._read_message(deadline)
            if msg is None:
                return None
            self._handle_unsolicited(*msg)
        status, data = queue.popleft()
        if status == STATUS_ERROR:
            self._streams.pop(serial, None)
            raise decode_error(data)
        if status == STATUS_OK:
            self._streams.pop(serial, None)
        return status, data

    def _call(self, proc: int, args: Any, program: int, version: int) -> tuple[Any, int]:
        sock = self._require_sock()
        serial = self._serial
        message, entry = self._encode_call(proc, args, program, version, serial)
        self._serial = (serial + 1) & 0xFFFFFFFF
        self._send(sock, message)
        header, body = self._await_reply(proc, serial, program)
        return self._finish_reply(header, body, entry), serial

    def _encode_call(
        self, proc: int, args: Any, program: int, version: int, serial: int
    ) -> tuple[bytearray, Any]:
        """The framed CALL message and the table entry of ``proc`` (None outside the table)."""
        entry = PROCEDURES.get(proc) if program == REMOTE_PROGRAM else None
        # One buffer: room for the length word and header, then the payload.
        message = bytearray(_FRAME_SIZE)
        try:
            if entry is not None:
                entry.args._enc(message, args)
            else:
                message += bytes(args or b"")
        except (XdrError, TypeError) as err:
            raise _rpc_error(f"Unable to encode message payload: {err}") from err
        size = len(message)
        try:
            if size - _FRAME_SIZE > PAYLOAD_MAX:
                raise ProtocolError(
                    f"payload of {size - _FRAME_SIZE} bytes exceeds the maximum of {PAYLOAD_MAX}"
                )
            try:
                _FRAME.pack_into(message, 0, size, program, version, proc, MSG_CALL, serial, STATUS_OK)
            except _StructError:
                # a header field out of range: let pack_message word the error
                from pyvirt.rpc.protocol import Header, MessageStatus, MessageType, pack_message

                bad = Header(program, version, proc, MessageType.CALL, serial, MessageStatus.OK)
                pack_message(bad, bytes(message[_FRAME_SIZE:]))
                raise
        except ProtocolError as err:
            raise _rpc_error(str(err)) from err
        return message, entry

    def _await_reply(self, proc: int, serial: int, program: int) -> tuple[tuple[int, ...], bytes]:
        """Read messages until the reply to ``serial``; others are handled as unsolicited."""
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
            header = msg[0]
            if (
                (header[_TYPE] == MSG_REPLY or header[_TYPE] == MSG_REPLY_WITH_FDS)
                and header[_SERIAL] == serial
                and header[_PROG] == program
            ):
                return msg
            self._handle_unsolicited(*msg)

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

    def _require_sock(self) -> _socket:
        if self._sock is None:
            raise VirtError(ErrorNumber.INVALID_CONN, ErrorDomain.RPC, "client socket is closed")
        return self._sock

    def _break(self) -> None:
        self.close()

    def _send(self, sock: _socket, data: bytes | bytearray) -> None:
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

    def _finish_reply(self, header: tuple[int, ...], body: bytes, entry: Any) -> Any:
        if header[_TYPE] == MSG_REPLY_WITH_FDS:
            # The FD count comes first; FDs themselves are not supported here.
            body = body[4:]
        status = header[_STATUS]
        if status == STATUS_ERROR:
            try:
                raise decode_error(body)
            except XdrError as err:
                raise _rpc_error("Unable to decode message payload") from err
        if status != STATUS_OK:
            raise _rpc_error(f"Unexpected message status {status}")
        if entry is None:
            return body
        try:
            return decode(entry.ret, body)
        except XdrError as err:
            raise _rpc_error("Unable to decode message payload") from err

    def _handle_unsolicited(self, header: tuple[int, ...], body: bytes) -> None:
        """Deal with a message that is not the reply being waited for."""
        prog, _vers, proc, mtype, serial, status = header
        if prog == KEEPALIVE_PROGRAM:
            if proc == KEEPALIVE_PING:
                self._send(self._require_sock(), keepalive_message(KEEPALIVE_PONG))
            return
        if mtype == MSG_STREAM and serial in self._streams:
            self._streams[serial].append((status, body))
            return
        if mtype != MSG_MESSAGE:
            _warn(
                "ignoring unexpected message prog=%#x proc=%d type=%d serial=%d",
                prog,
                proc,
                mtype,
                serial,
            )
            return
        msg: Any = body
        entry = PROCEDURES.get(proc) if prog == REMOTE_PROGRAM else None
        if entry is not None:
            try:
                msg = decode(entry.args, body)
            except XdrError as err:
                _warn("dropping undecodable event %d: %s", proc, err)
                return
        event = _event_class()(prog, proc, msg)
        if self._handler is not None:
            self._handler(event)
        else:
            self._events.append(event)

    def _read_message(self, deadline: float | None) -> tuple[tuple[int, ...], bytes] | None:
        """Read one whole message as ``(header tuple, payload)``; ``None`` if ``deadline`` passed first."""
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
                    header = _HEADER.unpack_from(buf, LEN_MAX)
                    view = memoryview(buf)
                    try:
                        body = view[_FRAME_SIZE:length].tobytes()  # one copy, not two
                    finally:
                        view.release()
                    if length == len(buf):
                        self._rbuf = bytearray()
                    else:
                        del buf[:length]
                    return header, body
                wanted = length - len(buf)
            else:
                wanted = _FRAME_SIZE
            if not self._fill(deadline, wanted):
                return None

    def _fill(self, deadline: float | None, wanted: int) -> bool:
        """Receive up to ``wanted`` more bytes (at least one chunk) into the buffer; False on timeout."""
        sock = self._require_sock()
        if deadline is not None:
            import select

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
        if self._rbuf:
            self._rbuf += chunk
        else:
            self._rbuf = bytearray(chunk)
        return True
