"""pyvirt.sockets: the daemon's listening sockets, made before anything heavy loads."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from pyvirt.sockets import close_listeners, open_listeners


def _paths(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "pyvirt-sock", tmp_path / "pyvirt-sock-ro"


def test_both_sockets_listen_with_their_modes(tmp_path: Path) -> None:
    rw, ro = _paths(tmp_path)
    listeners = open_listeners(rw, ro)
    try:
        assert [(lst.path, lst.readonly) for lst in listeners] == [(rw, False), (ro, True)]
        assert stat.S_IMODE(rw.stat().st_mode) == 0o600
        assert stat.S_IMODE(ro.stat().st_mode) == 0o666
        assert stat.S_ISSOCK(rw.stat().st_mode)
        # Nobody accepts yet: the kernel queues the connection until the daemon does.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(rw))
            client.sendall(b"queued")
            conn, _ = listeners[0].sock.accept()
            with conn:
                assert conn.recv(16) == b"queued"
    finally:
        close_listeners(listeners)
    assert not rw.exists() and not ro.exists()


def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    rw, ro = _paths(tmp_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as old:
        old.bind(str(rw))  # left behind by a daemon that was killed
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client, pytest.raises(ConnectionRefusedError):
        client.connect(str(rw))
    listeners = open_listeners(rw, ro)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(rw))
    finally:
        close_listeners(listeners)


def test_failure_leaves_no_socket_behind(tmp_path: Path) -> None:
    rw, _ = _paths(tmp_path)
    ro = tmp_path / "missing-dir" / "pyvirt-sock-ro"
    with pytest.raises(FileNotFoundError):
        open_listeners(rw, ro)
    assert not rw.exists()
    assert list(tmp_path.iterdir()) == []


def test_close_is_idempotent(tmp_path: Path) -> None:
    listeners = open_listeners(*_paths(tmp_path))
    close_listeners(listeners)
    close_listeners(listeners)
    assert list(tmp_path.iterdir()) == []
