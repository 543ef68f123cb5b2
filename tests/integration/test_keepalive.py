"""Server-side keepalive, as libvirtd does it.

A client that asked for the keepalive feature gets PINGs when idle and is
dropped when it stops answering; one that did not ask is left alone.
"""

from __future__ import annotations

import socket
import struct
import time

import pytest

from pyvirt.rpc import protocol, remote
from pyvirt.rpc.protocol import Header, MessageStatus, MessageType

from .conftest import Daemon

pytestmark = pytest.mark.netns


def _call(sock: socket.socket, serial: int, proc: int, args: object) -> None:
    payload = remote.encode(remote.PROCEDURES[proc].args, args)
    header = Header(protocol.REMOTE_PROGRAM, 1, proc, MessageType.CALL, serial, MessageStatus.OK)
    sock.sendall(protocol.pack_message(header, payload))


def _read(sock: socket.socket) -> Header:
    word = sock.recv(4, socket.MSG_WAITALL)
    (length,) = struct.unpack(">I", word)
    body = sock.recv(length - 4, socket.MSG_WAITALL)
    return protocol.unpack_header(body[:24])


def test_idle_client_that_asked_gets_pinged_then_dropped(daemon: Daemon) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(daemon.sock))
    sock.settimeout(60)
    try:
        _call(sock, 0, remote.Proc.CONNECT_SUPPORTS_FEATURE, {"feature": 10})
        assert _read(sock).type == MessageType.REPLY
        start = time.monotonic()
        pings = 0
        while True:
            try:
                header = _read(sock)
            except (struct.error, ConnectionError):
                break  # the daemon hung up
            assert header.prog == protocol.KEEPALIVE_PROGRAM and header.proc == protocol.KEEPALIVE_PING
            pings += 1
        elapsed = time.monotonic() - start
        assert pings == 5
        assert 25 <= elapsed <= 45
    finally:
        sock.close()


def test_client_answering_pongs_stays(daemon: Daemon) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(daemon.sock))
    sock.settimeout(20)
    try:
        _call(sock, 0, remote.Proc.CONNECT_SUPPORTS_FEATURE, {"feature": 10})
        assert _read(sock).type == MessageType.REPLY
        header = _read(sock)
        assert header.proc == protocol.KEEPALIVE_PING
        sock.sendall(protocol.keepalive_message(protocol.KEEPALIVE_PONG))
        # Still served after answering.
        _call(sock, 1, remote.Proc.AUTH_LIST, None)
        while (header := _read(sock)).prog == protocol.KEEPALIVE_PROGRAM:
            pass
        assert header.serial == 1 and header.status == MessageStatus.OK
    finally:
        sock.close()
