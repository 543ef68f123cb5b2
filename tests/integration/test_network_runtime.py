"""The network runtime for real: bridges, nftables, dnsmasq and DHCP clients in private namespaces.

Topology per test (all namespaces created here and removed afterwards):

    guest ns: gv0 --veth-- gh0 (in virbr0) | host ns (the runtime)
    host ns:  up0h 203.0.113.2 --veth-- up0 203.0.113.1 (upstream ns)

Nothing runs in, or sends traffic to, the machine's own namespace.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("dnsmasq") is None,
        reason="needs root, ip and dnsmasq",
    ),
]

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "netns_runner.py"
UPSTREAM = "203.0.113.1"
HOST_UPLINK = "203.0.113.2"
GUEST_MAC = "52:54:00:aa:bb:01"

# a TCP server answering every connection with the peer's address
ECHO_SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
print("ready", flush=True)
while True:
    c, a = s.accept(); c.sendall((a[0] + "\\n").encode()); c.close()
"""
CLIENT = """
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


def default_spec(**kw: Any) -> dict[str, Any]:
    """The default network; tests other than the first turn STP off to skip the 4 s port learning."""
    spec: dict[str, Any] = {
        "stp": False,
        "name": "default",
        "bridge": "virbr0",
        "forward_mode": "nat",
        "ips": [
            {
                "address": "192.168.122.1",
                "prefix": 24,
                "dhcp_ranges": [["192.168.122.2", "192.168.122.254", None]],
            }
        ],
    }
    spec.update(kw)
    return spec


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=timeout)


class Lab:
    """Namespaces, processes and a private root for one test."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.host = f"pvt-{tag}-h"
        self.guest = f"pvt-{tag}-g"
        self.up = f"pvt-{tag}-u"
        self.root = Path(tempfile.mkdtemp(prefix="pvt-root-"))
        self.root.chmod(0o755)  # dnsmasq re-reads its hosts files as nobody
        self.procs: list[subprocess.Popen[str]] = []
        self.runtimes: list[dict[str, Any]] = []
        for ns in (self.host, self.guest, self.up):
            sh("ip", "netns", "add", ns)
        for ns in (self.host, self.guest, self.up):
            self.ns(ns, "ip", "link", "set", "lo", "up")
        # uplink host <-> upstream
        sh(
            "ip",
            "-n",
            self.host,
            "link",
            "add",
            "up0h",
            "type",
            "veth",
            "peer",
            "name",
            "up0",
            "netns",
            self.up,
        )
        self.ns(self.host, "ip", "addr", "add", f"{HOST_UPLINK}/24", "dev", "up0h")
        self.ns(self.host, "ip", "link", "set", "up0h", "up")
        self.ns(self.up, "ip", "addr", "add", f"{UPSTREAM}/24", "dev", "up0")
        self.ns(self.up, "ip", "link", "set", "up0", "up")
        # guest cable: gv0 in the guest ns, gh0 in the host ns (enslaved to the bridge later)
        sh(
            "ip",
            "-n",
            self.host,
            "link",
            "add",
            "gh0",
            "type",
            "veth",
            "peer",
            "name",
            "gv0",
            "netns",
            self.guest,
        )
        self.ns(self.guest, "ip", "link", "set", "gv0", "address", GUEST_MAC, "up")
        self.script = self.root / "udhcpc.sh"
        self.script.write_text(UDHCPC_SCRIPT)
        self.script.chmod(0o755)

    def ns(
        self, ns: str, *argv: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout)

    def runner(self, op: str, arg: dict[str, Any]) -> dict[str, Any]:
        res = self.ns(
            self.host, sys.executable, str(RUNNER), op, str(self.root), json.dumps(arg), check=False
        )
        assert res.stdout, f"runner {op} printed nothing; stderr: {res.stderr}"
        return dict(json.loads(res.stdout.strip().splitlines()[-1]))

    def start(self, spec: dict[str, Any]) -> dict[str, Any]:
        out = self.runner("start", spec)
        assert "error" not in out, out
        self.runtimes.append(out)
        return out

    def stop(self, rt: dict[str, Any]) -> dict[str, Any]:
        out = self.runner("stop", {"runtime": rt})
        if rt in self.runtimes:
            self.runtimes.remove(rt)
        return out

    def plug_guest(self, bridge: str = "virbr0") -> None:
        self.ns(self.host, "ip", "link", "set", "gh0", "master", bridge, "up")

    def dhcp(self, hostname: str = "client1", timeout: int = 15) -> str | None:
        out = self.root / "lease.txt"
        out.unlink(missing_ok=True)
        env = dict(os.environ, LEASE_OUT=str(out))
        subprocess.run(
            ["ip", "netns", "exec", self.guest, "busybox", "udhcpc", "-i", "gv0", "-f", "-q", "-n",
             "-t", str(timeout), "-T", "1", "-x", f"hostname:{hostname}", "-s", str(self.script)],
            capture_output=True, text=True, env=env, timeout=timeout + 10, check=False,
        )  # fmt: skip
        return out.read_text().strip() if out.exists() else None

    def serve(self, ns: str, port: int) -> None:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", ECHO_SERVER, str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        self.procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    def connect(self, ns: str, addr: str, port: int, timeout: float = 3) -> str:
        res = self.ns(ns, sys.executable, "-c", CLIENT, addr, str(port), str(timeout), check=False)
        return res.stdout.strip()

    def status_json(self, bridge: str = "virbr0") -> list[dict[str, Any]]:
        path = self.root / "var/lib/pyvirt/dnsmasq" / f"{bridge}.status"
        text = path.read_text() if path.exists() else ""
        return list(json.loads(text)) if text.strip() else []

    def wait_leases(
        self, count: int = 1, bridge: str = "virbr0", timeout: float = 10
    ) -> list[dict[str, Any]]:
        """The status file's leases once it holds ``count`` (the helper runs after the DHCP reply)."""
        deadline = time.monotonic() + timeout
        while True:
            leases = self.status_json(bridge)
            if len(leases) >= count or time.monotonic() > deadline:
                return leases
            time.sleep(0.05)

    def dnsmasq_pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"dnsmasq" in cmd and str(self.root).encode() in cmd:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if stat != "Z":
                    pids.append(int(entry.name))
        return pids

    def close(self) -> None:
        for rt in list(self.runtimes):
            try:
                self.stop(rt)
            except Exception:
                pass
        for proc in self.procs:
            proc.kill()
            proc.wait()
        for pid in self.dnsmasq_pids():  # only dnsmasq started with this test's root
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for ns in (self.host, self.guest, self.up):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    try:
        yield lab
    finally:
        lab.close()


def assert_clean(lab: Lab, name: str = "default", bridge: str = "virbr0") -> None:
    links = lab.ns(lab.host, "ip", "-br", "link").stdout
    assert bridge not in links
    ruleset = lab.ns(lab.host, "nft", "list", "ruleset").stdout
    assert f"pv_{name}_" not in ruleset
    assert not lab.dnsmasq_pids()
    assert not (lab.root / "run/pyvirt/network" / f"{name}.pid").exists()


def test_default_network_nat(lab: Lab) -> None:
    rt = lab.start(default_spec(stp=True))
    assert rt["seconds"] < 5
    link = lab.ns(lab.host, "ip", "-br", "link", "show", "virbr0").stdout
    assert "52:54:00:69:3c:3e" in link and ",UP" in link
    addr = lab.ns(lab.host, "ip", "-o", "-4", "addr", "show", "virbr0").stdout
    assert "192.168.122.1/24 brd 192.168.122.255" in addr
    assert lab.ns(lab.host, "cat", "/proc/sys/net/ipv6/conf/virbr0/disable_ipv6").stdout.strip() == "1"
    assert lab.ns(lab.host, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
    ss = lab.ns(lab.host, "ss", "-lnup").stdout
    assert "192.168.122.1:53" in ss and ":67" in ss
    conf = lab.root / "var/lib/pyvirt/dnsmasq/default.conf"
    assert conf.stat().st_mode & 0o777 == 0o600

    lab.plug_guest()
    ip = lab.dhcp("client1")
    assert ip is not None
    last = int(ip.split(".")[-1])
    assert ip.startswith("192.168.122.") and 2 <= last <= 254
    leases = lab.wait_leases(1)
    assert [(x["ip-address"], x["mac-address"], x.get("hostname")) for x in leases] == [
        (ip, GUEST_MAC, "client1")
    ]
    assert list(leases[0]) in (
        ["ip-address", "mac-address", "hostname", "client-id", "expiry-time"],
        ["ip-address", "mac-address", "hostname", "expiry-time"],
    )

    lab.serve(lab.up, 8000)
    assert lab.connect(lab.guest, UPSTREAM, 8000) == HOST_UPLINK  # masqueraded

    out = lab.stop(rt)
    assert "error" not in out and out["seconds"] < 5
    assert_clean(lab)
    assert "pyvirt_network" not in lab.ns(lab.host, "nft", "list", "tables").stdout


def test_static_host_and_port_forward(lab: Lab) -> None:
    spec = default_spec()
    spec["ips"][0]["dhcp_hosts"] = [{"mac": GUEST_MAC, "ip": "192.168.122.10", "name": "pinned"}]
    spec["port_forwards"] = [
        {"proto": "tcp", "port": [8080, 8080], "to_address": "192.168.122.10", "to_port": [8000, 8000]}
    ]
    rt = lab.start(spec)
    hostsfile = (lab.root / "var/lib/pyvirt/dnsmasq/default.hostsfile").read_text()
    assert hostsfile == f"{GUEST_MAC},192.168.122.10,pinned\n"
    lab.plug_guest()
    assert lab.dhcp("whatever") == "192.168.122.10"
    lab.serve(lab.guest, 8000)
    # upstream -> host address:8080 -> guest:8000, source kept
    assert lab.connect(lab.up, HOST_UPLINK, 8080) == UPSTREAM
    # the host itself, to its own address (output hook)
    assert lab.connect(lab.host, HOST_UPLINK, 8080) == HOST_UPLINK
    # removing the forward swaps the rules atomically
    spec["port_forwards"] = []
    rt2 = lab.runner("update_port_forwards", {"spec": spec, "runtime": rt})
    assert "error" not in rt2
    lab.runtimes = [rt2]
    assert lab.connect(lab.up, HOST_UPLINK, 8080, timeout=1).startswith("ERROR")
    lab.stop(rt2)
    assert_clean(lab)


def test_route_mode_keeps_source(lab: Lab) -> None:
    rt = lab.start(default_spec(forward_mode="route"))
    lab.ns(lab.up, "ip", "route", "add", "192.168.122.0/24", "via", HOST_UPLINK)
    lab.plug_guest()
    ip = lab.dhcp()
    assert ip is not None
    lab.serve(lab.up, 8000)
    assert lab.connect(lab.guest, UPSTREAM, 8000) == ip
    lab.stop(rt)
    assert_clean(lab)


def test_isolated_has_dhcp_but_no_connectivity(lab: Lab) -> None:
    rt = lab.start(default_spec(forward_mode="none"))
    conf = (lab.root / "var/lib/pyvirt/dnsmasq/default.conf").read_text()
    assert "dhcp-option=3\nno-resolv\nra-param=*,0,0\n" in conf
    lab.plug_guest()
    ip = lab.dhcp()
    assert ip is not None
    lab.ns(lab.guest, "ip", "route", "replace", "default", "via", "192.168.122.1")
    lab.serve(lab.up, 8000)
    assert lab.connect(lab.guest, UPSTREAM, 8000, timeout=1).startswith("ERROR")
    lab.stop(rt)
    assert_clean(lab)


def test_route_collision_leaves_nothing(lab: Lab) -> None:
    rt = lab.start(default_spec())
    clash = default_spec(name="clash", bridge="virbr1")
    out = lab.runner("start", clash)
    assert out["error"] == "internal error: Network is already in use by interface virbr0"
    assert out["code"] == 1
    assert "virbr1" not in lab.ns(lab.host, "ip", "-br", "link").stdout
    assert "pv_clash" not in lab.ns(lab.host, "nft", "list", "ruleset").stdout
    assert not (lab.root / "var/lib/pyvirt/dnsmasq/clash.conf").exists()
    lab.stop(rt)
    assert_clean(lab)


def test_dnsmasq_failure_rolls_back(lab: Lab) -> None:
    # something else holds the DHCP port in the namespace: dnsmasq must fail, and all be undone
    blocker = subprocess.Popen(
        ["ip", "netns", "exec", lab.host, sys.executable, "-c",
         "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',67))\n"
         "print('ready',flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    lab.procs.append(blocker)
    assert blocker.stdout is not None and blocker.stdout.readline().strip() == "ready"
    out = lab.runner("start", default_spec())
    assert "error" in out
    assert "dnsmasq" in out["error"] and "Address already in use" in out["error"]
    assert_clean(lab)
    files = sorted(p.name for p in (lab.root / "var/lib/pyvirt/dnsmasq").iterdir())
    assert files == []


def test_killed_dnsmasq_still_cleans_up_and_check_repairs(lab: Lab) -> None:
    rt = lab.start(default_spec())
    # the rules vanish and dnsmasq dies behind our back: check() repairs both
    lab.ns(lab.host, "nft", "delete", "table", "ip", "pyvirt_network")
    os.kill(rt["dnsmasq_pid"], signal.SIGKILL)
    time.sleep(0.2)
    res = lab.runner("check", {"spec": default_spec(), "runtime": rt})
    assert res["result"] == {"bridge_present": True, "firewall_repaired": True, "dnsmasq_restarted": True}
    rt2 = res["runtime"]
    assert rt2["dnsmasq_pid"] != rt["dnsmasq_pid"]
    assert "pv_default_nat" in lab.ns(lab.host, "nft", "list", "ruleset").stdout
    lab.runtimes = [rt2]
    # and killed again: stop must still remove everything
    os.kill(rt2["dnsmasq_pid"], signal.SIGKILL)
    out = lab.stop(rt2)
    assert "error" not in out
    assert_clean(lab)


def test_update_hosts_sighup(lab: Lab) -> None:
    spec = default_spec()
    rt = lab.start(spec)
    spec["ips"][0]["dhcp_hosts"] = [{"mac": GUEST_MAC, "ip": "192.168.122.77", "name": "late"}]
    rt2 = lab.runner("update_hosts", {"spec": spec, "runtime": rt})
    assert rt2["dnsmasq_pid"] == rt["dnsmasq_pid"]
    lab.plug_guest()
    assert lab.dhcp() == "192.168.122.77"
    lab.stop(rt2)
    lab.runtimes.clear()
    assert_clean(lab)
