"""Virtual networks that really run, driven through pyvirtd by the real virsh, pyvirsh and libvirt-python.

Every daemon runs in its own network namespace (the ``daemon`` fixture).  Tests
that need a guest or an upstream host add two more namespaces of their own:

    client ns: gv0 --veth-- gh0 (daemon ns, enslaved to the network's bridge)
    daemon ns: up0h 203.0.113.2 --veth-- up0 203.0.113.1 (upstream ns)

Nothing is configured in, or sent to, the machine's own namespace; the
namespaces, their processes and the private root go away when a test ends.

Outputs are compared with what the real libvirt 9.0 printed
(tests/data/reference/libvirt-9.0-outputs), after masking the values that
change from run to run (UUIDs, generated MACs, lease times and addresses).
Both clients run with ``TZ=UTC`` so lease expiry times are predictable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .conftest import PYVIRSH, VIRSH, Daemon, NetNS, Result

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(
        shutil.which("dnsmasq") is None and not Path("/usr/sbin/dnsmasq").exists(), reason="needs dnsmasq"
    ),
]

REF = Path(__file__).resolve().parents[1] / "data/reference"
OUT = REF / "libvirt-9.0-outputs"
XML = REF / "xml"

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAC_RE = re.compile(r"52:54:00(:[0-9a-f]{2}){3}")

UPSTREAM = "203.0.113.1"
UPLINK = "203.0.113.2"
GUEST_MAC = "52:54:00:aa:bb:01"
CLIENT_ENV = dict(os.environ, TZ="UTC", LC_ALL="C")

CLIENTS = [
    pytest.param("virsh", marks=pytest.mark.skipif(VIRSH is None, reason="no virsh")),
    "pyvirsh",
]

T = TypeVar("T")

# A TCP server answering every connection with the peer's address, and its client.
ECHO_SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
print("ready", flush=True)
while True:
    c, a = s.accept(); c.sendall((a[0] + "\\n").encode()); c.close()
"""
ECHO_CLIENT = """
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    print(c.recv(100).decode().strip())
except OSError as e:
    print("ERROR", e); sys.exit(1)
"""
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route replace default via "$router" dev "$interface"
    echo "$ip" > "$LEASE_OUT"
    ;;
esac
exit 0
"""

# libvirt-python: print every network lifecycle event as "NAME EVENT DETAIL" until ``count`` arrived.
EVENT_LISTENER = """
import sys, threading, time, libvirt
libvirt.virEventRegisterDefaultImpl()
conn = libvirt.open(sys.argv[1])
count, done = int(sys.argv[2]), threading.Event()
def cb(conn, net, event, detail, opaque):
    print(net.name(), event, detail, flush=True)
    opaque.append(event)
    if len(opaque) >= count:
        done.set()
seen = []
conn.networkEventRegisterAny(None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE, cb, seen)
def loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=loop, daemon=True).start()
print("ready", flush=True)
done.wait(float(sys.argv[3]))
"""


# ---------------------------------------------------------------- helpers


def cli(daemon: Daemon, client: str, *args: str, timeout: float = 60) -> Result:
    """Run virsh or pyvirsh against ``daemon`` (in its namespace, TZ=UTC)."""
    prog = VIRSH if client == "virsh" else str(PYVIRSH)
    assert prog is not None
    p = subprocess.run(
        daemon.ns.cmd(prog, "-c", daemon.uri, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=daemon.root,
        env=CLIENT_ENV,
        check=False,
    )
    return Result(p.returncode, p.stdout, p.stderr)


def mask(text: str) -> str:
    return MAC_RE.sub("52:54:00:XX:XX:XX", UUID_RE.sub("UUID", text))


def expected(name: str) -> Result:
    stdout = (OUT / f"{name}.txt").read_text()
    err_file = OUT / f"{name}.stderr"
    stderr = err_file.read_text() if err_file.exists() else ""
    return Result(0 if not stderr else 1, stdout, stderr)


def assert_same(got: Result, name: str, fix: Callable[[str], str] = lambda s: s) -> None:
    """``got`` equals reference output ``name`` (after masking, and ``fix`` applied to the reference)."""
    want = expected(name)
    assert (got.rc, mask(got.out), mask(got.err)) == (want.rc, mask(fix(want.out)), mask(want.err))


def ok(got: Result, stdout: str | None = None) -> Result:
    assert got.rc == 0 and got.err == "", got
    if stdout is not None:
        assert got.out == stdout
    return got


def wait_for(pred: Callable[[], T], timeout: float = 15, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def vsh_table(headers: list[str], rows: list[list[str]]) -> str:
    """virsh's vshTable layout (facts B.1): cells left-aligned, 3 spaces apart, a dashed divider."""
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return (" " + "   ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))).rstrip() + "\n"

    dashes = 1 + sum(widths) + 3 * (len(widths) - 1) + 2  # from the padded widths
    return line(headers) + "-" * dashes + "\n" + "".join(line(r) for r in rows) + "\n"


LEASE_HEADERS = ["Expiry Time", "MAC address", "Protocol", "IP address", "Hostname", "Client ID or DUID"]


def lease_table(leases: list[dict[str, Any]], prefix: int = 24) -> str:
    rows = [
        [
            datetime.fromtimestamp(x["expiry-time"], UTC).strftime("%Y-%m-%d %H:%M:%S"),
            x["mac-address"],
            "ipv4",
            f"{x['ip-address']}/{prefix}",
            x.get("hostname") or "-",
            x.get("client-id") or "-",
        ]
        for x in sorted(leases, key=lambda x: str(x["mac-address"]).lower())
    ]
    return vsh_table(LEASE_HEADERS, rows)


def dnsmasq_pids(daemon: Daemon, name: str | None = None) -> list[int]:
    """Live dnsmasq processes started for ``daemon``'s root (for network ``name`` if given).

    Only the main process of each dnsmasq counts: the root helper it forks for
    the ``--dhcp-script`` (libvirt's 015 shows both) is left out.
    """
    conf = f"--conf-file={daemon.root}/var/lib/pyvirt/dnsmasq/{name + '.conf' if name else ''}".encode()
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if argv[0].endswith(b"dnsmasq") and any(a.startswith(conf) for a in argv) and fields[0] not in "ZX":
            found[int(entry.name)] = int(fields[1])
    return sorted(pid for pid, ppid in found.items() if ppid not in found)


def links(ns: NetNS) -> list[str]:
    return [line.split()[0] for line in ns.run("ip", "-br", "link").stdout.splitlines()]


def ruleset(ns: NetNS) -> str:
    """``nft list ruleset`` without the packet counts (they move with any traffic)."""
    return re.sub(r"packets \d+ bytes \d+", "", ns.run("nft", "list", "ruleset").stdout)


def status_leases(daemon: Daemon, bridge: str = "virbr0") -> list[dict[str, Any]]:
    path = daemon.root / "var/lib/pyvirt/dnsmasq" / f"{bridge}.status"
    text = path.read_text() if path.exists() else ""
    return list(json.loads(text)) if text.strip() else []


def assert_torn_down(daemon: Daemon, name: str, bridge: str) -> None:
    """No bridge, no nft chains, no dnsmasq, no pid file and no status file of network ``name``."""
    assert bridge not in links(daemon.ns)
    assert f"pv_{name}_" not in ruleset(daemon.ns)
    assert not dnsmasq_pids(daemon, name)
    assert not (daemon.root / "run/pyvirt/network" / f"{name}.pid").exists()
    assert not (daemon.root / "run/pyvirt/network" / f"{name}.xml").exists()


def net_xml(name: str, bridge: str, net: str, forward: str = "", extra: str = "") -> str:
    """A test network on 192.168.NET.0/24 with DHCP, STP off (no forward delay for new ports)."""
    return f"""<network>
  <name>{name}</name>
  {forward}
  <bridge name='{bridge}' stp='off'/>
  <ip address='192.168.{net}.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.{net}.2' end='192.168.{net}.254'/>
    </dhcp>
  </ip>{extra}
</network>
"""


class Lab:
    """A client namespace cabled into the daemon's namespace, and an upstream host behind it."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.procs: list[subprocess.Popen[str]] = []
        self.client = NetNS("pvc")
        try:
            self.up = NetNS("pvu")
        except BaseException:
            self.client.destroy()
            raise
        dns = daemon.ns
        dns.run("ip", "link", "add", "gh0", "type", "veth", "peer", "name", "gv0", "netns", self.client.name)
        self.client.run("ip", "link", "set", "gv0", "address", GUEST_MAC, "up")
        dns.run("ip", "link", "add", "up0h", "type", "veth", "peer", "name", "up0", "netns", self.up.name)
        dns.run("ip", "addr", "add", f"{UPLINK}/24", "dev", "up0h")
        dns.run("ip", "link", "set", "up0h", "up")
        self.up.run("ip", "addr", "add", f"{UPSTREAM}/24", "dev", "up0")
        self.up.run("ip", "link", "set", "up0", "up")
        self.script = daemon.root / "udhcpc.sh"
        self.script.write_text(UDHCPC_SCRIPT)
        self.script.chmod(0o755)

    def plug(self, bridge: str) -> None:
        self.daemon.ns.run("ip", "link", "set", "gh0", "master", bridge, "up")

    def dhcp(self, hostname: str = "client1", timeout: int = 20) -> str | None:
        """Run busybox udhcpc once in the client namespace; the address it got, or None."""
        out = self.daemon.root / "lease.txt"
        out.unlink(missing_ok=True)
        subprocess.run(
            self.client.cmd("busybox", "udhcpc", "-i", "gv0", "-f", "-q", "-n", "-t", str(timeout), "-T", "1",
                            "-x", f"hostname:{hostname}", "-s", str(self.script)),
            capture_output=True, text=True, env=dict(os.environ, LEASE_OUT=str(out)),
            timeout=timeout + 10, check=False,
        )  # fmt: skip
        return out.read_text().strip() if out.exists() else None

    def serve(self, ns: NetNS, port: int) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            ns.cmd(sys.executable, "-c", ECHO_SERVER, str(port)),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    def connect(self, ns: NetNS, addr: str, port: int, timeout: float = 3) -> str:
        res = ns.run(sys.executable, "-c", ECHO_CLIENT, addr, str(port), str(timeout), check=False)
        return res.stdout.strip()

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()
        self.client.destroy()
        self.up.destroy()


@pytest.fixture
def lab(daemon: Daemon) -> Iterator[Lab]:
    lab = Lab(daemon)
    try:
        yield lab
    finally:
        lab.close()


def python_libvirt(daemon: Daemon, script: str) -> Result:
    """Run ``script`` with Debian's python3-libvirt in the daemon's namespace; ``URI`` is predefined."""
    if not Path("/usr/bin/python3").exists():
        pytest.skip("no /usr/bin/python3")
    return daemon.python_libvirt(f"URI = {daemon.uri!r}\n" + script)


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("client", CLIENTS)
def test_default_network_lifecycle(daemon: Daemon, client: str) -> None:
    """net-start/list/info/dumpxml/autostart/destroy of the default network, as libvirt prints them."""
    for name in ("net-clash.xml",):
        shutil.copy(XML / name, daemon.root / name)
    ns = daemon.ns
    assert_same(cli(daemon, client, "net-list"), "003-virsh-net-list")
    assert_same(cli(daemon, client, "net-start", "default"), "007-virsh-net-start-default")
    # the bridge, its address and dnsmasq in the daemon's namespace
    assert_same(Result(0, ns.run("ip", "-br", "link").stdout, ""), "010-ip-br-link")
    assert_same(Result(0, ns.run("ip", "addr").stdout, ""), "011-ip-addr")
    udp, tcp = ns.run("ss", "-lnup").stdout, ns.run("ss", "-lntp").stdout
    assert re.search(r"192\.168\.122\.1:53 .*dnsmasq", udp), udp
    assert re.search(r"0\.0\.0\.0%virbr0:67 .*dnsmasq", udp), udp
    assert re.search(r"192\.168\.122\.1:53 .*dnsmasq", tcp), tcp
    assert len(dnsmasq_pids(daemon, "default")) == 1
    assert "pv_default_nat" in ruleset(ns)
    files = sorted(p.name for p in (daemon.root / "var/lib/pyvirt/dnsmasq").iterdir())
    assert files == ["default.addnhosts", "default.conf", "default.hostsfile", "virbr0.macs", "virbr0.status"]
    assert (daemon.root / "var/lib/pyvirt/dnsmasq/virbr0.macs").read_text().strip() == "[]"

    assert_same(cli(daemon, client, "net-list"), "008-virsh-net-list-after-start")
    assert_same(cli(daemon, client, "net-list", "--all"), "009-virsh-net-list--all-after-start")
    assert_same(cli(daemon, client, "net-info", "default"), "049-virsh-net-info-default")
    assert_same(cli(daemon, client, "net-start", "default"), "062-err-net-start-default-already-active")
    # no guest attached: the live XML has no connections attribute
    assert_same(
        cli(daemon, client, "net-dumpxml", "default"),
        "050-virsh-net-dumpxml-default",
        lambda s: s.replace("<network connections='1'>", "<network>"),
    )
    assert_same(
        cli(daemon, client, "net-dumpxml", "default", "--inactive"), "051-virsh-net-dumpxml-default--inactive"
    )
    assert_same(cli(daemon, client, "net-dhcp-leases", "default"), "042-virsh-net-dhcp-leases-before-lease")
    assert_same(cli(daemon, client, "net-autostart", "default"), "022-virsh-net-autostart")
    assert_same(cli(daemon, client, "net-list", "--all"), "023-virsh-net-list--all-autostart")
    assert (daemon.root / "etc/pyvirt/qemu/networks/autostart/default.xml").is_symlink()
    assert_same(
        cli(daemon, client, "net-autostart", "--disable", "default"), "024-virsh-net-autostart--disable"
    )
    assert not (daemon.root / "etc/pyvirt/qemu/networks/autostart/default.xml").exists()

    # a second network on the same subnet: libvirt's route collision, and nothing is left behind
    assert_same(cli(daemon, client, "net-define", "net-clash.xml"), "064-net-define-clash")
    before = ruleset(ns)
    assert_same(cli(daemon, client, "net-start", "clash"), "065-err-net-start-clash-route-collision")
    assert "virbr9" not in links(ns)
    assert ruleset(ns) == before
    assert_torn_down(daemon, "clash", "virbr9")
    assert not (daemon.root / "var/lib/pyvirt/dnsmasq/clash.conf").exists()
    assert_same(cli(daemon, client, "net-undefine", "clash"), "066-net-undefine-clash")

    assert_same(cli(daemon, client, "net-destroy", "default"), "096-virsh-net-destroy-default")
    assert_same(cli(daemon, client, "net-list", "--all"), "097-virsh-net-list--all-after-destroy")
    assert_same(cli(daemon, client, "net-destroy", "default"), "098-err-net-destroy-inactive")
    assert_same(Result(0, ns.run("ip", "-br", "link").stdout, ""), "099-ip-br-link-after-net-destroy")
    assert_torn_down(daemon, "default", "virbr0")
    assert "pyvirt_network" not in ns.run("nft", "list", "tables").stdout


@pytest.mark.parametrize("client", CLIENTS)
def test_bridge_name_taken_by_a_netdev(daemon: Daemon, client: str) -> None:
    """A network whose bridge name exists as another device fails to start and leaves nothing."""
    ns = daemon.ns
    ns.run("ip", "link", "add", "virbr7", "type", "veth", "peer", "name", "virbr7p")
    (daemon.root / "taken.xml").write_text(net_xml("taken", "virbr7", "77", "<forward mode='nat'/>"))
    ok(cli(daemon, client, "net-define", "taken.xml"), "Network taken defined from taken.xml\n\n")
    got = cli(daemon, client, "net-start", "taken")
    assert (got.rc, got.out) == (1, "\n")
    assert got.err == (
        "error: Failed to start network taken\nerror: error creating bridge interface virbr7: File exists\n"
    )
    # the other device is untouched; none of the network's pieces exist
    assert "veth" in ns.run("ip", "-d", "link", "show", "virbr7").stdout
    assert "pyvirt_network" not in ns.run("nft", "list", "tables").stdout
    assert not dnsmasq_pids(daemon)
    assert not (daemon.root / "var/lib/pyvirt/dnsmasq/taken.conf").exists()
    assert not (daemon.root / "run/pyvirt/network/taken.xml").exists()
    assert "taken     inactive" in ok(cli(daemon, client, "net-list", "--all")).out
    ok(cli(daemon, client, "net-undefine", "taken"), "Network taken has been undefined\n\n")


def test_dhcp_dns_static_hosts_nat_and_port_forwards(daemon: Daemon, lab: Lab) -> None:
    """A DHCP client on the default network: lease, DNS, static host, NAT and port forwards."""
    ok(cli(daemon, "virsh", "net-start", "default"))
    lab.plug("virbr0")
    ip = lab.dhcp("client1")  # STP on (the default network): the port forwards after ~4 s
    assert ip is not None and ip.startswith("192.168.122.")
    assert 2 <= int(ip.rsplit(".", 1)[1]) <= 254
    leases = wait_for(lambda: status_leases(daemon), what="the lease in virbr0.status")
    assert [(x["ip-address"], x["mac-address"], x.get("hostname")) for x in leases] == [
        (ip, GUEST_MAC, "client1")
    ]
    assert leases[0]["client-id"] == "01:" + GUEST_MAC

    # net-dhcp-leases (047/048 shape): same layout as libvirt's table, both clients
    ref_row = ["2026-11-28 02:15:51", "52:54:00:63:0a:d8", "ipv4", "192.168.122.159/24", "guest1",
               "01:52:54:00:63:0a:d8"]  # fmt: skip
    assert vsh_table(LEASE_HEADERS, [ref_row]) == expected("047-virsh-net-dhcp-leases-default").out
    table = lease_table(leases)
    for client in ("virsh", "pyvirsh"):
        ok(cli(daemon, client, "net-dhcp-leases", "default"), table)
        ok(cli(daemon, client, "net-dhcp-leases", "default", "--mac", GUEST_MAC.upper()), table)
        ok(cli(daemon, client, "net-dhcp-leases", "default", "--mac", "52:54:00:00:00:99"), lease_table([]))
    got = python_libvirt(
        daemon,
        "import libvirt\n"
        "net = libvirt.open(URI).networkLookupByName('default')\n"
        "for x in net.DHCPLeases():\n"
        "    keys = ('iface', 'mac', 'ipaddr', 'prefix', 'hostname', 'clientid', 'type')\n"
        "    print(*(x[k] for k in keys))\n",
    )
    assert ok(got).out == f"virbr0 {GUEST_MAC} {ip} 24 client1 01:{GUEST_MAC} 0\n"

    # DNS: the DHCP client's hostname resolves through the network's dnsmasq
    look = lab.client.run("busybox", "nslookup", "client1", "192.168.122.1", check=False)
    assert f"Address: {ip}" in look.stdout, look

    # NAT: the upstream host sees the daemon's uplink address
    lab.serve(lab.up, 8000)
    assert lab.connect(lab.client, UPSTREAM, 8000) == UPLINK

    # a static host, live and persistent: the client gets exactly .10 from now on
    host = f"<host mac='{GUEST_MAC}' ip='192.168.122.10'/>"
    ok(
        cli(daemon, "virsh", "net-update", "default", "add", "ip-dhcp-host", host, "--live", "--config"),
        "Updated network default persistent config and live state\n",
    )
    hostsfile = daemon.root / "var/lib/pyvirt/dnsmasq/default.hostsfile"
    assert hostsfile.read_text() == f"{GUEST_MAC},192.168.122.10\n"
    assert lab.dhcp("client1") == "192.168.122.10"
    assert (
        f"<host mac='{GUEST_MAC}' ip='192.168.122.10'/>"
        in ok(cli(daemon, "virsh", "net-dumpxml", "default")).out
    )
    inactive = ok(cli(daemon, "pyvirsh", "net-dumpxml", "default", "--inactive")).out
    assert f"<host mac='{GUEST_MAC}' ip='192.168.122.10'/>" in inactive
    assert (
        f"<host mac='{GUEST_MAC}' ip='192.168.122.10'/>"
        in (daemon.root / "etc/pyvirt/qemu/networks/default.xml").read_text()
    )
    assert lab.connect(lab.client, UPSTREAM, 8000) == UPLINK

    # DNS host entries, live only (addnhosts + SIGHUP, dnsmasq keeps running)
    pid = dnsmasq_pids(daemon, "default")
    dns_host = "<host ip='192.168.122.250'><hostname>myhost</hostname></host>"
    ok(
        cli(daemon, "pyvirsh", "net-update", "default", "add", "dns-host", dns_host, "--live"),
        "Updated network default live state\n",
    )
    assert dnsmasq_pids(daemon, "default") == pid
    look = lab.client.run("busybox", "nslookup", "myhost", "192.168.122.1", check=False)
    assert "Address: 192.168.122.250" in look.stdout, look
    assert "myhost" not in ok(cli(daemon, "virsh", "net-dumpxml", "default", "--inactive")).out

    # port forwards (pyvirt's section 1000): added live through libvirt-python, removed with pyvirsh
    lab.serve(lab.client, 8000)
    pf = "<portForward proto='tcp' port='8080' to='192.168.122.10' toPort='8000'/>"
    update = (
        "import libvirt\n"
        "net = libvirt.open(URI).networkLookupByName('default')\n"
        "flags = libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE | libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG\n"
        f"net.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, 1000, -1, {pf!r}, flags)\n"
    )
    ok(python_libvirt(daemon, update))
    assert pf in ok(cli(daemon, "virsh", "net-dumpxml", "default")).out
    assert pf in ok(cli(daemon, "virsh", "net-dumpxml", "default", "--inactive")).out
    assert lab.connect(lab.up, UPLINK, 8080) == UPSTREAM  # reaches the client, source kept
    table = vsh_table(
        ["Protocol", "Host address", "Host port", "Guest address", "Guest port"],
        [["tcp", "*", "8080", "192.168.122.10", "8000"]],
    )
    ok(cli(daemon, "pyvirsh", "net-port-forwards", "default"), table)
    rules = json.loads(ok(cli(daemon, "pyvirsh", "net-port-forwards", "default", "--json")).out)
    assert [(r["proto"], r["port"], r["to"], r["to_port"]) for r in rules] == [
        ("tcp", 8080, "192.168.122.10", 8000)
    ]
    ok(
        cli(daemon, "pyvirsh", "net-update", "default", "delete", "port-forward", pf, "--live", "--config"),
        "Updated network default persistent config and live state\n",
    )
    assert "portForward" not in ok(cli(daemon, "virsh", "net-dumpxml", "default")).out
    assert "portForward" not in ok(cli(daemon, "virsh", "net-dumpxml", "default", "--inactive")).out
    assert lab.connect(lab.up, UPLINK, 8080, timeout=1).startswith("ERROR")
    assert "dnat to" not in ruleset(daemon.ns)
    assert lab.connect(lab.client, UPSTREAM, 8000) == UPLINK  # plain NAT still works

    # deleting the static host
    ok(
        cli(daemon, "pyvirsh", "net-update", "default", "delete", "ip-dhcp-host", host, "--live", "--config"),
        "Updated network default persistent config and live state\n",
    )
    assert hostsfile.read_text() == ""
    assert "192.168.122.10" not in ok(cli(daemon, "virsh", "net-dumpxml", "default", "--inactive")).out


def test_route_and_isolated_modes(daemon: Daemon, lab: Lab) -> None:
    """mode='route' keeps the guest's source address; an isolated network lets nothing out."""
    (daemon.root / "routed.xml").write_text(net_xml("routed", "virbr1", "100", "<forward mode='route'/>"))
    (daemon.root / "iso.xml").write_text(net_xml("iso", "virbr2", "101"))
    ok(cli(daemon, "virsh", "net-define", "routed.xml"))
    ok(cli(daemon, "virsh", "net-start", "routed"))
    assert "<forward mode='route'/>" in ok(cli(daemon, "virsh", "net-dumpxml", "routed")).out
    lab.up.run("ip", "route", "add", "192.168.100.0/24", "via", UPLINK)
    lab.plug("virbr1")
    ip = lab.dhcp()
    assert ip is not None and ip.startswith("192.168.100.")
    lab.serve(lab.up, 8000)
    assert lab.connect(lab.client, UPSTREAM, 8000) == ip
    ok(cli(daemon, "virsh", "net-destroy", "routed"))
    assert_torn_down(daemon, "routed", "virbr1")

    ok(cli(daemon, "virsh", "net-create", "iso.xml"), "Network iso created from iso.xml\n\n")
    conf = (daemon.root / "var/lib/pyvirt/dnsmasq/iso.conf").read_text()
    assert "dhcp-option=3\nno-resolv\nra-param=*,0,0\n" in conf
    lab.plug("virbr2")
    ip = lab.dhcp()
    assert ip is not None and ip.startswith("192.168.101.")
    lab.client.run("ip", "route", "replace", "default", "via", "192.168.101.1")
    assert lab.connect(lab.client, UPSTREAM, 8000, timeout=1).startswith("ERROR")
    ok(cli(daemon, "virsh", "net-destroy", "iso"))
    assert_torn_down(daemon, "iso", "virbr2")
    assert ok(cli(daemon, "virsh", "net-list", "--all", "--name")).out == "default\nrouted\n\n"


@pytest.mark.parametrize("client", CLIENTS)
def test_transient_undefine_and_events(daemon: Daemon, client: str) -> None:
    """net-create / net-undefine semantics, with lifecycle events seen by net-event and libvirt-python."""
    (daemon.root / "t1.xml").write_text(net_xml("t1", "virbr5", "50"))
    log_mark = daemon.log.read_text().count("CONNECT_NETWORK_EVENT_REGISTER_ANY")
    prog = VIRSH if client == "virsh" else str(PYVIRSH)
    assert prog is not None
    watcher = subprocess.Popen(
        daemon.ns.cmd(prog, "-c", daemon.uri,
                      "net-event", "--event", "lifecycle", "--loop", "--timeout", "120"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CLIENT_ENV,
    )  # fmt: skip
    listener = subprocess.Popen(
        daemon.ns.cmd("/usr/bin/python3", "-c", EVENT_LISTENER, daemon.uri, "10", "120"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        wait_for(
            lambda: daemon.log.read_text().count("CONNECT_NETWORK_EVENT_REGISTER_ANY") >= log_mark + 2,
            what="both event registrations",
        )
        files = daemon.root / "var/lib/pyvirt/dnsmasq"
        # persistent, started, destroyed, undefined: the dnsmasq files go with the definition
        ok(cli(daemon, client, "net-define", "t1.xml"), "Network t1 defined from t1.xml\n\n")
        ok(cli(daemon, client, "net-start", "t1"), "Network t1 started\n\n")
        assert (files / "t1.conf").exists() and (files / "virbr5.status").exists()
        ok(cli(daemon, client, "net-destroy", "t1"), "Network t1 destroyed\n\n")
        ok(cli(daemon, client, "net-undefine", "t1"), "Network t1 has been undefined\n\n")
        assert not [p.name for p in files.iterdir() if p.name.startswith(("t1.", "virbr5."))]
        assert not (daemon.root / "etc/pyvirt/qemu/networks/t1.xml").exists()

        # transient: listed with Persistent no, gone after destroy
        ok(cli(daemon, client, "net-create", "t1.xml"), "Network t1 created from t1.xml\n\n")
        assert " t1        active     no          no\n" in ok(cli(daemon, client, "net-list", "--all")).out
        got = cli(daemon, client, "net-autostart", "t1")
        assert got.rc == 1 and "cannot set autostart for transient network" in got.err
        ok(cli(daemon, client, "net-destroy", "t1"), "Network t1 destroyed\n\n")
        assert " t1 " not in ok(cli(daemon, client, "net-list", "--all")).out
        assert_torn_down(daemon, "t1", "virbr5")

        # undefining an active network makes it transient; destroying it then removes it
        ok(cli(daemon, client, "net-define", "t1.xml"))
        ok(cli(daemon, client, "net-start", "t1"))
        ok(cli(daemon, client, "net-undefine", "t1"), "Network t1 has been undefined\n\n")
        assert " t1        active     no          no\n" in ok(cli(daemon, client, "net-list", "--all")).out
        assert "virbr5" in links(daemon.ns)
        ok(cli(daemon, client, "net-destroy", "t1"))
        assert " t1 " not in ok(cli(daemon, client, "net-list", "--all")).out
        assert_torn_down(daemon, "t1", "virbr5")

        py_out, py_err = listener.communicate(timeout=30)
        names = {0: "Defined", 1: "Undefined", 2: "Started", 3: "Stopped"}
        seq = ["Defined", "Started", "Stopped", "Undefined", "Started", "Stopped", "Defined", "Started",
               "Undefined", "Stopped"]  # fmt: skip
        got_py = [names[int(line.split()[1])] for line in py_out.splitlines()]
        assert got_py == seq, (py_out, py_err)
        assert all(line.split()[0] == "t1" and line.split()[2] == "0" for line in py_out.splitlines())
        # net-event flushes each line: read the ten events, then interrupt the loop
        assert watcher.stdout is not None
        lines = [watcher.stdout.readline().rstrip("\n") for _ in seq]
        assert lines == [f"event 'lifecycle' for network t1: {e}" for e in seq], lines
        watcher.send_signal(signal.SIGINT)
        ev_out, ev_err = watcher.communicate(timeout=30)
        assert ev_out == "event loop interrupted\nevents received: 10\n\n", (ev_out, ev_err)
    finally:
        for proc in (watcher, listener):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_restart_reattach_supervision_and_autostart(daemon: Daemon) -> None:
    """Active networks outlive pyvirtd; a dead dnsmasq is restarted; autostart runs once per boot."""
    ns, run_dir = daemon.ns, daemon.root / "run/pyvirt/network"
    ok(cli(daemon, "virsh", "net-start", "default"))
    (pid,) = dnsmasq_pids(daemon, "default")
    rules = ns.run("nft", "list", "table", "ip", "pyvirt_network").stdout
    assert "pv_default_nat" in rules

    def still_running() -> None:
        assert " default   active   no          yes\n" in ok(cli(daemon, "virsh", "net-list")).out
        assert dnsmasq_pids(daemon, "default") == [pid]
        assert ",UP" in ns.run("ip", "-br", "link", "show", "virbr0").stdout
        assert ns.run("nft", "list", "table", "ip", "pyvirt_network").stdout.count("jump pv_default_") == 4
        assert (run_dir / "default.xml").exists()

    daemon.stop(signal.SIGTERM)
    assert dnsmasq_pids(daemon, "default") == [pid]
    daemon.start()
    still_running()
    daemon.stop(signal.SIGKILL)
    ns.run("nft", "delete", "table", "ip", "pyvirt_network")  # while the daemon is down
    daemon.start()
    still_running()
    assert ns.run("nft", "list", "table", "ip", "pyvirt_network").stdout.count("counter") == rules.count(
        "counter"
    )

    # dnsmasq died while the daemon was down: restarted when the daemon reattaches
    daemon.stop(signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not dnsmasq_pids(daemon, "default"), 15, "dnsmasq and its helper to exit")
    daemon.start()
    (pid,) = wait_for(lambda: dnsmasq_pids(daemon, "default"), 15, "a restarted dnsmasq")
    assert f'"dnsmasq_pid": {pid},' in (run_dir / "default.xml").read_text()
    still_running()

    # a live update that restarts dnsmasq on purpose: the supervisor must not start a second one
    rng = "<range start='192.168.122.100' end='192.168.122.120'/>"
    ok(cli(daemon, "virsh", "net-update", "default", "add", "ip-dhcp-range", rng, "--live"))
    (new_pid,) = wait_for(lambda: [p for p in dnsmasq_pids(daemon, "default") if p != pid], 15, "new dnsmasq")
    assert (
        "dhcp-range=192.168.122.100,192.168.122.120,255.255.255.0\n"
        in (daemon.root / "var/lib/pyvirt/dnsmasq/default.conf").read_text()
    )
    time.sleep(1.5)
    assert dnsmasq_pids(daemon, "default") == [new_pid]
    assert f'"dnsmasq_pid": {new_pid},' in (run_dir / "default.xml").read_text()
    pid = new_pid

    # supervision: dnsmasq killed behind our back is restarted; the leases survive it
    expiry = int(time.time()) + 3600
    lease = {"ip-address": "192.168.122.77", "mac-address": "52:54:00:12:34:56", "hostname": "ghost",
             "client-id": "01:52:54:00:12:34:56", "expiry-time": expiry}  # fmt: skip
    (daemon.root / "var/lib/pyvirt/dnsmasq/virbr0.status").write_text(json.dumps([lease], indent=2) + "\n")
    os.kill(pid, signal.SIGKILL)

    def new_dnsmasq() -> int | None:
        text = (run_dir / "default.pid").read_text().strip() if (run_dir / "default.pid").exists() else ""
        found = int(text) if text.isdigit() else None
        return found if found != pid and found in dnsmasq_pids(daemon, "default") else None

    new = wait_for(new_dnsmasq, 15, "a new dnsmasq")
    assert new is not None
    wait_for(lambda: dnsmasq_pids(daemon, "default") == [new], 15, "the old dnsmasq's helper to exit")
    assert status_leases(daemon) == [lease]
    assert lease_table([lease]) == ok(cli(daemon, "virsh", "net-dhcp-leases", "default")).out
    status = json.loads(ET.fromstring((run_dir / "default.xml").read_text()).findtext("runtime") or "{}")
    assert status["dnsmasq_pid"] == new

    # killed again and destroyed at once: everything still goes, and nothing comes back
    os.kill(new, signal.SIGKILL)
    ok(cli(daemon, "virsh", "net-destroy", "default"))
    assert_torn_down(daemon, "default", "virbr0")
    time.sleep(2)
    assert not dnsmasq_pids(daemon)

    # autostart: a daemon restart does not start it, a "reboot" (no marker) does
    ok(cli(daemon, "virsh", "net-autostart", "default"))
    daemon.stop()
    daemon.log.write_text("")
    daemon.start()
    wait_for(lambda: "network autostart already done since boot" in daemon.log.read_text(), 20, "autostart")
    assert " default   inactive   yes         yes\n" in ok(cli(daemon, "virsh", "net-list", "--all")).out
    daemon.stop()
    (run_dir / "autostarted").unlink()
    daemon.start()  # autostart runs just after the socket appears
    wait_for(
        lambda: " default   active   yes         yes\n" in ok(cli(daemon, "virsh", "net-list")).out,
        20,
        "autostart",
    )
    assert len(dnsmasq_pids(daemon, "default")) == 1
    assert (run_dir / "autostarted").exists()
