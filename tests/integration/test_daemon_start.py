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
        # none was cached: all parsed, half of them in a forked child on a machine with two CPUs
        assert (
            _loaded_line(d)
            == f"{STORED} stored domain definitions loaded: {STORED} parsed, 0 from the definition cache"
        )
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


def _loaded_line(d: Daemon) -> str:
    """The last start's "stored domain definitions loaded" log line."""
    lines = [line for line in d.log.read_text().splitlines() if "stored domain definitions loaded" in line]
    assert lines, d.log.read_text()
    return lines[-1].split(": ", 1)[1]


def test_restart_reuses_only_the_definitions_that_did_not_change(netns: NetNS, root_dir: Path) -> None:
    d = Daemon(netns, root_dir, extra_args=("--no-default-network",))
    conf = root_dir / "etc/pyvirt/qemu"
    cache = root_dir / "var/cache/pyvirt/qemu/definitions"
    d.start()
    try:
        for name in ("vm-a", "vm-b", "vm-c"):
            (root_dir / f"{name}.xml").write_text(dom_xml(name))
            assert d.pyvirsh("define", f"{name}.xml").rc == 0
        assert d.stop() == 0
        assert cache.is_file()  # written at the stop

        d.start()
        assert _loaded_line(d) == "3 stored domain definitions loaded: 0 parsed, 3 from the definition cache"
        assert "gen-0" in d.pyvirsh("dumpxml", "vm-a").out
        (root_dir / "vm-a.xml").write_text(dom_xml("vm-a", gen=5))
        assert d.pyvirsh("define", "vm-a.xml").rc == 0  # redefined: the cache follows
        assert d.pyvirsh("undefine", "vm-c").rc == 0
        assert d.stop() == 0

        # While the daemon is down, vm-b is edited by hand and vm-d is added.
        (conf / "vm-b.xml").write_text(dom_xml("vm-b", gen=7))
        (conf / "vm-d.xml").write_text(dom_xml("vm-d"))
        d.start()
        assert _loaded_line(d) == "3 stored domain definitions loaded: 2 parsed, 1 from the definition cache"
        assert d.pyvirsh("list", "--all", "--name").out.split() == ["vm-a", "vm-b", "vm-d"]
        assert "gen-5" in d.pyvirsh("dumpxml", "vm-a").out
        assert "gen-7" in d.pyvirsh("dumpxml", "vm-b").out
        assert "65536 KiB" in d.pyvirsh("dominfo", "vm-a").out  # the fields listings read
        assert d.stop() == 0

        # A damaged cache is ignored: everything is parsed, nothing is lost.  A definition
        # that is not UTF-8 is skipped with an error, like any unreadable one.
        cache.write_bytes(b"\0damaged")
        (conf / "vm-x.xml").write_bytes(b"\xff\xfe<domain type='qemu'>")
        d.start()
        assert _loaded_line(d) == "3 stored domain definitions loaded: 3 parsed, 0 from the definition cache"
        assert d.pyvirsh("list", "--all", "--name").out.split() == ["vm-a", "vm-b", "vm-d"]
        assert "skipping domain definition " + str(conf / "vm-x.xml") in d.log.read_text()
    finally:
        assert d.stop() == 0
