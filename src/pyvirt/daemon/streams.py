"""Data streams of libvirt's protocol, used for the guest serial console.

After a successful DOMAIN_OPEN_CONSOLE reply, both sides exchange STREAM
messages carrying the call's serial: status CONTINUE with raw bytes (empty at
end of data), OK with an empty payload to finish (and to confirm the other
side's finish), ERROR with a ``remote_error`` to abort.  A
:class:`ConsoleStream` pumps bytes between such a stream and the guest's pty.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import termios
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyvirt.rpc import protocol
from pyvirt.rpc.protocol import Header, MessageStatus, MessageType

if TYPE_CHECKING:
    from pyvirt.daemon.server import ClientConnection

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
# Bytes from the client waiting for the pty; past this the stream is dropped
# (libvirt bounds its stream buffers the same way).
MAX_PENDING = 1024 * 1024


def open_pty(path: str) -> int:
    """Open a pty slave in raw, non-blocking mode.

    Raises:
        OSError: the pty cannot be opened.
    """
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        attrs = termios.tcgetattr(fd)
        attrs[0] &= ~(
            termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP
            | termios.INLCR | termios.IGNCR | termios.ICRNL | termios.IXON
        )  # fmt: skip
        attrs[1] &= ~termios.OPOST
        attrs[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
        attrs[2] &= ~(termios.CSIZE | termios.PARENB)
        attrs[2] |= termios.CS8
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    except termios.error:
        pass
    return fd


class ConsoleStream:
    """One client's console session on one guest pty."""

    def __init__(
        self, client: ClientConnection, serial: int, proc: int, fd: int, on_close: Callable[[], None]
    ) -> None:
        self.client = client
        self.serial = serial
        self.proc = proc
        self.fd = fd
        self._on_close = on_close
        self._pending = bytearray()
        self._closed = False
        self._writing = False
        self._reading = False
        self._loop = asyncio.get_running_loop()

    def start(self) -> None:
        """Begin forwarding guest output (call after the open reply was sent)."""
        self.resume_output()

    def pause_output(self) -> None:
        """Stop reading the guest while the client is not reading what we sent."""
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self.fd)

    def resume_output(self) -> None:
        if not self._reading and not self._closed:
            self._reading = True
            self._loop.add_reader(self.fd, self._readable)

    def _header(self, status: int) -> Header:
        return Header(
            protocol.REMOTE_PROGRAM,
            protocol.REMOTE_PROTOCOL_VERSION,
            self.proc,
            MessageType.STREAM,
            self.serial,
            status,
        )

    def _send(self, status: int, data: bytes) -> None:
        self.client.send(self._header(status), data)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, CHUNK)
        except BlockingIOError:
            return
        except OSError as err:
            # EIO: the other end of the pty went away (QEMU exited).
            if err.errno != errno.EAGAIN:
                self.finish()
            return
        if not data:
            self.finish()
            return
        self._send(MessageStatus.CONTINUE, data)

    def from_client(self, status: int, payload: bytes) -> None:
        """Handle a STREAM message the client sent for this stream."""
        if status == MessageStatus.CONTINUE:
            if self._closed:
                return
            if len(self._pending) + len(payload) > MAX_PENDING:
                log.warning("console stream of client %d overflowed; closing", self.client.id)
                self.finish()
                return
            self._pending += payload
            self._flush()
            return
        # OK = the client finished, ERROR = it aborted: both get an empty OK
        # confirmation, as libvirtd sends, and the stream is gone.
        self._send(MessageStatus.OK, b"")
        self._release()
        self.client.streams.pop(self.serial, None)

    def _flush(self) -> None:
        while self._pending and not self._closed:
            try:
                n = os.write(self.fd, self._pending)
            except BlockingIOError:
                if not self._writing:
                    self._writing = True
                    self._loop.add_writer(self.fd, self._writable)
                return
            except OSError:
                self.finish()
                return
            del self._pending[:n]

    def _writable(self) -> None:
        self._writing = False
        self._loop.remove_writer(self.fd)
        self._flush()

    def finish(self) -> None:
        """End of the guest side: send end-of-stream and let go of the pty.

        The stream stays registered until the client confirms with its own
        finish (or disconnects), as in libvirt's handshake.
        """
        if not self._closed:
            # Read EOF is an empty CONTINUE; an empty OK would be the answer
            # to the client's finish, which libvirt clients treat as an error.
            self._send(MessageStatus.CONTINUE, b"")
        self._release()

    def close(self) -> None:
        """Drop the stream without telling the client (it is going away)."""
        self._release()
        self.client.streams.pop(self.serial, None)

    def _release(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.pause_output()
        if self._writing:
            self._loop.remove_writer(self.fd)
        try:
            os.close(self.fd)
        except OSError:
            pass
        self._on_close()
