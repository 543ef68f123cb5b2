"""pyvirt.network.bridge (over our rtnetlink client) against the real kernel, checked with iproute2.

Each test runs its bridge calls in a fresh Python inside a network namespace the
test created (the ``netns`` fixture deletes it afterwards): nothing touches the
machine's own namespace.  Taps live as long as their fd, so tap checks run
inside the same script.
"""

from __future__ import annotations

import json
import sys
import textwrap
from typing import Any

import pytest

from .conftest import NetNS

pytestmark = pytest.mark.netns

PRELUDE = """
import asyncio, json, subprocess, sys
from pyvirt.errors import VirtError
from pyvirt.network import bridge

def sh(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

def jsh(*argv):
    return json.loads(sh(*argv))

async def attempt(coro):
    try:
        return {"ok": await coro}
    except VirtError as err:
        return {"error": err.message, "code": err.code}
"""


def run_in(ns: NetNS, body: str) -> Any:
    """Run ``body`` (defining ``async def main()``) in ``ns``; return what main returned."""
    code = PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(asyncio.run(main())))\n"
    res = ns.run(sys.executable, "-c", code, check=False)
    assert res.returncode == 0, res.stderr
    assert "pyroute2" not in res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def link(ns: NetNS, name: str) -> dict[str, Any]:
    data = json.loads(ns.run("ip", "-j", "-d", "link", "show", name).stdout)
    return dict(data[0])


def system_error(message: str) -> dict[str, Any]:
    return {"error": message, "code": 38}  # VIR_ERR_SYSTEM_ERROR


def test_bridges_have_the_mac_stp_state_forward_delay_and_mtu_asked_for(netns: NetNS) -> None:
    got = run_in(
        netns,
        """
        async def main():
            return [
                await attempt(bridge.create_bridge("pvbr0", "52:54:00:12:34:56", delay=0, mtu=1400)),
                await attempt(bridge.create_bridge("pvbr1", "52:54:00:12:34:57", stp=False, delay=5)),
                await attempt(bridge.create_bridge("pvbr2", "52:54:00:AB:CD:EF", stp=True, delay=7)),
                await attempt(bridge.link_exists("pvbr1")),
                await attempt(bridge.link_exists("pvbr9")),
            ]
        """,
    )
    assert got == [{"ok": None}] * 3 + [{"ok": True}, {"ok": False}]
    expected = {
        # STP on: the kernel raises a 0 delay to its 2 s minimum (libvirt's attribute order)
        "pvbr0": ("52:54:00:12:34:56", 1400, 1, 200),
        "pvbr1": ("52:54:00:12:34:57", 1500, 0, 500),
        "pvbr2": ("52:54:00:ab:cd:ef", 1500, 1, 700),
    }
    for name, (mac, mtu, stp_state, delay) in expected.items():
        info = link(netns, name)
        data = info["linkinfo"]["info_data"]
        assert info["linkinfo"]["info_kind"] == "bridge"
        assert (info["address"], info["mtu"], data["stp_state"], data["forward_delay"]) == (
            mac,
            mtu,
            stp_state,
            delay,
        )
        assert "UP" not in info["flags"]  # created down
    text = netns.run("ip", "-d", "link", "show", "pvbr1").stdout
    assert "link/ether 52:54:00:12:34:57" in text
    assert "bridge forward_delay 500 " in text and " stp_state 0 " in text


def test_existing_names_and_missing_interfaces(netns: NetNS) -> None:
    netns.run("ip", "link", "add", "pvveth0", "type", "veth", "peer", "name", "pvveth1")
    got = run_in(
        netns,
        """
        async def main():
            return {
                "first": await attempt(bridge.create_bridge("pvbr0", "52:54:00:00:00:01")),
                "again": await attempt(bridge.create_bridge("pvbr0", "52:54:00:00:00:02", stp=False)),
                "veth": await attempt(bridge.create_bridge("pvveth0", "52:54:00:00:00:03")),
                "online": await attempt(bridge.set_online("pvnope0", True)),
                "address": await attempt(bridge.add_address("pvnope0", "192.168.50.1", 24)),
                "route": await attempt(bridge.add_route("pvnope0", "10.1.0.0", 16, "192.168.50.254")),
                "tap": await attempt(bridge.create_tap("fe:54:00:00:00:04", "pvnope0")),
                "links after tap": sh("ip", "-br", "link"),
                "noqueue": await attempt(bridge.set_noqueue("pvnope0")),
                "delete": await attempt(bridge.delete_link("pvnope0")),
                "exists": await attempt(bridge.link_exists("pvnope0")),
            }
        """,
    )
    no_device = system_error("Unable to get index for interface pvnope0: No such device")
    assert got["first"] == {"ok": None}
    assert got["again"] == system_error("error creating bridge interface pvbr0: File exists")
    assert got["veth"] == system_error("error creating bridge interface pvveth0: File exists")
    assert got["online"] == got["address"] == got["route"] == got["tap"] == no_device
    assert "vnet" not in got["links after tap"]  # the tap went with its fd
    assert got["noqueue"] == {"ok": None}  # nothing to do
    assert got["delete"] == {"ok": False}
    assert got["exists"] == {"ok": False}
    # the first bridge and the veth are untouched
    assert link(netns, "pvbr0")["address"] == "52:54:00:00:00:01"
    assert link(netns, "pvveth0")["linkinfo"]["info_kind"] == "veth"


def test_addresses_with_broadcast(netns: NetNS) -> None:
    got = run_in(
        netns,
        """
        async def main():
            await bridge.create_bridge("pvbr0", "52:54:00:00:00:01", stp=False)
            return [
                await attempt(bridge.add_address("pvbr0", "192.168.50.1", 24)),
                await attempt(bridge.add_address("pvbr0", "192.168.51.1", 31)),
                await attempt(bridge.add_address("pvbr0", "192.168.52.1", 32)),
                await attempt(bridge.add_address("pvbr0", "10.20.30.40", 8)),
                await attempt(bridge.add_address("pvbr0", "fd00:50::1", 64)),
                await attempt(bridge.add_address("pvbr0", "192.168.50.1", 24)),
                await attempt(bridge.add_address("pvbr0", "fd00:50::1", 64)),
            ]
        """,
    )
    assert got[:5] == [{"ok": None}] * 5
    assert got[5] == system_error("Failed to add IP address 192.168.50.1/24 to pvbr0: File exists")
    assert got[6] == system_error("Failed to add IP address fd00:50::1/64 to pvbr0: File exists")
    (info,) = json.loads(netns.run("ip", "-j", "addr", "show", "pvbr0").stdout)
    addrs = {(a["family"], a["local"], a["prefixlen"], a.get("broadcast")) for a in info["addr_info"]}
    assert {
        ("inet", "192.168.50.1", 24, "192.168.50.255"),
        ("inet", "192.168.51.1", 31, None),
        ("inet", "192.168.52.1", 32, None),
        ("inet", "10.20.30.40", 8, "10.255.255.255"),
        ("inet6", "fd00:50::1", 64, None),
    } <= addrs
    text = netns.run("ip", "-4", "-o", "addr", "show", "pvbr0").stdout
    assert "inet 192.168.50.1/24 brd 192.168.50.255 scope global pvbr0" in text
    assert "inet 192.168.51.1/31 scope global pvbr0" in text


def test_routes_with_gateway_and_metric(netns: NetNS) -> None:
    got = run_in(
        netns,
        """
        async def main():
            await bridge.create_bridge("pvbr0", "52:54:00:00:00:01", stp=False)
            await bridge.add_address("pvbr0", "192.168.50.1", 24)
            await bridge.add_address("pvbr0", "fd00:50::1", 64)
            await bridge.set_online("pvbr0", True)
            routes = [
                ("10.60.0.0", 16, "192.168.50.254", 50),
                ("10.70.0.5", 16, None, None),
                ("0.0.0.0", 0, "192.168.50.253", 7),
                ("fd00:60::", 48, "fd00:50::fe", 20),
                ("fd00:70::", 48, None, None),
                ("10.80.0.0", 16, "198.51.100.1", None),
                ("10.60.0.0", 16, "192.168.50.254", 50),
                ("10.0.0.0", 8, "fd00:50::fe", None),
            ]
            return [await attempt(bridge.add_route("pvbr0", *r)) for r in routes]
        """,
    )
    assert got[:5] == [{"ok": None}] * 5
    assert got[5:] == [
        system_error("Failed to add route to 10.80.0.0/16 via 198.51.100.1 on pvbr0: Network is unreachable"),
        system_error("Failed to add route to 10.60.0.0/16 via 192.168.50.254 on pvbr0: File exists"),
        system_error("Failed to add route to 10.0.0.0/8 via fd00:50::fe on pvbr0: Invalid argument"),
    ]

    def routes(*family: str) -> dict[str, dict[str, Any]]:
        out = netns.run("ip", "-j", "-d", *family, "route", "show", "dev", "pvbr0").stdout
        return {r["dst"]: r for r in json.loads(out)}

    v4, v6 = routes("-4"), routes("-6")

    def fields(route: dict[str, Any]) -> tuple[Any, ...]:
        keys = ("type", "gateway", "protocol", "scope", "metric")
        return tuple(route.get(k) for k in keys)

    assert fields(v4["10.60.0.0/16"]) == ("unicast", "192.168.50.254", "boot", "global", 50)
    assert fields(v4["10.70.0.0/16"]) == ("unicast", None, "boot", "link", None)
    assert fields(v4["default"]) == ("unicast", "192.168.50.253", "boot", "global", 7)
    assert fields(v6["fd00:60::/48"])[:3] == ("unicast", "fd00:50::fe", "boot")
    assert v6["fd00:60::/48"]["metric"] == 20
    assert fields(v6["fd00:70::/48"])[:3] == ("unicast", None, "boot")
    assert "10.80.0.0/16" not in v4 and "10.0.0.0/8" not in v4
    text = netns.run("ip", "route", "show", "10.60.0.0/16").stdout
    assert text.startswith("10.60.0.0/16 via 192.168.50.254 dev pvbr0 metric 50")


def test_taps_mtu_master_up_and_noqueue(netns: NetNS) -> None:
    got = run_in(
        netns,
        """
        async def main():
            await bridge.create_bridge("pvbr0", "52:54:00:00:00:01", stp=False, mtu=1400)
            t1, fd1 = await bridge.create_tap("fe:54:00:00:00:11", "pvbr0")
            t2, fd2 = await bridge.create_tap("fe:54:00:00:00:12", "pvbr0", mtu=1300)
            t3, fd3 = await bridge.create_tap("fe:54:00:00:00:13", vnet_hdr=False)
            await bridge.set_noqueue(t1)
            await bridge.set_noqueue(t1)  # a replace: again is fine
            out = {
                "names": [t1, t2, t3],
                "links": {t: jsh("ip", "-j", "-d", "link", "show", t)[0] for t in (t1, t2, t3)},
                "qdiscs": {q["dev"]: q for q in jsh("tc", "-j", "qdisc", "show") if q.get("root")},
                "tc text": sh("tc", "qdisc", "show", "dev", t1),
            }
            await bridge.delete_tap(t1, fd1)
            out["after delete"] = sh("ip", "-br", "link")
            out["delete again"] = await attempt(bridge.delete_link(t1))
            await bridge.delete_tap(t2, fd2)
            await bridge.delete_tap(t3, fd3)
            return out
        """,
    )
    assert got["names"] == ["vnet0", "vnet1", "vnet2"]
    expected = {
        "vnet0": ("fe:54:00:00:00:11", 1400, "pvbr0"),  # the bridge's MTU
        "vnet1": ("fe:54:00:00:00:12", 1300, "pvbr0"),
        "vnet2": ("fe:54:00:00:00:13", 1500, None),
    }
    for name, (mac, mtu, master) in expected.items():
        info = got["links"][name]
        assert (info["address"], info["mtu"], info.get("master")) == (mac, mtu, master)
        assert "UP" in info["flags"]
        assert info["linkinfo"]["info_kind"] == "tun"
    assert got["links"]["vnet0"]["linkinfo"]["info_slave_kind"] == "bridge"
    assert got["qdiscs"]["vnet0"]["kind"] == "noqueue"
    assert got["qdiscs"]["vnet1"]["kind"] != "noqueue"
    assert got["tc text"].startswith("qdisc noqueue ") and " root " in got["tc text"]
    assert "vnet0" not in got["after delete"] and "vnet1" in got["after delete"]
    assert got["delete again"] == {"ok": False}
    assert "vnet" not in netns.run("ip", "-br", "link").stdout


def test_online_and_delete(netns: NetNS) -> None:
    got = run_in(
        netns,
        """
        async def main():
            await bridge.create_bridge("pvbr0", "52:54:00:00:00:01", stp=False)
            states = []
            for up in (True, False, True):
                await bridge.set_online("pvbr0", up)
                # read at once: the carrier change is applied before set_online returns
                info = jsh("ip", "-j", "link", "show", "pvbr0")[0]
                states.append((info["operstate"], sorted(info["flags"])))
            return [states, await bridge.delete_link("pvbr0"), await bridge.delete_link("pvbr0")]
        """,
    )
    up = ["DOWN", ["BROADCAST", "MULTICAST", "NO-CARRIER", "UP"]]  # no ports: no carrier
    down = ["DOWN", ["BROADCAST", "MULTICAST"]]
    assert got == [[up, down, up], True, False]
    assert "pvbr0" not in netns.run("ip", "-br", "link").stdout
