"""pyvirtd's two listening sockets, made before the daemon loads anything heavy.

As libvirtd does, pyvirtd binds and listens first and loads its drivers after:
a client that connects during start-up waits in the socket's queue and is
served once the daemon is ready, instead of failing with "no such file" or
"connection refused".  This module needs only the standard library's light
modules, so the sockets exist a few milliseconds after the process starts.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["BACKLOG", "Listener", "close_listeners", "open_listeners"]

#: Connections the kernel queues while the daemon is busy (asyncio's default too).
BACKLOG = 100


class Listener:
    """A bound, listening Unix socket and what it serves."""

    __slots__ = ("path", "readonly", "sock")  # a plain class: no dataclass build before listen

    def __init__(self, sock: socket.socket, path: Path, readonly: bool) -> None:
        self.sock = sock
        self.path = path
        self.readonly = readonly


def open_listeners(socket_rw: Path, socket_ro: Path) -> list[Listener]:
    """Bind and listen on the read-write (0600) and read-only (0666) sockets.

    A socket file left by an earlier daemon is replaced; the caller must hold the
    root's pid-file lock, so that it is not a live daemon's.  Each socket is made
    with its final mode in place: there is no moment when the read-write socket is
    open to others.

    Raises:
        OSError: a socket could not be made; none is left behind then.
    """
    made: list[Listener] = []
    try:
        for path, readonly, mode in ((socket_rw, False, 0o600), (socket_ro, True, 0o666)):
            if path.exists() or path.is_symlink():
                path.unlink()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(0o777 & ~mode)
            try:
                sock.bind(str(path))
            except OSError:
                sock.close()
                raise
            finally:
                os.umask(old)
            made.append(Listener(sock, path, readonly))
            os.chmod(path, mode)
            sock.listen(BACKLOG)
    except OSError:
        close_listeners(made)
        raise
    return made


def close_listeners(listeners: list[Listener]) -> None:
    """Close the sockets and remove their files (a no-op for what is gone already)."""
    for listener in listeners:
        listener.sock.close()
        listener.path.unlink(missing_ok=True)
