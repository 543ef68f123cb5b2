"""Reading BRIDGE.status like libvirt's networkGetDHCPLeases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyvirt.errors import VirtError
from pyvirt.network import leases
from pyvirt.network.paths import NetworkPaths
from tests.unit.netdef_stub import IpDef, default_network

NOW = 1795830000
ENTRIES = [
    {"ip-address": "192.168.122.159", "mac-address": "52:54:00:63:0a:d8", "hostname": "guest1",
     "client-id": "01:52:54:00:63:0a:d8", "expiry-time": NOW + 3600},
    {"ip-address": "192.168.122.5", "mac-address": "52:54:00:00:00:05", "expiry-time": NOW - 1},
    {"ip-address": "192.168.122.6", "mac-address": "52:54:00:00:00:06", "expiry-time": 0},
    {"iaid": "1234", "ip-address": "fd00::10", "mac-address": "52:54:00:63:0A:D8", "client-id": "00:01",
     "server-duid": "00:01:00:01", "expiry-time": NOW + 60},
]  # fmt: skip


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "virbr0.status"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def test_missing_and_empty(tmp_path: Path) -> None:
    assert leases.read_leases(tmp_path / "nope.status", NOW) == []
    (tmp_path / "e.status").write_text("")
    assert leases.read_leases(tmp_path / "e.status", NOW) == []


def test_rules(tmp_path: Path) -> None:
    got = leases.read_leases(write(tmp_path, ENTRIES), NOW, iface="virbr0", prefix_v4=24, prefix_v6=64)
    assert [(x.ipaddr, x.type, x.prefix, x.expirytime) for x in got] == [
        ("192.168.122.159", 0, 24, NOW + 3600),
        ("192.168.122.6", 0, 24, 0),
        ("fd00::10", 1, 64, NOW + 60),
    ]
    assert got[0] == leases.Lease("virbr0", NOW + 3600, 0, "52:54:00:63:0a:d8", None, "192.168.122.159", 24,
                                  "guest1", "01:52:54:00:63:0a:d8")  # fmt: skip
    assert got[2].iaid == "1234" and got[2].hostname is None


def test_mac_filter_is_case_insensitive(tmp_path: Path) -> None:
    got = leases.read_leases(write(tmp_path, ENTRIES), NOW, mac="52:54:00:63:0a:D8")
    assert [x.ipaddr for x in got] == ["192.168.122.159", "fd00::10"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"ip-address": "1.2.3.4", "expiry-time": 0}, "internal error: found lease without mac-address"),
        (
            {"mac-address": "52:54:00:00:00:01", "expiry-time": 0},
            "internal error: found lease without ip-address",
        ),
        ({"ip-address": "1.2.3.4", "mac-address": "x"}, "internal error: found lease without expiry-time"),
    ],
)
def test_incomplete_entries_are_errors(tmp_path: Path, entry: dict[str, object], message: str) -> None:
    with pytest.raises(VirtError) as exc:
        leases.read_leases(write(tmp_path, [entry]), NOW)
    assert exc.value.message == message


def test_bad_json(tmp_path: Path) -> None:
    (tmp_path / "b.status").write_text("{not json")
    with pytest.raises(VirtError):
        leases.read_leases(tmp_path / "b.status", NOW)
    write(tmp_path, {"a": 1})
    with pytest.raises(VirtError):
        leases.read_leases(tmp_path / "virbr0.status", NOW)


def test_network_leases_uses_bridge_and_first_prefixes(tmp_path: Path) -> None:
    paths = NetworkPaths(tmp_path)
    paths.ensure_dirs()
    write(paths.dnsmasq_dir, ENTRIES)
    nd = default_network(ips=[IpDef("192.168.122.1", 24), IpDef("fd00::1", 64, "ipv6"), IpDef("10.0.0.1", 8)])
    got = leases.network_leases(nd, paths, now=NOW)
    assert {(x.iface, x.prefix) for x in got} == {("virbr0", 24), ("virbr0", 64)}
