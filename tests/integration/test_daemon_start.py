"""pyvirtd's start-up, seen by clients: it listens first, and serves once its state is loaded.

As libvirtd: the sockets exist a few milliseconds after the process starts; a
client that connects while the daemon still loads its definitions waits and
then sees all of them, never a part.  A stop during start-up leaves no socket
or pid file behind.

Host safety: each daemon runs in its own network namespace with a private root
(conftest.py); these daemons have no networks and start no guests.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from pyvirt.rpc.client import RpcClient
from pyvirt.rpc.remote import Proc

from .conftest import Daemon, NetNS
from .resilience_util import dom_xml, list_domains

pytestmark = pytest.mark.netns

# Enough stored definitions that loading them takes a while (~0.5 ms each).
STORED = 400


def _store_domains(root: Path) -> list[str]:
    conf = root / "etc/pyvirt/qemu"
    conf.mkdir(parents=True)
    names = [f"early-{i:03d}" for i in range(STORED)]
    for name in names:
        (conf / f"{name}.xml").write_text(dom_xml(name))
    return names


def _wait_for_socket(d: Daemon, timeout: float = 30) -> None:
    assert d.proc is not None
    deadline = time.monotonic() + timeout
    while not d.sock.exists():
        assert d.proc.poll() is None, d.log.read_text()
        assert time.monotonic() < deadline, d.log.read_text()
        time.sleep(0.002)


def test_client_connecting_during_start_up_sees_every_definition(netns: NetNS, root_dir: Path) -> None:
    names = _store_domains(root_dir)
    d = Daemon(netns, root_dir, extra_args=("--no-default-network",))
    d.launch()
    try:
        _wait_for_socket(d)
        client = RpcClient(str(d.sock), timeout=60)
        try:
            assert "pyvirtd serving on" not in d.log.read_text(), "connected too late to test start-up"
            client.call(Proc.AUTH_LIST)  # waits for the drivers
            client.call(Proc.CONNECT_OPEN, {"name": "qemu:///system", "flags": 0})
            assert list_domains(client) == dict.fromkeys(names, False)
        finally:
            client.close()
    finally:
        assert d.stop() == 0


def test_stop_during_start_up_removes_sockets_and_pid_file(netns: NetNS, root_dir: Path) -> None:
    _store_domains(root_dir)
    d = Daemon(netns, root_dir, extra_args=("--no-default-network",))
    d.launch()
    _wait_for_socket(d)
    assert d.stop(signal.SIGTERM) == 0
    log = d.log.read_text()
    assert "pyvirtd serving on" not in log, "the stop came too late to test start-up"
    assert "stop requested during start-up" in log
    run = root_dir / "run/pyvirt"
    assert not (run / "pyvirt-sock").exists()
    assert not (run / "pyvirt-sock-ro").exists()
    assert not (run / "pyvirtd.pid").exists()
    # and it starts again on the same root
    d.start()
    assert d.stop() == 0
