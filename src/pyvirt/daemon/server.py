"""The daemon: sockets, one protocol object per client, calls dispatched concurrently.

Each client connection cuts frames out of the bytes as they arrive.
Keepalive PINGs and calls that need not wait (lookups, lists, state) are
answered at once; a call that waits (a job lock, QEMU, the disk) becomes its
own task, as libvirtd's worker pool would run it, bounded per client.  Replies
are written whole, so frames never interleave.  A client that breaks the
framing rules is disconnected; nothing it sends can stop the daemon serving
others.

Memory stays bounded whatever clients send: a frame's body is buffered only
as its bytes arrive (announcing 16 MiB and sending nothing costs nothing),
each client has at most ``MAX_CLIENT_REQUESTS`` waiting calls, frames above
``BIG_FRAME`` bytes are admitted ``MAX_BIG_FRAMES`` at a time daemon-wide (a
client sending one waits, others' small calls do not), and a client that does
not read its replies is not read from until it does.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import signal
import socket
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pyvirt.daemon.dispatch import Dispatcher, call_serial
from pyvirt.daemon.events import EventBus
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.layout import Layout
from pyvirt.network.driver import NetworkDriver
from pyvirt.qemu.driver import DomainDriver
from pyvirt.rpc import protocol, remote
from pyvirt.rpc.protocol import Header, MessageStatus, MessageType
from pyvirt.rpc.xdr import Packer, XdrError
from pyvirt.sockets import BACKLOG, Listener, close_listeners, open_listeners

if TYPE_CHECKING:
    from pyvirt.daemon.streams import ConsoleStream

log = logging.getLogger(__name__)

# libvirtd's keepalive_interval and keepalive_count.
KEEPALIVE_INTERVAL = 5.0
KEEPALIVE_COUNT = 5

# libvirtd's max_client_requests: calls in flight per client before we stop reading.
MAX_CLIENT_REQUESTS = 5
# Frames larger than this (header + payload) need one of MAX_BIG_FRAMES daemon-wide
# slots from the moment their body is read until their call has been answered.
BIG_FRAME = 1024 * 1024
MAX_BIG_FRAMES = 4
# Bytes of unsent messages at which a client that does not read its events is dropped.
MAX_EVENT_BACKLOG = 4 * 1024 * 1024
_LEN = struct.Struct(">I")

_client_ids = itertools.count(1)


class Daemon:
    """One pyvirtd instance: drivers, event bus and the two listening sockets."""

    def __init__(
        self,
        layout: Layout,
        *,
        define_default_network: bool = True,
        autostart: bool = True,
        qemu_user: str | None = None,
        listeners: list[Listener] | None = None,
    ) -> None:
        self.layout = layout
        # made by pyvirtd before it loaded the drivers, or made by run()
        self._listeners = listeners or []
        self.events = EventBus()
        self.networks = NetworkDriver(layout, emit=self.events.network_lifecycle)
        self.domains = DomainDriver(
            layout,
            self.networks,
            emit=self.events.domain_lifecycle,
            emit_event=self.events.domain_event,
            qemu_user=qemu_user,
        )
        self._define_default_network = define_default_network
        self._autostart = autostart
        self._stop = asyncio.Event()
        self._servers: list[asyncio.base_events.Server] = []
        self.clients: set[ClientConnection] = set()
        self.big_frames = FrameSlots(MAX_BIG_FRAMES)
        self.dispatcher = Dispatcher(self)

    def request_stop(self) -> None:
        log.info("stop requested")
        self._stop.set()

    async def run(self) -> None:
        """Load state, serve until asked to stop, then close cleanly.

        Clients that connected to sockets pyvirtd made before it loaded the
        drivers are served from here on.
        """
        self.layout.run.mkdir(parents=True, exist_ok=True)
        await self.networks.initialize(define_default=self._define_default_network)
        await self.domains.initialize()
        await self._listen()
        log.info("pyvirtd serving on %s", self.layout.socket_rw)
        if not gc.isenabled():
            # pyvirtd.main stopped the collector for start-up.  What start-up made lives as long
            # as the daemon: the collector need never scan it again (and enabled as it is, its
            # next pass would scan all of it, before the first call is answered).
            gc.freeze()
            gc.enable()
        self.domains.probe_caps_in_background()
        if self._autostart:
            await self.networks.autostart_all()
            await self.domains.autostart_all()
        await self._stop.wait()
        await self.shutdown()

    async def _listen(self) -> None:
        if not self._listeners:
            self._listeners = open_listeners(self.layout.socket_rw, self.layout.socket_ro)
        loop = asyncio.get_running_loop()
        for listener in self._listeners:
            server = await loop.create_unix_server(
                self._client_factory(listener.readonly), sock=listener.sock, backlog=BACKLOG
            )
            self._servers.append(server)

    def _client_factory(self, readonly: bool) -> Callable[[], ClientConnection]:
        return lambda: ClientConnection(self, readonly=readonly)

    async def shutdown(self) -> None:
        for server in self._servers:
            server.close()
        for client in list(self.clients):
            client.close()
        for server in self._servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 2)
            except TimeoutError:
                pass
        close_listeners(self._listeners)
        await self.domains.close()
        await self.networks.close()


def run_until_stopped(daemon: Daemon) -> None:
    """Run ``daemon`` on a new event loop until SIGTERM or SIGINT asks it to stop.

    Raises what :meth:`Daemon.run` raises.
    """

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, daemon.request_stop)
        await daemon.run()

    asyncio.run(run())


class FrameSlots:
    """Daemon-wide admission of big frames: ``size`` at a time, the rest wait in order."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._waiting: deque[Callable[[], None]] = deque()

    def try_acquire(self, wake: Callable[[], None]) -> bool:
        """Take a slot now, or queue ``wake`` to be called once one is given to the caller."""
        if self.free > 0:
            self.free -= 1
            return True
        self._waiting.append(wake)
        return False

    def cancel(self, wake: Callable[[], None]) -> None:
        """Stop waiting (the connection went away)."""
        try:
            self._waiting.remove(wake)
        except ValueError:
            pass

    def release(self) -> None:
        if self._waiting:
            self._waiting.popleft()()  # the slot passes straight to the next waiter
        else:
            self.free += 1


class ClientConnection(asyncio.Protocol):
    """One connected client: its open state, read-only flag, events and transport.

    Frames are cut out of the byte stream as data arrives.  A call whose
    handler does not wait is answered right there; one that waits becomes a
    task.  Reading pauses while the client has ``MAX_CLIENT_REQUESTS`` such
    tasks in flight, while its big frame waits for a slot, and while the
    client does not read what we write.
    """

    def __init__(self, daemon: Daemon, *, readonly: bool) -> None:
        self.id = next(_client_ids)
        self.daemon = daemon
        self.socket_readonly = readonly
        self.readonly = readonly
        self.opened = False
        self.peer_uid: int | None = None
        self.close_callback = False
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._body_size = 0  # of the frame being received; 0 while waiting for a length word
        self._holds_big = False  # that frame holds one of the daemon's big-frame slots
        self._paused_by: set[str] = set()
        self._reading_paused = False
        self._writing_paused = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._last_rx = time.monotonic()
        self._keepalive: asyncio.Task[None] | None = None
        # Open data streams (console) by call serial; started once their reply is out.
        self.streams: dict[int, ConsoleStream] = {}
        self.pending_streams: dict[int, ConsoleStream] = {}

    def __hash__(self) -> int:
        return self.id

    # -- transport callbacks -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer_uid = _peer_uid(transport)
        self.daemon.clients.add(self)
        log.debug("client %d connected (uid %s, %s)", self.id, self.peer_uid, "ro" if self.readonly else "rw")

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()
        for task in list(self._tasks):
            task.cancel()
        if self._holds_big:
            self._holds_big = False
            self.daemon.big_frames.release()
        self.daemon.big_frames.cancel(self._big_slot_given)
        self._buf = bytearray()
        self.daemon.clients.discard(self)
        self.daemon.events.drop_client(self)
        log.debug("client %d disconnected", self.id)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._last_rx = time.monotonic()
        self._buf += data
        self._process()

    def eof_received(self) -> bool:
        return False  # close our side too

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._pause("write")
        for stream in self.streams.values():
            stream.pause_output()

    def resume_writing(self) -> None:
        self._writing_paused = False
        for stream in list(self.streams.values()):
            stream.resume_output()
        self._resume("write")

    # -- reading -------------------------------------------------------------

    def _pause(self, reason: str) -> None:
        self._paused_by.add(reason)
        if not self._reading_paused and self.transport is not None and not self._closing:
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume(self, reason: str) -> None:
        self._paused_by.discard(reason)
        if self._paused_by or self._closing:
            return
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        self._process()  # frames that arrived before the pause

    def _big_slot_given(self) -> None:
        self._holds_big = True
        self._resume("big-frame")

    def _process(self) -> None:
        """Handle every complete frame in the buffer, unless something paused us."""
        buf = self._buf
        while not self._paused_by and not self._closing:
            if not self._body_size:
                if len(buf) < protocol.LEN_MAX:
                    return
                try:
                    size = protocol.check_length(_LEN.unpack_from(buf)[0])
                except protocol.ProtocolError as err:
                    log.warning("client %d: %s; disconnecting", self.id, err)
                    self.close()
                    return
                del buf[: protocol.LEN_MAX]
                self._body_size = size
                if size > BIG_FRAME and not self._holds_big:
                    if self.daemon.big_frames.try_acquire(self._big_slot_given):
                        self._holds_big = True
                    else:
                        self._pause("big-frame")
                        return
            size = self._body_size
            if len(buf) < size:
                return
            header = protocol.unpack_header(buf)
            payload = bytes(memoryview(buf)[protocol.HEADER_MAX : size])
            del buf[:size]
            self._body_size = 0
            big, self._holds_big = self._holds_big, False
            try:
                self._handle(header, payload, big)
            except Exception:
                log.exception("client %d: cannot handle message; disconnecting", self.id)
                if big:
                    self.daemon.big_frames.release()
                self.close()
                return

    def _handle(self, header: Header, payload: bytes, big: bool) -> None:
        """Act on one frame; ``big``: it holds a big-frame slot, to give back once answered."""
        if header.type != MessageType.CALL or header.prog != protocol.REMOTE_PROGRAM:
            if big:
                self.daemon.big_frames.release()
            self._handle_other(header, payload)
            return
        if header.vers != protocol.REMOTE_PROTOCOL_VERSION:
            err = VirtError(
                ErrorNumber.RPC, ErrorDomain.RPC, f"cannot find program {header.prog} version {header.vers}"
            )
        elif header.status != MessageStatus.OK:
            err = VirtError(ErrorNumber.RPC, ErrorDomain.RPC, "Unexpected message status")
        else:
            call_serial.set(header.serial)
            try:
                body = self.daemon.dispatcher.call(self, header.proc, payload)
            except Exception as exc:
                err = self._call_error(header, exc)
            else:
                if isinstance(body, bytes):
                    if big:
                        self.daemon.big_frames.release()
                    self._reply(header, body)
                else:
                    self._start_call(header, body, big)
                return
        if big:
            self.daemon.big_frames.release()
        self.reply_error(header, err)

    def _handle_other(self, header: Header, payload: bytes) -> None:
        """Keepalive, stream data, and messages a client must not send."""
        if header.prog == protocol.KEEPALIVE_PROGRAM:
            if header.proc == protocol.KEEPALIVE_PING and header.type == MessageType.MESSAGE:
                self.send(_KEEPALIVE_PONG, b"")
            return
        if header.type == MessageType.STREAM:
            stream = self.streams.get(header.serial)
            if stream is not None:
                stream.from_client(header.status, payload)
            else:
                # Data can still arrive for a stream we closed: drop it, as libvirtd does.
                log.debug("client %d: ignoring stream data for serial %d", self.id, header.serial)
            return
        if header.type != MessageType.CALL:
            # Replies and events travel server -> client only; calls with fds are
            # not supported.  libvirtd's answer (virNetServerProgramDispatch).
            log.debug("client %d: unexpected message type %d", self.id, header.type)
            err = VirtError(ErrorNumber.RPC, ErrorDomain.RPC, f"Unexpected message type {header.type}")
        else:
            err = VirtError(
                ErrorNumber.RPC, ErrorDomain.RPC, f"cannot find program {header.prog} version {header.vers}"
            )
        self.reply_error(header, err)

    # -- calls that wait -----------------------------------------------------

    def _start_call(self, header: Header, body: Awaitable[bytes], big: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._finish_call(header, body, big))
        self._tasks.add(task)
        task.add_done_callback(self._call_done)
        if len(self._tasks) >= MAX_CLIENT_REQUESTS:
            self._pause("calls")

    def _call_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if len(self._tasks) < MAX_CLIENT_REQUESTS and "calls" in self._paused_by:
            self._resume("calls")

    async def _finish_call(self, header: Header, body: Awaitable[bytes], big: bool) -> None:
        try:
            try:
                reply = await body
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.reply_error(header, self._call_error(header, exc))
                return
        finally:
            if big:
                self.daemon.big_frames.release()
        self._reply(header, reply)

    def _call_error(self, header: Header, exc: Exception) -> VirtError:
        """The error reply for a call that raised ``exc``."""
        if isinstance(exc, VirtError):
            return exc
        if isinstance(exc, XdrError):
            return VirtError(ErrorNumber.RPC, ErrorDomain.RPC, f"Unable to decode message payload: {exc}")
        # A bug must not kill the connection.
        log.error("client %d: procedure %d failed: %s", self.id, header.proc, exc)
        log.debug("traceback", exc_info=exc)
        return VirtError(ErrorNumber.INTERNAL_ERROR, ErrorDomain.RPC, f"unexpected failure: {exc}")

    # -- writing -------------------------------------------------------------

    def _reply(self, header: Header, body: bytes) -> None:
        try:
            self.send(header._replace(type=MessageType.REPLY, status=MessageStatus.OK), body)
        except protocol.ProtocolError as err:
            self.reply_error(header, VirtError(ErrorNumber.RPC, ErrorDomain.RPC, str(err)))
            return
        stream = self.pending_streams.pop(header.serial, None)
        if stream is not None:
            self.streams[header.serial] = stream
            stream.start()
            if self._writing_paused:
                stream.pause_output()
        if header.proc == remote.Proc.CONNECT_CLOSE:
            self.close()

    def reply_error(self, header: Header, err: VirtError) -> None:
        log.debug("client %d: proc %d error: %s", self.id, header.proc, err.message)
        error = header._replace(type=MessageType.REPLY, status=MessageStatus.ERROR)
        self.send(error, remote.encode_error(err))

    def send(self, header: Header, body: bytes) -> None:
        """Queue one message for the client; whole messages, so frames never interleave.

        Raises:
            ProtocolError: ``body`` is larger than a message may be.
        """
        if self._closing or self.transport is None:
            return
        self.transport.write(protocol.pack_message(header, body))

    def send_event(self, proc: int, value: dict[str, Any]) -> None:
        """Send an asynchronous event message (type MESSAGE, serial 0).

        A client that stops reading while events pile up is disconnected
        (more than ``MAX_EVENT_BACKLOG`` bytes unsent), so it cannot make the
        daemon hoard memory.
        """
        if self._closing or self.transport is None:
            return
        if self.transport.get_write_buffer_size() > MAX_EVENT_BACKLOG:
            log.warning("client %d does not read its events; disconnecting it", self.id)
            self.close()
            return
        packer = Packer()
        remote.PROCEDURES[proc].args.pack(packer, value)
        self.send(_EVENT_HEADER._replace(proc=proc), packer.get_buffer())

    # -- keepalive -----------------------------------------------------------

    def start_keepalive(self) -> None:
        """Ping an idle client, and drop it when it stops answering.

        As libvirtd does, only for clients that asked for the keepalive
        feature: a client without an event loop could not answer while idle.
        """
        if self._keepalive is None and not self._closing:
            self._keepalive = asyncio.get_running_loop().create_task(self._keepalive_loop())

    async def _keepalive_loop(self) -> None:
        unanswered = 0
        while not self._closing:
            await asyncio.sleep(KEEPALIVE_INTERVAL)
            if time.monotonic() - self._last_rx < KEEPALIVE_INTERVAL:
                unanswered = 0
                continue
            if unanswered >= KEEPALIVE_COUNT:
                log.warning("client %d: no keepalive response; disconnecting", self.id)
                self.close()
                return
            unanswered += 1
            self.send(_KEEPALIVE_PING, b"")

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._keepalive is not None:
            self._keepalive.cancel()
        for stream in list(self.streams.values()) + list(self.pending_streams.values()):
            stream.close()
        if self.transport is not None:
            self.transport.close()  # replies already queued are still sent


_KEEPALIVE_PING = Header(
    protocol.KEEPALIVE_PROGRAM,
    protocol.KEEPALIVE_PROTOCOL_VERSION,
    protocol.KEEPALIVE_PING,
    MessageType.MESSAGE,
    0,
    MessageStatus.OK,
)
_KEEPALIVE_PONG = _KEEPALIVE_PING._replace(proc=protocol.KEEPALIVE_PONG)
_EVENT_HEADER = Header(
    protocol.REMOTE_PROGRAM, protocol.REMOTE_PROTOCOL_VERSION, 0, MessageType.MESSAGE, 0, MessageStatus.OK
)


def _peer_uid(transport: asyncio.BaseTransport) -> int | None:
    sock = transport.get_extra_info("socket")
    if sock is None:
        return None
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)
