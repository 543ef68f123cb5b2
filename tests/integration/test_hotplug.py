"""Hotplug on a running guest: attach-/detach-interface, -disk and -device, live and persistent.

Each test runs its own pyvirtd in its own network namespace; the guest has
ACPI (PCI hotplug on i440fx goes through ACPI) and boots from build/guest.
Both the real ``virsh`` and ``pyvirsh`` drive it, with the same messages.
"""

from __future__ import annotations

import os
import pwd

import pytest

from .conftest import Daemon
from .guests import CLIENTS, domain_xml, requires_guest, run, wait_for, wait_serial

pytestmark = [pytest.mark.netns, pytest.mark.qemu, requires_guest]


def ok(daemon: Daemon, client: str, *args: str) -> str:
    got = run(daemon, client, *args)
    assert got.rc == 0, f"{client} {' '.join(args)}: {got.err}"
    return got.out


def iflist(daemon: Daemon, client: str, *args: str) -> list[list[str]]:
    out = ok(daemon, client, "domiflist", *args)
    return [line.split() for line in out.splitlines()[2:] if line.strip()]


def blklist(daemon: Daemon, client: str, *args: str) -> list[list[str]]:
    out = ok(daemon, client, "domblklist", *args)
    return [line.split() for line in out.splitlines()[2:] if line.strip()]


def bridge_ports(daemon: Daemon) -> list[str]:
    out = daemon.ns.run("ip", "-br", "link", "show", "master", "virbr0").stdout
    return sorted(line.split()[0].split("@")[0] for line in out.splitlines() if line.strip())


@pytest.mark.parametrize("client", CLIENTS)
def test_hotplug_interface_and_disk(daemon: Daemon, client: str) -> None:
    ok(daemon, "virsh", "net-start", "default")
    path = daemon.root / "hp1.xml"
    path.write_text(domain_xml(daemon, "hp1", acpi=True))
    ok(daemon, "virsh", "define", str(path))

    # not running: --live is refused, --config works
    got = run(daemon, client, "attach-interface", "hp1", "network", "default", "--live")
    assert (got.rc, got.err) == (
        1,
        "error: Failed to attach interface\nerror: Requested operation is not valid: domain is not running\n",
    )
    ok(daemon, "virsh", "start", "hp1")
    wait_serial(daemon, "hp1", "GUEST-ACPI-WATCH")
    assert bridge_ports(daemon) == ["vnet0"]

    # a second NIC, live and persistent
    mac = "52:54:00:aa:bb:01"
    out = ok(
        daemon, client, "attach-interface", "hp1", "network", "default",
        "--model", "virtio", "--mac", mac, "--live", "--config",
    )  # fmt: skip
    assert out == "Interface attached successfully\n\n"
    assert [r[0] for r in iflist(daemon, client, "hp1")] == ["vnet0", "vnet1"]
    assert iflist(daemon, client, "hp1")[1][1:] == ["network", "default", "virtio", mac]
    assert bridge_ports(daemon) == ["vnet0", "vnet1"]
    live = ok(daemon, "virsh", "dumpxml", "hp1")
    assert "<alias name='net1'/>" in live, live
    assert [r[4] for r in iflist(daemon, client, "hp1", "--inactive")][1] == mac
    assert "connections='2'" in ok(daemon, "virsh", "net-dumpxml", "default")

    # gone again, live and from the config
    out = ok(daemon, client, "detach-interface", "hp1", "network", "--mac", mac, "--live", "--config")
    assert out == "Interface detached successfully\n\n"
    wait_for("the second tap to go", lambda: bridge_ports(daemon) == ["vnet0"], 30)
    wait_for("net1 out of the live XML", lambda: len(iflist(daemon, client, "hp1")) == 1, 30)
    assert len(iflist(daemon, client, "hp1", "--inactive")) == 1
    assert "connections='1'" in ok(daemon, "virsh", "net-dumpxml", "default")

    # a disk, live only
    disk = daemon.root / "extra.img"
    with open(disk, "wb") as f:
        f.truncate(8 * 1024 * 1024)
    out = ok(daemon, client, "attach-disk", "hp1", str(disk), "vdb", "--targetbus", "virtio", "--live")
    assert out == "Disk attached successfully\n\n"
    assert ["vdb", str(disk)] in blklist(daemon, client, "hp1")
    assert blklist(daemon, client, "hp1", "--inactive") == []
    live = ok(daemon, "virsh", "dumpxml", "hp1")
    assert "<alias name='virtio-disk1'/>" in live, live
    try:
        assert os.stat(disk).st_uid == pwd.getpwnam("pyvirt-qemu").pw_uid  # handed to the QEMU user
    except KeyError:
        pass  # no pyvirt-qemu account: QEMU runs as root
    got = run(daemon, client, "attach-disk", "hp1", str(disk), "vdb", "--live")
    assert got.rc == 1 and "target vdb already exists" in got.err, got.err
    out = ok(daemon, client, "detach-disk", "hp1", "vdb", "--live")
    assert out == "Disk detached successfully\n\n"
    wait_for("vdb out of the live XML", lambda: blklist(daemon, client, "hp1") == [], 30)
    assert os.stat(disk).st_uid == 0

    # attach-device / detach-device with a file, persistent only
    dev = daemon.root / "nic.xml"
    dev.write_text(
        "<interface type='network'>\n  <mac address='52:54:00:aa:bb:02'/>\n"
        "  <source network='default'/>\n  <model type='virtio'/>\n</interface>\n"
    )
    assert (
        ok(daemon, client, "attach-device", "hp1", str(dev), "--config") == "Device attached successfully\n\n"
    )
    assert len(iflist(daemon, client, "hp1", "--inactive")) == 2
    assert len(iflist(daemon, client, "hp1")) == 1
    assert (
        ok(daemon, client, "detach-device", "hp1", str(dev), "--config") == "Device detached successfully\n\n"
    )
    assert len(iflist(daemon, client, "hp1", "--inactive")) == 1
    ok(daemon, "virsh", "destroy", "hp1")
    assert bridge_ports(daemon) == []
