"""The daemon: sockets, one task per client, calls dispatched concurrently.

Each client connection reads frames in a loop.  Keepalive PINGs are answered
inline; every CALL becomes its own task (as libvirtd's worker pool would run
it), bounded per client, and replies are written under a lock so frames never
interleave.  A client that breaks the framing rules is disconnected; nothing it
sends can stop the daemon serving others.

Memory stays bounded whatever clients send: a frame's body is read only as its
bytes arrive (announcing 16 MiB and sending nothing costs nothing), each client
has at most ``MAX_CLIENT_REQUESTS`` calls in flight, and frames above
``BIG_FRAME`` bytes are admitted ``MAX_BIG_FRAMES`` at a time daemon-wide (a
client sending one waits, others' small calls do not).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pyvirt.daemon.events import EventBus
from pyvirt.daemon.streams import ConsoleStream
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.network.driver import NetworkDriver
from pyvirt.qemu.driver import DomainDriver
from pyvirt.rpc import protocol, remote
from pyvirt.rpc.protocol import Header, MessageStatus, MessageType
from pyvirt.rpc.xdr import Packer, Unpacker, XdrError
from pyvirt.store import Layout

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
# Events queued for a client that does not read before it is dropped.
MAX_PENDING_EVENTS = 1024
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
    ) -> None:
        self.layout = layout
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
        self.big_frames = asyncio.Semaphore(MAX_BIG_FRAMES)
        from pyvirt.daemon.dispatch import Dispatcher

        self.dispatcher = Dispatcher(self)

    def request_stop(self) -> None:
        log.info("stop requested")
        self._stop.set()

    async def run(self) -> None:
        """Load state, listen, serve until asked to stop, then close cleanly."""
        self.layout.run.mkdir(parents=True, exist_ok=True)
        await self.networks.initialize(define_default=self._define_default_network)
        await self.domains.initialize()
        await self._listen()
        log.info("pyvirtd listening on %s", self.layout.socket_rw)
        if self._autostart:
            await self.networks.autostart_all()
            await self.domains.autostart_all()
        await self._stop.wait()
        await self.shutdown()

    async def _listen(self) -> None:
        for path, readonly, mode in (
            (self.layout.socket_rw, False, 0o600),
            (self.layout.socket_ro, True, 0o666),
        ):
            if path.exists() or path.is_symlink():
                path.unlink()
            # Create the socket with the final mode already in place: no window
            # in which the read-write socket is reachable by others.
            old = os.umask(0o777 & ~mode)
            try:
                # A small reader limit: the transport stops reading ahead at twice
                # this, so a flooding client is held back by the kernel's buffers.
                server = await asyncio.start_unix_server(
                    self._client_factory(readonly), path=str(path), limit=protocol.MESSAGE_INITIAL
                )
            finally:
                os.umask(old)
            os.chmod(path, mode)
            self._servers.append(server)

    def _client_factory(
        self, readonly: bool
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            client = ClientConnection(self, reader, writer, readonly=readonly)
            self.clients.add(client)
            try:
                await client.serve()
            finally:
                self.clients.discard(client)
                self.events.drop_client(client)

        return handle

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
        for path in (self.layout.socket_rw, self.layout.socket_ro):
            path.unlink(missing_ok=True)
        await self.domains.close()
        await self.networks.close()


class ClientConnection:
    """One connected client: its open state, read-only flag, events and writer."""

    def __init__(
        self,
        daemon: Daemon,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        readonly: bool,
    ) -> None:
        self.id = next(_client_ids)
        self.daemon = daemon
        self.reader = reader
        self.writer = writer
        self.socket_readonly = readonly
        self.readonly = readonly
        self.opened = False
        self.peer_uid = _peer_uid(writer)
        self._write_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(MAX_CLIENT_REQUESTS)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._events_pending = 0
        self.close_callback = False
        self._last_rx = time.monotonic()
        self._keepalive: asyncio.Task[None] | None = None
        # Open data streams (console) by call serial; started once their reply is out.
        self.streams: dict[int, ConsoleStream] = {}
        self.pending_streams: dict[int, ConsoleStream] = {}

    def __hash__(self) -> int:
        return self.id

    async def serve(self) -> None:
        log.debug("client %d connected (uid %s, %s)", self.id, self.peer_uid, "ro" if self.readonly else "rw")
        try:
            while not self._closing:
                try:
                    header, payload, big = await self._read_frame()
                except (EOFError, asyncio.IncompleteReadError, ConnectionError):
                    break
                except protocol.ProtocolError as err:
                    log.warning("client %d: %s; disconnecting", self.id, err)
                    break
                self._last_rx = time.monotonic()
                handed_off = False
                try:
                    handed_off = await self._handle(header, payload, big)
                except Exception:
                    log.exception("client %d: cannot handle message; disconnecting", self.id)
                    break
                finally:
                    if big and not handed_off:
                        self.daemon.big_frames.release()
        finally:
            for task in list(self._tasks):
                task.cancel()
            self.close()
            log.debug("client %d disconnected", self.id)

    async def _read_frame(self) -> tuple[Header, bytes, bool]:
        """Read one frame; return its header, payload and whether it holds a big-frame slot.

        The length word is checked before anything else is read, and the body
        is read as it arrives.

        Raises:
            EOFError: the client closed the connection between frames.
            asyncio.IncompleteReadError: it closed in the middle of one.
            ProtocolError: the length word is below 28 or above the 16 MiB limit.
        """
        try:
            word = await self.reader.readexactly(protocol.LEN_MAX)
        except asyncio.IncompleteReadError as err:
            if not err.partial:
                raise EOFError("connection closed by peer") from err
            raise
        size = protocol.check_length(_LEN.unpack(word)[0])
        big = size > BIG_FRAME
        if big:
            await self.daemon.big_frames.acquire()
        try:
            body = await self.reader.readexactly(size)
        except BaseException:
            if big:
                self.daemon.big_frames.release()
            raise
        return protocol.unpack_header(body), body[protocol.HEADER_MAX :], big

    async def _handle(self, header: Header, payload: bytes, big: bool = False) -> bool:
        """Act on one frame; return True when a call task took over its big-frame slot."""
        if header.prog == protocol.KEEPALIVE_PROGRAM:
            if header.proc == protocol.KEEPALIVE_PING and header.type == MessageType.MESSAGE:
                await self.send(
                    Header(
                        protocol.KEEPALIVE_PROGRAM,
                        protocol.KEEPALIVE_PROTOCOL_VERSION,
                        protocol.KEEPALIVE_PONG,
                        MessageType.MESSAGE,
                        0,
                        MessageStatus.OK,
                    ),
                    b"",
                )
            return False
        if header.type == MessageType.STREAM:
            stream = self.streams.get(header.serial)
            if stream is not None:
                stream.from_client(header.status, payload)
            else:
                # Data can still arrive for a stream we closed: drop it, as libvirtd does.
                log.debug("client %d: ignoring stream data for serial %d", self.id, header.serial)
            return False
        if header.type != MessageType.CALL:
            # Replies and events travel server -> client only; calls with fds are
            # not supported.  libvirtd's answer (virNetServerProgramDispatch).
            log.debug("client %d: unexpected message type %d", self.id, header.type)
            await self.reply_error(
                header, VirtError(ErrorNumber.RPC, ErrorDomain.RPC, f"Unexpected message type {header.type}")
            )
            return False
        if header.prog != protocol.REMOTE_PROGRAM or header.vers != protocol.REMOTE_PROTOCOL_VERSION:
            await self.reply_error(
                header,
                VirtError(
                    ErrorNumber.RPC,
                    ErrorDomain.RPC,
                    f"cannot find program {header.prog} version {header.vers}",
                ),
            )
            return False
        if header.status != MessageStatus.OK:
            await self.reply_error(
                header, VirtError(ErrorNumber.RPC, ErrorDomain.RPC, "Unexpected message status")
            )
            return False
        await self._slots.acquire()
        task = asyncio.create_task(self._run_call(header, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if big:
            task.add_done_callback(lambda _t: self.daemon.big_frames.release())
        return True

    async def _run_call(self, header: Header, payload: bytes) -> None:
        from pyvirt.daemon.dispatch import call_serial

        call_serial.set(header.serial)
        try:
            try:
                body = await self.daemon.dispatcher.dispatch(self, header.proc, payload)
            except VirtError as err:
                await self.reply_error(header, err)
                return
            except XdrError as err:
                await self.reply_error(
                    header,
                    VirtError(ErrorNumber.RPC, ErrorDomain.RPC, f"Unable to decode message payload: {err}"),
                )
                return
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a bug must not kill the connection
                log.exception("client %d: procedure %d failed", self.id, header.proc)
                await self.reply_error(
                    header,
                    VirtError(ErrorNumber.INTERNAL_ERROR, ErrorDomain.RPC, f"unexpected failure: {err}"),
                )
                return
            await self.send(header._replace(type=MessageType.REPLY, status=MessageStatus.OK), body)
            stream = self.pending_streams.pop(header.serial, None)
            if stream is not None:
                self.streams[header.serial] = stream
                stream.start()
            if header.proc == remote.Proc.CONNECT_CLOSE:
                self.close()
        finally:
            self._slots.release()

    async def reply_error(self, header: Header, err: VirtError) -> None:
        log.debug("client %d: proc %d error: %s", self.id, header.proc, err.message)
        await self.send(
            header._replace(type=MessageType.REPLY, status=MessageStatus.ERROR),
            remote.encode_error(err),
        )

    async def send(self, header: Header, body: bytes) -> None:
        if self._closing:
            return
        data = protocol.pack_message(header, body)
        async with self._write_lock:
            if self._closing:  # closed while we waited for our turn
                return
            try:
                self.writer.write(data)
                await self.writer.drain()
            except (ConnectionError, RuntimeError):
                self.close()

    async def send_event(self, proc: int, value: dict[str, Any]) -> None:
        """Send an asynchronous event message (type MESSAGE, serial 0).

        A client that stops reading while events pile up is disconnected
        (more than ``MAX_PENDING_EVENTS`` undelivered), so it cannot make the
        daemon hoard memory.
        """
        if self._closing:
            return
        if self._events_pending >= MAX_PENDING_EVENTS:
            log.warning("client %d: %d events undelivered; disconnecting it", self.id, self._events_pending)
            self.close()
            return
        packer = Packer()
        remote.PROCEDURES[proc].args.pack(packer, value)
        self._events_pending += 1
        try:
            await self.send(
                Header(
                    protocol.REMOTE_PROGRAM,
                    protocol.REMOTE_PROTOCOL_VERSION,
                    proc,
                    MessageType.MESSAGE,
                    0,
                    MessageStatus.OK,
                ),
                packer.get_buffer(),
            )
        finally:
            self._events_pending -= 1

    def start_keepalive(self) -> None:
        """Ping an idle client, and drop it when it stops answering.

        As libvirtd does, only for clients that asked for the keepalive
        feature: a client without an event loop could not answer while idle.
        """
        if self._keepalive is None and not self._closing:
            self._keepalive = asyncio.get_running_loop().create_task(self._keepalive_loop())

    async def _keepalive_loop(self) -> None:
        unanswered = 0
        ping = Header(
            protocol.KEEPALIVE_PROGRAM,
            protocol.KEEPALIVE_PROTOCOL_VERSION,
            protocol.KEEPALIVE_PING,
            MessageType.MESSAGE,
            0,
            MessageStatus.OK,
        )
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
            await self.send(ping, b"")

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._keepalive is not None:
            self._keepalive.cancel()
        for stream in list(self.streams.values()) + list(self.pending_streams.values()):
            stream.close()
        try:
            self.writer.close()
        except Exception:  # already gone
            pass


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return None
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def decode_args(proc: int, payload: bytes) -> Any:
    """Decode the arguments of ``proc`` from ``payload``.

    Raises:
        XdrError: the payload does not match the procedure's argument layout.
    """
    unpacker = Unpacker(payload)
    return remote.PROCEDURES[proc].args.unpack(unpacker)
