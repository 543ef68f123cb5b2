"""pyvirsh's table printer against real virsh 9.0 output, byte for byte."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pyvirt import constants as c
from pyvirt.cli.table import Table, display_width, sanitize
from tests.unit.cli_fakes import FakeConn, run

REF = Path(__file__).resolve().parents[1] / "data" / "reference" / "libvirt-9.0-outputs"


def ref(name: str) -> str:
    return (REF / name).read_text()


def table_text(name: str) -> str:
    """A reference table without virsh's trailing blank line."""
    text = ref(name)
    assert text.endswith("\n\n")
    return text[:-1]


# -- Table alone -----------------------------------------------------------


def test_net_list_all_004() -> None:
    t = Table("Name", "State", "Autostart", "Persistent")
    t.add_row("default", "inactive", "no", "yes")
    assert t.render() == table_text("004-virsh-net-list--all.txt")


def test_empty_net_list_003_divider_is_40_dashes() -> None:
    t = Table("Name", "State", "Autostart", "Persistent")
    assert t.render() == table_text("003-virsh-net-list.txt")
    assert t.render().splitlines()[1] == "-" * 40


def test_list_defined_028() -> None:
    t = Table("Id", "Name", "State")
    t.add_row("-", "pc1", "shut off")
    assert t.render() == table_text("028-virsh-list--all-defined.txt")


def test_list_running_034() -> None:
    t = Table("Id", "Name", "State")
    t.add_row("1", "pc1", "running")
    assert t.render() == table_text("034-virsh-list-running.txt")


def test_empty_list_025() -> None:
    assert Table("Id", "Name", "State").render() == table_text("025-virsh-list.txt")


def test_domiflist_039() -> None:
    t = Table("Interface", "Type", "Source", "Model", "MAC")
    t.add_row("vnet0", "network", "default", "virtio", "52:54:00:63:0a:d8")
    assert t.render() == table_text("039-virsh-domiflist-pc1.txt")


def test_dhcp_leases_047() -> None:
    t = Table("Expiry Time", "MAC address", "Protocol", "IP address", "Hostname", "Client ID or DUID")
    t.add_row(
        "2026-11-28 02:15:51",
        "52:54:00:63:0a:d8",
        "ipv4",
        "192.168.122.159/24",
        "guest1",
        "01:52:54:00:63:0a:d8",
    )
    assert t.render() == table_text("047-virsh-net-dhcp-leases-default.txt")


def test_empty_dhcp_leases_042() -> None:
    t = Table("Expiry Time", "MAC address", "Protocol", "IP address", "Hostname", "Client ID or DUID")
    assert t.render() == table_text("042-virsh-net-dhcp-leases-before-lease.txt")


def test_quiet_drops_header_and_header_width() -> None:
    t = Table("Id", "Name", "State")
    t.add_row("-", "pc1", "shut off")
    # without the header, "Id"/"Name" no longer widen the columns
    assert t.render(header=False) == " -   pc1   shut off\n"


def test_last_column_has_no_padding() -> None:
    t = Table("A", "Title")
    t.add_row("x", "")
    t.add_row("yyyy", "long title")
    assert t.render().splitlines()[2] == " x      "
    for line in t.render().splitlines():
        assert line.startswith(" ") or line.startswith("-")


def test_sanitize_control_characters() -> None:
    assert sanitize("a\nb") == "a\\x0ab"
    assert sanitize("tab\there") == "tab\\x09here"
    assert sanitize("plain") == "plain"
    t = Table("Name")
    t.add_row("a\nb")
    assert t.render() == " Name\n---------\n a\\x0ab\n"


def test_wide_characters_count_double() -> None:
    assert display_width("日本") == 4
    assert display_width("e\u0301") == 1
    t = Table("N", "X")
    t.add_row("日本", "1")
    assert t.render() == " N      X\n-----------\n 日本   1\n"


def test_row_length_checked() -> None:
    with pytest.raises(ValueError):
        Table("A", "B").add_row("only one")


# -- tables through the commands -------------------------------------------


def test_cmd_net_list_all_matches_004() -> None:
    conn = FakeConn()
    conn.add_network("default", "a51a2a65-28f3-43b7-8b58-4ca93f6a0441")
    r = run(["net-list", "--all"], conn)
    assert (r.rc, r.out, r.err) == (0, ref("004-virsh-net-list--all.txt"), "")


def test_cmd_list_matches_028_and_034() -> None:
    conn = FakeConn()
    dom = conn.add_domain("pc1", "361ea41e-a029-4eb3-8b87-7860f5faf70f")
    assert run(["list", "--all"], conn).out == ref("028-virsh-list--all-defined.txt")
    dom.id, dom.state_ = 1, c.VIR_DOMAIN_RUNNING
    assert run(["list"], conn).out == ref("034-virsh-list-running.txt")


def test_cmd_domiflist_matches_039() -> None:
    conn = FakeConn()
    xml = (REF / "052-virsh-dumpxml-pc1-running.txt").read_text()
    conn.add_domain("pc1", "361ea41e-a029-4eb3-8b87-7860f5faf70f", id=1, xml=xml)
    r = run(["domiflist", "pc1"], conn)
    assert (r.rc, r.out, r.err) == (0, ref("039-virsh-domiflist-pc1.txt"), "")


@pytest.fixture
def utc() -> object:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield None
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def _lease_conn() -> FakeConn:
    conn = FakeConn()
    lease = {
        "iface": "virbr0",
        "expirytime": 1795832151,  # 2026-11-28 02:15:51 UTC
        "type": 0,
        "mac": "52:54:00:63:0a:d8",
        "iaid": None,
        "ipaddr": "192.168.122.159",
        "prefix": 24,
        "hostname": "guest1",
        "clientid": "01:52:54:00:63:0a:d8",
    }
    conn.add_network("default", "a51a2a65-28f3-43b7-8b58-4ca93f6a0441", active=True, leases=[lease])
    return conn


def test_cmd_dhcp_leases_matches_047_048(utc: object) -> None:
    conn = _lease_conn()
    assert run(["net-dhcp-leases", "default"], conn).out == ref("047-virsh-net-dhcp-leases-default.txt")
    r = run(["net-dhcp-leases", "default", "--mac", "52:54:00:63:0a:d8"], conn)
    assert r.out == ref("048-virsh-net-dhcp-leases-default--mac.txt")


def test_cmd_dhcp_leases_empty_matches_042() -> None:
    conn = FakeConn()
    conn.add_network("default", "a51a2a65-28f3-43b7-8b58-4ca93f6a0441", active=True)
    assert run(["net-dhcp-leases", "default"], conn).out == ref("042-virsh-net-dhcp-leases-before-lease.txt")


def test_cmd_domifaddr_matches_041_044() -> None:
    conn = FakeConn()
    dom = conn.add_domain("pc1", "361ea41e-a029-4eb3-8b87-7860f5faf70f", id=1)
    assert run(["domifaddr", "pc1"], conn).out == ref("041-virsh-domifaddr-pc1-before-lease.txt")
    dom.ifaddrs = [
        {
            "name": "vnet0",
            "hwaddr": "52:54:00:63:0a:d8",
            "addrs": [{"type": 0, "addr": "192.168.122.159", "prefix": 24}],
        }
    ]
    assert run(["domifaddr", "pc1"], conn).out == ref("044-virsh-domifaddr-pc1.txt")
    assert run(["domifaddr", "pc1", "--source", "lease"], conn).out == ref(
        "045-virsh-domifaddr-pc1--source-lease.txt"
    )
