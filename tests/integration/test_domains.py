"""Domains that really run: disks, several guests, crashes, events, restarts.

Each test runs its own pyvirtd in its own network namespace (the ``daemon``
fixture), drives it with the real ``virsh`` and boots the test guest from
``build/guest`` on the ``default`` network.  Everything (namespace, QEMU,
files) is removed by the fixtures, pass or fail.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import VIRSH, Daemon
from .guests import (
    DISK,
    KERNEL,
    QEMU_IMG,
    domain_xml,
    guest_ip,
    http_get,
    lease_rows,
    requires_guest,
    serial_log,
    tap_exists,
    wait_for,
    wait_serial,
)

pytestmark = [
    pytest.mark.netns,
    pytest.mark.qemu,
    requires_guest,
    pytest.mark.skipif(VIRSH is None, reason="the real virsh is not installed"),
]


def virsh_ok(daemon: Daemon, *args: str) -> str:
    got = daemon.virsh(*args)
    assert got.rc == 0, f"virsh {' '.join(args)}: {got.err}"
    return got.out


def define(daemon: Daemon, name: str, **kw: object) -> None:
    path = daemon.root / f"{name}.xml"
    path.write_text(domain_xml(daemon, name, **kw))  # type: ignore[arg-type]
    assert virsh_ok(daemon, "define", str(path)) == f"Domain '{name}' defined from {path}\n\n"


def state(daemon: Daemon, name: str) -> str:
    return daemon.virsh("domstate", name, "--reason").out.strip()


def qemu_pid(daemon: Daemon, name: str) -> int:
    return int((daemon.root / "run/pyvirt/qemu" / f"{name}.pid").read_text())


def tap_of(daemon: Daemon, name: str) -> str:
    rows = [line.split() for line in virsh_ok(daemon, "domiflist", name).splitlines()[2:] if line.strip()]
    assert len(rows) == 1, rows
    return rows[0][0]


def vnets(daemon: Daemon) -> list[str]:
    out = daemon.ns.run("ip", "-br", "link").stdout
    return sorted(line.split()[0] for line in out.splitlines() if line.startswith("vnet"))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


@pytest.fixture
def net(daemon: Daemon) -> Daemon:
    """The daemon with the default network started."""
    virsh_ok(daemon, "net-start", "default")
    return daemon


class EventWatcher:
    """``virsh event --loop --all`` running in the background."""

    def __init__(self, daemon: Daemon) -> None:
        assert VIRSH is not None
        self.proc = subprocess.Popen(
            daemon.ns.cmd(VIRSH, "-c", daemon.uri, "event", "--loop", "--all", "--timeout", "240"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)  # let it connect and register

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return out, err

    def lines(self) -> list[str]:
        out, _err = self.stop()
        return [line for line in out.splitlines() if line.startswith("event '")]


# --------------------------------------------------------------------------


def test_qcow2_overlay_two_guests_and_tap_names(net: Daemon) -> None:
    """A guest booting from a qcow2 overlay of the ext4 image, a second one from the initrd
    pinging the first: both get leases, different addresses, and see each other."""
    daemon = net
    if QEMU_IMG is None or not DISK.exists():
        pytest.skip("needs qemu-img and build/guest/disk.img")
    overlay = daemon.root / "ov.qcow2"
    subprocess.run(
        [QEMU_IMG, "create", "-q", "-f", "qcow2", "-b", str(DISK), "-F", "raw", str(overlay)], check=True
    )
    disk_mtime = DISK.stat().st_mtime
    define(
        daemon,
        "disk1",
        disk=overlay,
        disk_format="qcow2",
        cmdline="root=/dev/vda console=ttyS0 guest.hostname=disk1",
    )
    virsh_ok(daemon, "start", "disk1")
    assert tap_of(daemon, "disk1") == "vnet0"
    wait_serial(daemon, "disk1", "GUEST-BOOT root=/dev/vda", 90)
    ip1 = guest_ip(daemon, "disk1")

    define(daemon, "ping2", cmdline=f"console=ttyS0 guest.hostname=ping2 guest.ping={ip1}")
    virsh_ok(daemon, "start", "ping2")
    assert tap_of(daemon, "ping2") == "vnet1"
    ip2 = guest_ip(daemon, "ping2")
    assert ip1 != ip2
    wait_serial(daemon, "ping2", f"GUEST-PING-OK {ip1}", 60)
    assert http_get(daemon, ip1) == "guest-hello\n"
    assert http_get(daemon, ip2) == "guest-hello\n"

    leases = {row[4]: row[3] for row in lease_rows(virsh_ok(daemon, "net-dhcp-leases", "default"))}
    assert leases == {"disk1": f"{ip1}/24", "ping2": f"{ip2}/24"}
    assert "connections='2'" in virsh_ok(daemon, "net-dumpxml", "default")

    # vnet names: the lowest free one is reused
    virsh_ok(daemon, "destroy", "disk1")
    assert vnets(daemon) == ["vnet1"]
    virsh_ok(daemon, "start", "disk1")
    assert tap_of(daemon, "disk1") == "vnet0"
    assert vnets(daemon) == ["vnet0", "vnet1"]
    for name in ("disk1", "ping2"):
        virsh_ok(daemon, "destroy", name)
    assert vnets(daemon) == []
    assert DISK.stat().st_mtime == disk_mtime  # the base image is never written


def test_events_suspend_reboot_shutdown_crash(net: Daemon) -> None:
    """Lifecycle through the real virsh, with ``virsh event --loop --all`` watching."""
    daemon = net
    events = EventWatcher(daemon)
    try:
        define(daemon, "ev1", acpi=True)
        virsh_ok(daemon, "start", "ev1")
        wait_serial(daemon, "ev1", "GUEST-ACPI-WATCH")

        assert virsh_ok(daemon, "suspend", "ev1") == "Domain 'ev1' suspended\n\n"
        assert state(daemon, "ev1") == "paused (user)"
        assert virsh_ok(daemon, "list").splitlines()[2].split() == ["1", "ev1", "paused"]
        assert virsh_ok(daemon, "resume", "ev1") == "Domain 'ev1' resumed\n\n"
        assert state(daemon, "ev1") == "running (unpaused)"

        # reboot through ACPI: the guest powers off, pyvirtd resets it, it boots again
        pid = qemu_pid(daemon, "ev1")
        assert virsh_ok(daemon, "reboot", "ev1") == "Domain 'ev1' is being rebooted\n\n"
        wait_for(
            "the second boot",
            lambda: serial_log(daemon, "ev1").read_text().count("GUEST-ACPI-WATCH") >= 2,
            60,
        )
        assert state(daemon, "ev1") == "running (unpaused)"
        assert qemu_pid(daemon, "ev1") == pid

        virsh_ok(daemon, "shutdown", "ev1")
        wait_for("ev1 to power off", lambda: state(daemon, "ev1") == "shut off (shutdown)", 30)

        virsh_ok(daemon, "start", "ev1")
        pid = qemu_pid(daemon, "ev1")
        assert tap_exists(daemon, "vnet0")
        os.kill(pid, signal.SIGKILL)
        wait_for("ev1 to be seen crashed", lambda: state(daemon, "ev1") == "shut off (crashed)", 10)
        assert not tap_exists(daemon, "vnet0")
        assert "connections=" not in virsh_ok(daemon, "net-dumpxml", "default")
        log = (daemon.root / "var/log/pyvirt/qemu/ev1.log").read_text()
        assert log.endswith(": shutting down, reason=crashed\n"), log[-300:]
        assert virsh_ok(daemon, "undefine", "ev1") == "Domain 'ev1' has been undefined\n\n"
        time.sleep(0.5)
    finally:
        lines = events.lines()
    # QEMU reports a RESET for pyvirtd's system_reset and another for SeaBIOS's own reset.
    lines = [line for i, line in enumerate(lines) if i == 0 or line != lines[i - 1] or "'reboot'" not in line]
    assert lines == [
        "event 'lifecycle' for domain 'ev1': Defined Added",
        "event 'lifecycle' for domain 'ev1': Started Booted",
        "event 'lifecycle' for domain 'ev1': Suspended Paused",
        "event 'lifecycle' for domain 'ev1': Resumed Unpaused",
        "event 'reboot' for domain 'ev1'",
        "event 'lifecycle' for domain 'ev1': Shutdown Finished after guest request",
        "event 'lifecycle' for domain 'ev1': Stopped Shutdown",
        "event 'lifecycle' for domain 'ev1': Started Booted",
        "event 'lifecycle' for domain 'ev1': Stopped Failed",
        "event 'lifecycle' for domain 'ev1': Undefined Removed",
    ]


def test_libvirt_python_sees_crash(net: Daemon) -> None:
    """libvirt-python's event loop gets the STOPPED event of a QEMU killed with SIGKILL."""
    daemon = net
    if not Path("/usr/bin/python3").exists():
        pytest.skip("no /usr/bin/python3")
    define(daemon, "crash1")
    virsh_ok(daemon, "start", "crash1")
    pid = qemu_pid(daemon, "crash1")
    script = f"""
import libvirt, os, signal, sys, threading, time
libvirt.virEventRegisterDefaultImpl()
conn = libvirt.open({daemon.uri!r})
got = []
def cb(conn, dom, event, detail, opaque):
    got.append((dom.name(), event, detail))
conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, cb, None)
os.kill({pid}, signal.SIGKILL)
deadline = time.time() + 10
while not got and time.time() < deadline:
    libvirt.virEventRunDefaultImpl()
print(got)
dom = conn.lookupByName('crash1')
print(dom.state())
"""
    got = daemon.python_libvirt(script)
    # STOPPED FAILED; SHUTOFF CRASHED
    assert got.out.splitlines() == ["[('crash1', 5, 5)]", "[5, 3]"], got.err
    assert not tap_exists(daemon, "vnet0")


def test_start_failures_leave_nothing(daemon: Daemon) -> None:
    """Network inactive; a disk path with a comma (no option injection): clean failures."""
    define(daemon, "nonet")
    got = daemon.virsh("start", "nonet")
    assert (got.rc, got.out, got.err) == (
        1,
        "\n",
        "error: Failed to start domain 'nonet'\n"
        "error: Requested operation is not valid: network 'default' is not active\n",
    )
    assert vnets(daemon) == []
    assert state(daemon, "nonet") == "shut off (failed)"

    virsh_ok(daemon, "net-start", "default")
    evil = daemon.root / "x.img,file.driver=null-co,id=evil"
    define(daemon, "comma", disk=evil, network="default")
    got = daemon.virsh("start", "comma")
    assert got.rc == 1
    assert got.err.startswith("error: Failed to start domain 'comma'\nerror: internal error: "), got.err
    assert f"Could not open '{evil}': No such file or directory" in got.err, got.err
    assert vnets(daemon) == []
    assert state(daemon, "comma") == "shut off (failed)"
    assert "connections=" not in virsh_ok(daemon, "net-dumpxml", "default")
    assert not list((daemon.root / "run/pyvirt/qemu").glob("comma*"))
    log = (daemon.root / "var/log/pyvirt/qemu/comma.log").read_text()
    assert log.endswith(": shutting down, reason=failed\n"), log[-300:]


def test_create_paused_and_memory(net: Daemon) -> None:
    """``create FILE`` (transient), ``start --paused``, dominfo's used memory, console pty."""
    daemon = net
    path = daemon.root / "tr1.xml"
    path.write_text(domain_xml(daemon, "tr1"))
    assert virsh_ok(daemon, "create", str(path)) == f"Domain 'tr1' created from {path}\n\n"
    assert virsh_ok(daemon, "list", "--transient").splitlines()[2].split() == ["1", "tr1", "running"]
    assert "Persistent:     no" in virsh_ok(daemon, "dominfo", "tr1")
    got = daemon.virsh("create", str(path))
    assert got.rc == 1 and "already" in got.err, got.err
    assert virsh_ok(daemon, "destroy", "tr1") == "Domain 'tr1' destroyed\n\n"
    assert daemon.virsh("dominfo", "tr1").err == "error: failed to get domain 'tr1'\n"

    define(daemon, "p1")
    assert virsh_ok(daemon, "start", "--paused", "p1") == "Domain 'p1' started\n\n"
    assert state(daemon, "p1") == "paused (user)"
    assert not serial_log(daemon, "p1").read_text()  # no CPU has run yet
    virsh_ok(daemon, "resume", "p1")
    assert state(daemon, "p1") == "running (unpaused)"
    wait_serial(daemon, "p1", "GUEST-BOOT")
    info = virsh_ok(daemon, "dominfo", "p1")
    assert "Used memory:    262144 KiB" in info, info
    live = virsh_ok(daemon, "dumpxml", "p1")
    m = re.search(r"<console type='pty' tty='(/dev/pts/\d+)'>", live)
    assert m and Path(m[1]).exists(), live
    assert virsh_ok(daemon, "ttyconsole", "p1").strip() == m[1]
    virsh_ok(daemon, "destroy", "p1")


def test_autostart_at_daemon_start(net: Daemon) -> None:
    daemon = net
    define(daemon, "auto1")
    assert virsh_ok(daemon, "autostart", "auto1") == "Domain 'auto1' marked as autostarted\n\n"
    assert (daemon.root / "etc/pyvirt/qemu/autostart/auto1.xml").is_symlink()
    daemon.stop()
    # as a host reboot would: the once-per-boot marker is gone
    (daemon.root / "run/pyvirt/qemu/autostarted").unlink(missing_ok=True)
    daemon.start()
    wait_for("auto1 autostarted", lambda: state(daemon, "auto1") == "running (booted)", 20)
    assert "Autostart:      enable" in virsh_ok(daemon, "dominfo", "auto1")
    virsh_ok(daemon, "destroy", "auto1")
    # a daemon restart in the same boot does not autostart again
    daemon.stop()
    daemon.start()
    time.sleep(1)
    assert state(daemon, "auto1") == "shut off (unknown)"  # as libvirtd after a restart


def test_guest_survives_daemon_restart(net: Daemon) -> None:
    """pyvirtd stopped (SIGTERM, then SIGKILL) and started again: the guest runs on, reattached."""
    daemon = net
    define(daemon, "keep1")
    virsh_ok(daemon, "start", "keep1")
    ip = guest_ip(daemon, "keep1")
    wait_for("the lease", lambda: "/24" in virsh_ok(daemon, "domifaddr", "keep1"), 30)
    before = {
        cmd: virsh_ok(daemon, *cmd.split())
        for cmd in ("list", "domifaddr keep1", "domiflist keep1", "domstate keep1 --reason", "dumpxml keep1")
    }
    info_before = re.sub(r"CPU time:.*\n", "", virsh_ok(daemon, "dominfo", "keep1"))
    pid = qemu_pid(daemon, "keep1")

    for how in (signal.SIGTERM, signal.SIGKILL):
        daemon.stop(how)
        assert pid_alive(pid)
        daemon.start()
        assert qemu_pid(daemon, "keep1") == pid
        for cmd, out in before.items():
            assert virsh_ok(daemon, *cmd.split()) == out, (how, cmd)
        assert re.sub(r"CPU time:.*\n", "", virsh_ok(daemon, "dominfo", "keep1")) == info_before
        assert "connections='1'" in virsh_ok(daemon, "net-dumpxml", "default")
        assert http_get(daemon, ip) == "guest-hello\n"

    # the reattached domain is fully controlled: link state, new ids continue, destroy works
    assert virsh_ok(daemon, "domif-setlink", "keep1", "vnet0", "down") == "Device updated successfully\n\n"
    assert virsh_ok(daemon, "domif-getlink", "keep1", "vnet0") == "vnet0 down\n"
    assert daemon.ns.run("curl", "-s", "-m", "2", f"http://{ip}/", check=False).returncode != 0
    virsh_ok(daemon, "domif-setlink", "keep1", "vnet0", "up")
    assert virsh_ok(daemon, "domif-getlink", "keep1", "vnet0") == "vnet0 up\n"
    assert http_get(daemon, ip) == "guest-hello\n"
    define(daemon, "next2")
    virsh_ok(daemon, "start", "--paused", "next2")
    assert virsh_ok(daemon, "domid", "next2").strip() == "2"
    virsh_ok(daemon, "destroy", "next2")
    assert virsh_ok(daemon, "destroy", "keep1") == "Domain 'keep1' destroyed\n\n"
    wait_for("QEMU gone", lambda: not pid_alive(pid), 10)
    assert vnets(daemon) == []
    assert state(daemon, "keep1") == "shut off (destroyed)"
    assert "connections=" not in virsh_ok(daemon, "net-dumpxml", "default")


def _qemu_user() -> tuple[int, int]:
    import pwd

    try:
        pw = pwd.getpwnam("pyvirt-qemu")
    except KeyError:
        pytest.skip("needs the pyvirt-qemu account (make setup creates it)")
    return pw.pw_uid, pw.pw_gid


def _owner(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid


def _xattrs(path: Path) -> list[str]:
    return sorted(a for a in os.listxattr(path) if a.startswith("trusted.pyvirt."))


def test_qemu_runs_as_unprivileged_user(net: Daemon) -> None:
    """QEMU runs as pyvirt-qemu; the qcow2 overlay is handed over for the run and given back
    on destroy, and after a daemon restart that finds the guest dead; an unreachable image
    fails the start with libvirt's error."""
    daemon = net
    uid, gid = _qemu_user()
    if QEMU_IMG is None or not DISK.exists():
        pytest.skip("needs qemu-img and build/guest/disk.img")
    overlay = daemon.root / "ov-user.qcow2"
    subprocess.run(
        [QEMU_IMG, "create", "-q", "-f", "qcow2", "-b", str(DISK), "-F", "raw", str(overlay)], check=True
    )
    os.chown(overlay, 4321, 4322)  # an owner nobody else has, to see it come back exactly
    base_owner = _owner(DISK)
    define(
        daemon,
        "dac1",
        disk=overlay,
        disk_format="qcow2",
        cmdline="root=/dev/vda console=ttyS0 guest.hostname=dac1",
    )
    virsh_ok(daemon, "start", "dac1")
    pid = qemu_pid(daemon, "dac1")
    ps = subprocess.run(["ps", "-o", "user=", "-p", str(pid)], capture_output=True, text=True, check=True)
    assert ps.stdout.strip() == "pyvirt-qemu"
    assert _owner(overlay) == (uid, gid)
    assert os.getxattr(overlay, "trusted.pyvirt.security.dac") == b"+4321:+4322"
    assert _owner(KERNEL) == (0, 0)  # read-only and world-readable: left alone
    live = virsh_ok(daemon, "dumpxml", "dac1")
    label = f"+{uid}:+{gid}"
    assert (
        "  <seclabel type='dynamic' model='dac' relabel='yes'>\n"
        f"    <label>{label}</label>\n"
        f"    <imagelabel>{label}</imagelabel>\n"
        "  </seclabel>\n"
    ) in live, live
    wait_serial(daemon, "dac1", "GUEST-BOOT root=/dev/vda", 90)  # it reads the backing chain as that user
    virsh_ok(daemon, "destroy", "dac1")
    assert _owner(overlay) == (4321, 4322)
    assert _xattrs(overlay) == []
    assert _owner(DISK) == base_owner

    # found dead by a restarted daemon: the owner comes back too
    virsh_ok(daemon, "start", "dac1")
    pid = qemu_pid(daemon, "dac1")
    assert _owner(overlay) == (uid, gid)
    daemon.stop(signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    wait_for("QEMU gone", lambda: not pid_alive(pid), 10)
    daemon.start()
    assert state(daemon, "dac1") == "shut off (unknown)"
    assert _owner(overlay) == (4321, 4322)
    assert _xattrs(overlay) == []

    # an image in a directory the QEMU user cannot search
    private = daemon.root / "private"
    private.mkdir(mode=0o700)
    hidden = private / "hidden.qcow2"
    subprocess.run(
        [QEMU_IMG, "create", "-q", "-f", "qcow2", "-b", str(DISK), "-F", "raw", str(hidden)], check=True
    )
    define(daemon, "dac2", disk=hidden, disk_format="qcow2", cmdline="root=/dev/vda console=ttyS0")
    got = daemon.virsh("start", "dac2")
    assert (got.rc, got.err) == (
        1,
        "error: Failed to start domain 'dac2'\n"
        f"error: Cannot access storage file '{hidden}' (as uid:{uid}, gid:{gid}): Permission denied\n",
    )
    assert state(daemon, "dac2") == "shut off (failed)"
    assert _owner(hidden) == (0, 0)
    assert vnets(daemon) == []
    assert "connections=" not in virsh_ok(daemon, "net-dumpxml", "default")
