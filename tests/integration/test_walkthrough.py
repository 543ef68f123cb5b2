"""The libvirt networking walkthrough, end to end, with real guests.

One pyvirtd in its own network namespace; the real ``virsh`` (and ``pyvirsh``)
start the default network, define and boot the test guest, and every output is
compared byte for byte with what libvirt 9.0 printed
(``tests/data/reference/libvirt-9.0-outputs``), after substituting the values
that differ from run to run (UUIDs, MACs, the leased address, ptys, paths).
"""

from __future__ import annotations

import re
import time

import pytest
from lxml import etree

from .conftest import Daemon
from .guests import (
    CLIENTS,
    INITRD,
    KERNEL,
    REF_INITRD,
    REF_KERNEL,
    assert_output,
    domain_xml,
    guest_ip,
    http_get,
    lease_rows,
    links,
    qemu_account,
    requires_guest,
    run,
    serial_log,
    tap_exists,
    wait_for,
    wait_serial,
)

pytestmark = [pytest.mark.netns, pytest.mark.qemu, requires_guest]

REF_PC1_UUID = "361ea41e-a029-4eb3-8b87-7860f5faf70f"
REF_PC1_MAC = "52:54:00:63:0a:d8"
REF_PC2_UUID = "ce52f268-d08a-42ba-9fe8-695efe9e3075"
REF_NET_UUID = "a51a2a65-28f3-43b7-8b58-4ca93f6a0441"
REF_NET_MAC = "52:54:00:69:3c:3e"
REF_IP = "192.168.122.159"
REF_EXPIRY = "2026-11-28 02:15:51"
REF_PORTID = "631c680a-8df6-476f-adf3-b3ea8e974bf4"
REF_PTY = "/dev/pts/0"
REF_SECLABEL = "+64055:+64055"


def domxml_value(xml: str, xpath: str) -> str:
    found = etree.fromstring(xml.encode()).xpath(xpath)
    assert found, f"{xpath} not in\n{xml}"
    return str(found[0])


@pytest.mark.parametrize("client", CLIENTS)
def test_walkthrough(daemon: Daemon, client: str) -> None:
    def sh(*args: str):  # type: ignore[no-untyped-def]
        return run(daemon, client, *args)

    root = daemon.root
    (root / "pc1.xml").write_text(domain_xml(daemon, "pc1"))
    (root / "pc2-acpi.xml").write_text(domain_xml(daemon, "pc2", acpi=True))

    # --- the network and the first guest -------------------------------------
    assert_output(sh("net-start", "default"), "007-virsh-net-start-default")
    assert_output(sh("list"), "025-virsh-list")
    assert_output(sh("define", "pc1.xml"), "027-virsh-define-pc1")
    assert_output(sh("list", "--all"), "028-virsh-list--all-defined")
    got = sh("dumpxml", "pc1")
    grep = "".join(line + "\n" for line in got.out.splitlines() if "network=" in line.lower())
    assert grep == "      <source network='default'/>\n"
    pc1_uuid = domxml_value(got.out, "/domain/uuid/text()")
    mac = domxml_value(got.out, "/domain/devices/interface/mac/@address")
    net_xml = sh("net-dumpxml", "default").out
    net_uuid = domxml_value(net_xml, "/network/uuid/text()")
    net_mac = domxml_value(net_xml, "/network/mac/@address")
    subs = {REF_PC1_UUID: pc1_uuid, REF_PC1_MAC: mac, REF_NET_UUID: net_uuid, REF_NET_MAC: net_mac}
    tap_mac = "fe" + mac[2:]

    assert_output(sh("start", "pc1"), "033-virsh-start-pc1")
    assert_output(sh("list"), "034-virsh-list-running")

    # the tap: vnet0, up, the guest's MAC with fe:, in the bridge
    vnet0 = [line for line in links(daemon).splitlines() if line.startswith("vnet0 ")]
    want_line = f"vnet0            UNKNOWN        {tap_mac} <BROADCAST,MULTICAST,UP,LOWER_UP> "
    assert vnet0 == [want_line], links(daemon)
    master = daemon.ns.run("ip", "link", "show", "master", "virbr0").stdout
    want = (
        "3: vnet0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master virbr0 state UNKNOWN "
        "mode DEFAULT group default qlen 1000\n"
        f"    link/ether {tap_mac} brd ff:ff:ff:ff:ff:ff\n"
    )
    assert re.sub(r"^\d+:", "3:", master) == want

    got = sh("dominfo", "pc1")
    cpu = re.search(r"^CPU time:       (\d+\.\d)s$", got.out, re.M)
    assert cpu, got.out
    assert_output(
        got, "038-virsh-dominfo-pc1", {**subs, "CPU time:       0.4s": f"CPU time:       {cpu[1]}s"}
    )
    assert_output(sh("domiflist", "pc1"), "039-virsh-domiflist-pc1", subs)
    assert_output(sh("domstate", "pc1", "--reason"), "040-virsh-domstate-reason-running")

    # --- DHCP: the lease shows up in the network and as the domain's address --
    def lease() -> list[str] | None:
        rows = [r for r in lease_rows(sh("net-dhcp-leases", "default").out) if r[1] == mac]
        return rows[0] if rows else None

    row = wait_for("pc1's DHCP lease", lease, timeout=90, interval=0.5)
    ip = row[3].split("/")[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[0]), row
    subs.update({REF_IP: ip, REF_EXPIRY: row[0]})
    assert_output(sh("net-dhcp-leases", "default"), "047-virsh-net-dhcp-leases-default", subs)
    assert_output(
        sh("net-dhcp-leases", "default", "--mac", mac), "048-virsh-net-dhcp-leases-default--mac", subs
    )
    assert_output(sh("domifaddr", "pc1"), "044-virsh-domifaddr-pc1", subs)
    assert_output(sh("domifaddr", "pc1", "--source", "lease"), "045-virsh-domifaddr-pc1--source-lease", subs)
    assert guest_ip(daemon, "pc1") == ip
    assert http_get(daemon, ip) == "guest-hello\n"

    assert_output(sh("net-info", "default"), "049-virsh-net-info-default", subs)
    assert_output(sh("net-dumpxml", "default"), "050-virsh-net-dumpxml-default", subs)
    assert_output(sh("net-dumpxml", "default", "--inactive"), "051-virsh-net-dumpxml-default--inactive", subs)

    live = sh("dumpxml", "pc1").out
    pty = domxml_value(live, "/domain/devices/serial/source/@path")
    assert re.fullmatch(r"/dev/pts/\d+", pty), pty
    live_subs = {
        **subs,
        REF_PORTID: domxml_value(live, "/domain/devices/interface/source/@portid"),
        f"'{REF_PTY}'": f"'{pty}'",
        REF_KERNEL: str(KERNEL),
        REF_INITRD: str(INITRD),
        "/var/log/libvirt/qemu/pc1-serial.log": str(serial_log(daemon, "pc1")),
        REF_SECLABEL: qemu_account()[1],
    }
    assert_output(sh("dumpxml", "pc1"), "052-virsh-dumpxml-pc1-running", live_subs)
    assert_output(sh("dumpxml", "pc1", "--inactive"), "053-virsh-dumpxml-pc1--inactive", live_subs)
    assert_output(sh("start", "pc1"), "060-err-start-pc1-already-running")
    # 056: QEMU runs as the unprivileged account, as libvirt's runs as libvirt-qemu
    pid = (root / "run/pyvirt/qemu/pc1.pid").read_text().strip()
    ps = daemon.ns.run("ps", "-o", "user=", "-p", pid).stdout.strip()
    assert ps == qemu_account()[0], ps

    # --- pc1 has no ACPI: shutdown is ignored; destroy ------------------------
    assert_output(sh("shutdown", "pc1"), "074-virsh-shutdown-pc1")
    time.sleep(5)
    assert_output(sh("domstate", "pc1", "--reason"), "075-virsh-domstate-reason-after-shutdown-5s")
    assert_output(sh("destroy", "pc1"), "076-virsh-destroy-pc1")
    assert_output(sh("domstate", "pc1", "--reason"), "077-virsh-domstate-reason-destroyed")
    assert_output(sh("list", "--all"), "078-virsh-list--all-after-destroy")
    assert not tap_exists(daemon, "vnet0")
    assert_output(sh("destroy", "pc1"), "079-err-destroy-pc1-not-running")
    assert_output(sh("shutdown", "pc1"), "080-err-shutdown-pc1-not-running")
    qemu_log = (root / "var/log/pyvirt/qemu/pc1.log").read_text()
    assert "-name guest=pc1,debug-threads=on" in qemu_log
    assert re.search(r"terminating on signal 15", qemu_log), qemu_log
    assert qemu_log.endswith(": shutting down, reason=destroyed\n"), qemu_log[-500:]
    assert_output(sh("undefine", "pc1"), "082-virsh-undefine-pc1")
    assert_output(sh("list", "--all"), "083-virsh-list--all-after-undefine")

    # --- pc2 has ACPI: the guest powers off on shutdown -----------------------
    assert_output(sh("define", "pc2-acpi.xml"), "085-virsh-define-pc2")
    pc2_uuid = domxml_value(sh("dumpxml", "pc2").out, "/domain/uuid/text()")
    subs2 = {REF_PC2_UUID: pc2_uuid}
    assert_output(sh("start", "pc2"), "086-virsh-start-pc2")
    assert [line.split() for line in sh("list").out.splitlines()[2:] if line] == [["2", "pc2", "running"]]
    wait_serial(daemon, "pc2", "GUEST-ACPI-WATCH")
    assert_output(sh("shutdown", "pc2"), "087-virsh-shutdown-pc2")
    wait_for(
        "pc2 to power off", lambda: sh("domstate", "pc2", "--reason").out == "shut off (shutdown)\n\n", 20
    )
    assert_output(sh("domstate", "pc2", "--reason"), "088-virsh-domstate-reason-pc2-after-shutdown")
    assert not tap_exists(daemon, "vnet0")
    assert "GUEST-ACPI-POWEROFF" in serial_log(daemon, "pc2").read_text(errors="replace")
    assert (root / "var/log/pyvirt/qemu/pc2.log").read_text().endswith(": shutting down, reason=shutdown\n")

    # --- a running domain undefined becomes transient, and vanishes on destroy -
    assert_output(sh("start", "pc2"), "090-virsh-start-pc2-again")
    assert tap_exists(daemon, "vnet0")  # the lowest free name again
    assert_output(sh("undefine", "pc2"), "091-virsh-undefine-pc2-running")
    assert_output(sh("list", "--all"), "092-virsh-list--all-transient")
    got = sh("dominfo", "pc2")
    cpu = re.search(r"^CPU time:       (\d+\.\d)s$", got.out, re.M)
    assert cpu, got.out
    assert_output(
        got,
        "093-virsh-dominfo-pc2-transient",
        {**subs2, "CPU time:       0.5s": f"CPU time:       {cpu[1]}s"},
    )
    assert_output(sh("destroy", "pc2"), "094-virsh-destroy-pc2-transient")
    assert_output(sh("list", "--all"), "095-virsh-list--all-transient-gone")
    assert not tap_exists(daemon, "vnet0")
    assert "connections=" not in sh("net-dumpxml", "default").out
    assert not list((root / "run/pyvirt/qemu").glob("pc*"))
