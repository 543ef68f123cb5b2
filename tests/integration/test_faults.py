"""Faults in the host parts: a tap removed behind pyvirtd's back, QEMU missing or
failing at start, pyvirtd killed with guests running.

(dnsmasq killed while its network is active is covered by
``test_networks.py::test_restart_reattach_supervision_and_autostart``.)

Each test runs its own pyvirtd in its own network namespace (the ``daemon``
fixture); everything is removed by the fixtures, pass or fail.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from .conftest import VIRSH, Daemon
from .guests import domain_xml, requires_guest, tap_exists, wait_for
from .test_domains import EventWatcher, define, pid_alive, qemu_pid, state, virsh_ok, vnets

pytestmark = [
    pytest.mark.netns,
    pytest.mark.qemu,
    requires_guest,
    pytest.mark.skipif(VIRSH is None, reason="the real virsh is not installed"),
]


@pytest.fixture
def net(daemon: Daemon) -> Daemon:
    """The daemon with the default network started."""
    virsh_ok(daemon, "net-start", "default")
    return daemon


def status_file(daemon: Daemon, name: str) -> Path:
    return daemon.root / "run/pyvirt/qemu" / f"{name}.xml"


def assert_nothing_left(daemon: Daemon, name: str) -> None:
    assert vnets(daemon) == []
    assert not status_file(daemon, name).exists()
    assert not list((daemon.root / "run/pyvirt/qemu").glob(f"{name}*"))
    assert "connections=" not in virsh_ok(daemon, "net-dumpxml", "default")
    assert state(daemon, name) == "shut off (failed)"


def test_tap_removed_behind_our_back(net: Daemon) -> None:
    """``ip link del vnet0`` while the guest runs: the daemon keeps answering and destroy works."""
    daemon = net
    define(daemon, "tapgone")
    virsh_ok(daemon, "start", "tapgone")
    pid = qemu_pid(daemon, "tapgone")
    assert tap_exists(daemon, "vnet0")
    iflist = virsh_ok(daemon, "domiflist", "tapgone")
    info = virsh_ok(daemon, "dominfo", "tapgone")

    daemon.ns.run("ip", "link", "del", "vnet0")
    assert not tap_exists(daemon, "vnet0")

    assert virsh_ok(daemon, "list").splitlines()[2].split() == ["1", "tapgone", "running"]
    assert virsh_ok(daemon, "dominfo", "tapgone").splitlines()[:5] == info.splitlines()[:5]
    # as libvirt: the live XML keeps <target dev='vnet0'/>, so domiflist shows it
    assert virsh_ok(daemon, "domiflist", "tapgone") == iflist
    got = daemon.virsh("domifaddr", "tapgone")
    assert got.rc == 0, got.err
    got = daemon.virsh("domifaddr", "tapgone", "--source", "arp")
    assert got.rc == 0, got.err
    assert pid_alive(pid)
    wait_for(
        "the log line",
        lambda: "domain tapgone: tap vnet0 was removed behind pyvirtd's back" in daemon.log.read_text(),
        5,
    )

    assert virsh_ok(daemon, "destroy", "tapgone") == "Domain 'tapgone' destroyed\n\n"
    wait_for("QEMU gone", lambda: not pid_alive(pid), 10)
    assert state(daemon, "tapgone") == "shut off (destroyed)"
    assert vnets(daemon) == []
    assert "connections=" not in virsh_ok(daemon, "net-dumpxml", "default")
    assert daemon.proc is not None and daemon.proc.poll() is None
    # the domain starts again, with a fresh tap
    virsh_ok(daemon, "start", "tapgone")
    assert tap_exists(daemon, "vnet0")
    virsh_ok(daemon, "destroy", "tapgone")


def _define_with_emulator(daemon: Daemon, name: str, emulator: Path) -> None:
    xml = domain_xml(daemon, name).replace(
        "  <devices>\n", f"  <devices>\n    <emulator>{emulator}</emulator>\n"
    )
    path = daemon.root / f"{name}.xml"
    path.write_text(xml)
    virsh_ok(daemon, "define", str(path))


def test_qemu_missing_or_failing_at_start(net: Daemon) -> None:
    """The emulator removed or made unexecutable after define, QEMU exiting at once: libvirt's
    errors, QEMU's own words, and no tap, status file or network port left behind."""
    daemon = net
    fake = daemon.root / "qemu-system-x86_64"
    fake.write_text("#!/bin/sh\necho 'qemu-system-x86_64: fake emulator refuses to run' >&2\nexit 1\n")
    fake.chmod(0o755)
    _define_with_emulator(daemon, "noemu", fake)

    fake.unlink()
    got = daemon.virsh("start", "noemu")
    assert (got.rc, got.err) == (
        1,
        "error: Failed to start domain 'noemu'\n"
        f"error: Cannot check QEMU binary {fake}: No such file or directory\n",
    )
    assert_nothing_left(daemon, "noemu")

    fake.write_text("#!/bin/sh\necho 'qemu-system-x86_64: fake emulator refuses to run' >&2\nexit 1\n")
    fake.chmod(0)
    got = daemon.virsh("start", "noemu")
    assert (got.rc, got.err) == (
        1,
        "error: Failed to start domain 'noemu'\n"
        f"error: QEMU binary {fake} is not executable: Permission denied\n",
    )
    assert_nothing_left(daemon, "noemu")

    # an "emulator" that starts and exits at once: its own words in the error
    fake.chmod(0o755)
    got = daemon.virsh("start", "noemu")
    assert got.rc == 1
    assert got.err == (
        "error: Failed to start domain 'noemu'\n"
        "error: internal error: process exited while connecting to monitor: "
        "qemu-system-x86_64: fake emulator refuses to run\n"
    ), got.err
    assert_nothing_left(daemon, "noemu")
    log = (daemon.root / "var/log/pyvirt/qemu/noemu.log").read_text()
    assert log.endswith(": shutting down, reason=failed\n"), log[-300:]

    # the real QEMU rejecting an option (a disk that does not exist)
    missing = daemon.root / "missing.img"
    define(daemon, "nodisk", disk=missing)
    got = daemon.virsh("start", "nodisk")
    assert got.rc == 1
    assert got.err.startswith(
        "error: Failed to start domain 'nodisk'\n"
        "error: internal error: process exited while connecting to monitor: "
    ), got.err
    assert f"Could not open '{missing}': No such file or directory" in got.err, got.err
    assert_nothing_left(daemon, "nodisk")
    assert daemon.proc is not None and daemon.proc.poll() is None


def test_guests_and_events_survive_daemon_sigkill(net: Daemon) -> None:
    """Two guests running, pyvirtd killed with SIGKILL and started again: same pids and ids,
    the tap and the network port kept, and lifecycle events flow to new clients."""
    daemon = net
    define(daemon, "k1")
    define(daemon, "k2", network=None)
    virsh_ok(daemon, "start", "k1")
    virsh_ok(daemon, "start", "k2")
    pids = {n: qemu_pid(daemon, n) for n in ("k1", "k2")}
    listing = virsh_ok(daemon, "list")
    assert [row.split()[:2] for row in listing.splitlines()[2:] if row.strip()] == [["1", "k1"], ["2", "k2"]]

    daemon.stop(signal.SIGKILL)
    assert all(pid_alive(p) for p in pids.values())
    daemon.start()
    assert virsh_ok(daemon, "list") == listing
    assert {n: qemu_pid(daemon, n) for n in ("k1", "k2")} == pids
    assert vnets(daemon) == ["vnet0"]
    assert "connections='1'" in virsh_ok(daemon, "net-dumpxml", "default")

    watcher = EventWatcher(daemon)
    try:
        assert virsh_ok(daemon, "destroy", "k2") == "Domain 'k2' destroyed\n\n"
        virsh_ok(daemon, "suspend", "k1")
        virsh_ok(daemon, "resume", "k1")
        os.kill(pids["k1"], signal.SIGKILL)  # a crash after the restart is seen too
        wait_for("k1 crashed", lambda: state(daemon, "k1") == "shut off (crashed)", 15)
    finally:
        lines = watcher.lines()
    assert lines == [
        "event 'lifecycle' for domain 'k2': Stopped Destroyed",
        "event 'lifecycle' for domain 'k1': Suspended Paused",
        "event 'lifecycle' for domain 'k1': Resumed Unpaused",
        "event 'lifecycle' for domain 'k1': Stopped Failed",
    ], lines
    assert not pid_alive(pids["k2"])
    assert vnets(daemon) == []
    assert "connections=" not in virsh_ok(daemon, "net-dumpxml", "default")
    assert virsh_ok(daemon, "list") == " Id   Name   State\n--------------------\n\n"
