"""The daemon: sockets, one task per client, calls dispatched concurrently.

Each client connection reads frames in a loop.  Keepalive PINGs are answered
inline; every CALL becomes its own task (as libvirtd's worker pool would run
it), bounded per client, and replies are written under a lock so frames never
interleave.  A client that breaks the framing rules is disconnected; nothing it
sends can stop the daemon serving others.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from pyvirt.daemon.events import EventBus
from pyvirt.daemon.streams import ConsoleStream
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.network.driver import NetworkDriver
from pyvirt.qemu.driver import DomainDriver
from pyvirt.rpc import protocol, remote
from pyvirt.rpc.protocol import Header, MessageStatus, MessageType
from pyvirt.rpc.stream import read_message
from pyvirt.rpc.xdr import Packer, Unpacker, XdrError
from pyvirt.store import Layout

log = logging.getLogger(__name__)

# libvirtd's max_client_requests: calls in flight per client before we stop reading.
MAX_CLIENT_REQUESTS = 5

_client_ids = itertools.count(1)


class Daemon:
    """One pyvirtd instance: drivers, event bus and the two listening sockets."""

    def __init__(self, layout: Layout, *, define_default_network: bool = True, autostart: bool = True) -> None:
        self.layout = layout
        self.events = EventBus()
        self.networks = NetworkDriver(layout, emit=self.events.network_lifecycle)
        self.domains = DomainDriver(layout, self.networks, emit=self.events.domain_lifecycle)
        self._define_default_network = define_default_network
        self._autostart = autostart
        self._stop = asyncio.Event()
        self._servers: list[asyncio.base_events.Server] = []
        self.clients: set[ClientConnection] = set()
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
                server = await asyncio.start_unix_server(
                    self._client_factory(readonly), path=str(path), limit=protocol.MESSAGE_MAX
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
        self.close_callback = False
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
                    header, payload = await read_message(self.reader)
                except (EOFError, asyncio.IncompleteReadError, ConnectionError):
                    break
                except protocol.ProtocolError as err:
                    log.warning("client %d: %s; disconnecting", self.id, err)
                    break
                try:
                    await self._handle(header, payload)
                except Exception:
                    log.exception("client %d: cannot handle message; disconnecting", self.id)
                    break
        finally:
            for task in list(self._tasks):
                task.cancel()
            self.close()
            log.debug("client %d disconnected", self.id)

    async def _handle(self, header: Header, payload: bytes) -> None:
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
            return
        if header.type == MessageType.STREAM:
            stream = self.streams.get(header.serial)
            if stream is not None:
                stream.from_client(header.status, payload)
            return
        if header.type != MessageType.CALL:
            # Replies, events and streams from a client are not expected here;
            # libvirtd ignores what it cannot route, so do we.
            log.debug("client %d: ignoring message type %d", self.id, header.type)
            return
        if header.prog != protocol.REMOTE_PROGRAM or header.vers != protocol.REMOTE_PROTOCOL_VERSION:
            await self.reply_error(
                header,
                VirtError(
                    ErrorNumber.RPC,
                    ErrorDomain.RPC,
                    f"cannot find program {header.prog} version {header.vers}",
                ),
            )
            return
        if header.status != MessageStatus.OK:
            await self.reply_error(header, VirtError(ErrorNumber.RPC, ErrorDomain.RPC, "Unexpected message status"))
            return
        await self._slots.acquire()
        task = asyncio.create_task(self._run_call(header, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
                    header, VirtError(ErrorNumber.RPC, ErrorDomain.RPC, f"Unable to decode message payload: {err}")
                )
                return
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a bug must not kill the connection
                log.exception("client %d: procedure %d failed", self.id, header.proc)
                await self.reply_error(
                    header, VirtError(ErrorNumber.INTERNAL_ERROR, ErrorDomain.RPC, f"unexpected failure: {err}")
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
            try:
                self.writer.write(data)
                await self.writer.drain()
            except (ConnectionError, RuntimeError):
                self.close()

    async def send_event(self, proc: int, value: dict[str, Any]) -> None:
        """Send an asynchronous event message (type MESSAGE, serial 0)."""
        packer = Packer()
        remote.PROCEDURES[proc].args.pack(packer, value)
        await self.send(
            Header(protocol.REMOTE_PROGRAM, protocol.REMOTE_PROTOCOL_VERSION, proc, MessageType.MESSAGE, 0, MessageStatus.OK),
            packer.get_buffer(),
        )

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
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
