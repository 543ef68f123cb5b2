# ruff: noqa: E501  (golden nft/dnsmasq lines are kept whole)
"""nftables rendering: libvirt's nftables rules, in per-network chains of our private table."""

from __future__ import annotations

import pytest

from pyvirt.errors import VirtError
from pyvirt.network import firewall as fw
from tests.unit.netdef_stub import IpDef, PortForwardDef, default_network

NAT_DEFAULT = {
    "pv_default_out": [
        'ip saddr 192.168.122.0/24 iifname "virbr0" counter accept',
        'iifname "virbr0" counter reject',
    ],
    "pv_default_in": [
        'oifname "virbr0" ip daddr 192.168.122.0/24 ct state related,established counter accept',
        'oifname "virbr0" counter reject',
    ],
    "pv_default_cross": ['iifname "virbr0" oifname "virbr0" counter accept'],
    "pv_default_nat": [
        "ip saddr 192.168.122.0/24 ip daddr 224.0.0.0/24 counter return",
        "ip saddr 192.168.122.0/24 ip daddr 255.255.255.255/32 counter return",
        "meta l4proto tcp ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 counter masquerade to :1024-65535",
        "meta l4proto udp ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 counter masquerade to :1024-65535",
        "ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 counter masquerade",
    ],
}

ADD_TO_EMPTY = """\
add table ip pyvirt_network
add chain ip pyvirt_network forward { type filter hook forward priority 0; policy accept; }
add chain ip pyvirt_network guest_output
add chain ip pyvirt_network guest_input
add chain ip pyvirt_network guest_cross
add chain ip pyvirt_network guest_nat { type nat hook postrouting priority 100; policy accept; }
add chain ip pyvirt_network guest_dnat { type nat hook prerouting priority -100; policy accept; }
add chain ip pyvirt_network guest_dnat_local { type nat hook output priority -100; policy accept; }
add rule ip pyvirt_network forward counter jump guest_cross
add rule ip pyvirt_network forward counter jump guest_input
add rule ip pyvirt_network forward counter jump guest_output
add chain ip pyvirt_network pv_default_out
add rule ip pyvirt_network pv_default_out ip saddr 192.168.122.0/24 iifname "virbr0" counter accept
add rule ip pyvirt_network pv_default_out iifname "virbr0" counter reject
add chain ip pyvirt_network pv_default_in
add rule ip pyvirt_network pv_default_in oifname "virbr0" ip daddr 192.168.122.0/24 ct state related,established counter accept
add rule ip pyvirt_network pv_default_in oifname "virbr0" counter reject
add chain ip pyvirt_network pv_default_cross
add rule ip pyvirt_network pv_default_cross iifname "virbr0" oifname "virbr0" counter accept
add chain ip pyvirt_network pv_default_nat
add rule ip pyvirt_network pv_default_nat ip saddr 192.168.122.0/24 ip daddr 224.0.0.0/24 counter return
add rule ip pyvirt_network pv_default_nat ip saddr 192.168.122.0/24 ip daddr 255.255.255.255/32 counter return
add rule ip pyvirt_network pv_default_nat meta l4proto tcp ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 counter masquerade to :1024-65535
add rule ip pyvirt_network pv_default_nat meta l4proto udp ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 counter masquerade to :1024-65535
add rule ip pyvirt_network pv_default_nat ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 counter masquerade
add rule ip pyvirt_network guest_output counter jump pv_default_out
add rule ip pyvirt_network guest_input counter jump pv_default_in
add rule ip pyvirt_network guest_cross counter jump pv_default_cross
add rule ip pyvirt_network guest_nat counter jump pv_default_nat
"""


def test_nat_default_rules() -> None:
    rules = fw.render_rules(default_network())
    assert rules is not None
    assert rules.chains == {"ip": NAT_DEFAULT}
    assert fw.render_add(rules, {}) == ADD_TO_EMPTY


def test_round_trip_dict() -> None:
    rules = fw.render_rules(default_network())
    assert rules is not None
    assert fw.NetworkRules.from_dict(rules.to_dict()) == rules


def test_route_mode_and_forward_dev() -> None:
    rules = fw.render_rules(default_network(forward_mode="route", forward_dev="eth0"))
    assert rules is not None
    assert rules.chains["ip"] == {
        "pv_default_out": [
            'ip saddr 192.168.122.0/24 iifname "virbr0" oifname "eth0" counter accept',
            'iifname "virbr0" counter reject',
        ],
        "pv_default_in": [
            'iifname "eth0" oifname "virbr0" ip daddr 192.168.122.0/24 counter accept',
            'oifname "virbr0" counter reject',
        ],
        "pv_default_cross": ['iifname "virbr0" oifname "virbr0" counter accept'],
    }


def test_isolated_with_ipv6() -> None:
    nd = default_network(forward_mode="none", ips=[IpDef("192.168.122.1", 24), IpDef("fd00::1", 64, "ipv6")])
    rules = fw.render_rules(nd)
    assert rules is not None
    expect = {
        "pv_default_out": ['iifname "virbr0" counter reject'],
        "pv_default_in": ['oifname "virbr0" counter reject'],
        "pv_default_cross": ['iifname "virbr0" oifname "virbr0" counter accept'],
    }
    assert rules.chains == {"ip": expect, "ip6": expect}


def test_nat_ipv6_is_routed_and_snat_address() -> None:
    nd = default_network(
        ips=[IpDef("192.168.122.1", 24), IpDef("fd00::1", 64, "ipv6")],
        nat_address=("203.0.113.5", "203.0.113.9"),
        nat_port=(2000, 3000),
    )
    rules = fw.render_rules(nd)
    assert rules is not None
    assert rules.chains["ip6"]["pv_default_out"][0] == 'ip6 saddr fd00::/64 iifname "virbr0" counter accept'
    assert rules.chains["ip6"]["pv_default_in"][0] == 'oifname "virbr0" ip6 daddr fd00::/64 counter accept'
    assert "pv_default_nat" not in rules.chains["ip6"]
    nat = rules.chains["ip"]["pv_default_nat"]
    assert nat[2].endswith("counter snat to 203.0.113.5-203.0.113.9:2000-3000")
    assert nat[4].endswith("counter snat to 203.0.113.5-203.0.113.9")


def test_open_mode_has_no_rules() -> None:
    assert fw.render_rules(default_network(forward_mode="open")) is None


def test_port_forwards() -> None:
    nd = default_network(
        port_forwards=[
            PortForwardDef("tcp", (8080, 8081), "192.168.122.10", (80, 81)),
            PortForwardDef("udp", (5353, 5353), "192.168.122.11", None, address="203.0.113.2"),
        ]
    )
    rules = fw.render_rules(nd)
    assert rules is not None
    chains = rules.chains["ip"]
    assert chains["pv_default_dnat"] == [
        "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto tcp th dport 8080 counter dnat to 192.168.122.10:80",
        "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto tcp th dport 8081 counter dnat to 192.168.122.10:81",
        "ip daddr 203.0.113.2 meta l4proto udp th dport 5353 counter dnat to 192.168.122.11",
    ]
    assert chains["pv_default_in"][:2] == [
        'oifname "virbr0" ip daddr 192.168.122.10 meta l4proto tcp th dport 80-81 ct status dnat counter accept',
        'oifname "virbr0" ip daddr 192.168.122.11 meta l4proto udp th dport 5353 ct status dnat counter accept',
    ]
    assert chains["pv_default_nat"][0] == (
        "ip saddr 192.168.122.0/24 ip daddr 192.168.122.10 meta l4proto tcp th dport 80-81 ct status dnat "
        "counter masquerade"
    )
    assert ("guest_dnat", "pv_default_dnat") in rules.jumps("ip")
    assert ("guest_dnat_local", "pv_default_dnat") in rules.jumps("ip")


def test_port_forward_ranges_must_match() -> None:
    nd = default_network(port_forwards=[PortForwardDef("tcp", (8080, 8090), "192.168.122.10", (80, 81))])
    with pytest.raises(VirtError):
        fw.render_rules(nd)


def test_chain_prefix_is_safe_and_unique() -> None:
    assert fw.chain_prefix("default") == "pv_default"
    a, b = fw.chain_prefix("my-net"), fw.chain_prefix("my_net")
    assert a != b and a.startswith("pv_my_net_") and b == "pv_my_net"


def _state(chains: dict[str, list[tuple[int, str | None]]]) -> fw.TableState:
    return fw.TableState(exists=True, chains=set(chains), rules=chains)


def test_remove_deletes_jumps_and_chains_or_the_table() -> None:
    base = {
        "forward": [(1, "guest_cross"), (2, "guest_input"), (3, "guest_output")],
        "guest_output": [(10, "pv_a_out"), (11, "pv_b_out")],
        "guest_input": [(12, "pv_a_in"), (13, "pv_b_in")],
        "guest_cross": [(14, "pv_a_cross"), (15, "pv_b_cross")],
        "guest_nat": [(16, "pv_b_nat")],
        "pv_a_out": [(20, None)], "pv_a_in": [(21, None)], "pv_a_cross": [(22, None)],
        "pv_b_out": [(30, None)], "pv_b_in": [(31, None)], "pv_b_cross": [(32, None)], "pv_b_nat": [(33, None)],
    }  # fmt: skip
    script = fw.render_remove("pv_a", {"ip": _state(base)})
    assert script == (
        "delete rule ip pyvirt_network guest_cross handle 14\n"
        "delete rule ip pyvirt_network guest_input handle 12\n"
        "delete rule ip pyvirt_network guest_output handle 10\n"
        "flush chain ip pyvirt_network pv_a_cross\ndelete chain ip pyvirt_network pv_a_cross\n"
        "flush chain ip pyvirt_network pv_a_in\ndelete chain ip pyvirt_network pv_a_in\n"
        "flush chain ip pyvirt_network pv_a_out\ndelete chain ip pyvirt_network pv_a_out\n"
    )
    only_b = {k: v for k, v in base.items() if not k.startswith("pv_a")}
    assert fw.render_remove("pv_b", {"ip": _state(only_b)}) == "delete table ip pyvirt_network\n"
    assert fw.render_remove("pv_c", {"ip": _state(base)}) == ""
    assert fw.render_remove("pv_a", {"ip": fw.TableState()}) == ""


def test_readd_replaces_and_match_detects() -> None:
    rules = fw.render_rules(default_network())
    assert rules is not None
    installed = {
        "forward": [(1, "guest_cross"), (2, "guest_input"), (3, "guest_output")],
        "guest_output": [(4, "pv_default_out")], "guest_input": [(5, "pv_default_in")],
        "guest_cross": [(6, "pv_default_cross")], "guest_nat": [(7, "pv_default_nat")],
        "guest_dnat": [], "guest_dnat_local": [],
        "pv_default_out": [(8, None), (9, None)], "pv_default_in": [(10, None), (11, None)],
        "pv_default_cross": [(12, None)], "pv_default_nat": [(13, None)] * 5,
    }  # fmt: skip
    st = {"ip": _state(installed)}
    assert fw.rules_match(rules, st)
    script = fw.render_add(rules, st)
    assert "add rule ip pyvirt_network forward" not in script
    assert "delete rule ip pyvirt_network guest_output handle 4\n" in script
    assert "flush chain ip pyvirt_network pv_default_nat\n" in script
    installed["pv_default_nat"] = [(13, None)]
    assert not fw.rules_match(rules, {"ip": _state(installed)})
    assert not fw.rules_match(rules, {"ip": fw.TableState()})


def test_parse_listing() -> None:
    listing = {
        "nftables": [
            {"metainfo": {"json_schema_version": 1}},
            {"table": {"family": "ip", "name": "pyvirt_network", "handle": 1}},
            {"chain": {"family": "ip", "table": "pyvirt_network", "name": "forward", "handle": 1}},
            {"rule": {"family": "ip", "table": "pyvirt_network", "chain": "forward", "handle": 9,
                      "expr": [{"counter": {"packets": 0, "bytes": 0}}, {"jump": {"target": "guest_cross"}}]}},
        ]
    }  # fmt: skip
    st = fw.TableState.parse(listing)
    assert st.exists and st.chains == {"forward"} and st.rules == {"forward": [(9, "guest_cross")]}
