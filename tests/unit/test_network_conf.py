"""Network XML: golden round trips, libvirt's reference outputs, validation, net-update.

Golden files live in tests/data/network/: NAME.in.xml is the input,
NAME.out.xml the expected inactive (persistent) XML, NAME.live.xml (optional)
the expected live XML.  To regenerate them after a deliberate change run
``PYVIRT_REGEN_GOLDEN=1 pytest tests/unit/test_network_conf.py`` and review
the diff.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from pyvirt.conf.network import (
    DNSMASQ_NS,
    NetworkDef,
    UpdateCommand,
    UpdateSection,
    parse_network,
)
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError

DATA = Path(__file__).resolve().parent.parent / "data" / "network"
REFERENCE = Path("/work/shared/reference/libvirt-9.0-outputs")
REGEN = os.environ.get("PYVIRT_REGEN_GOLDEN") == "1"

CASES = sorted(p.name[: -len(".in.xml")] for p in DATA.glob("*.in.xml"))
LIVE_CASES = ["default", "nat-address-ports", "port-forwards", "unknown-elements"]


def _golden(path: Path, actual: str) -> None:
    if REGEN:
        path.write_text(actual)
        return
    assert path.exists(), f"missing golden file {path} (set PYVIRT_REGEN_GOLDEN=1 to create it)"
    expected = path.read_text()
    assert actual == expected, f"{path.name} differs byte-for-byte"


@pytest.mark.parametrize("name", CASES)
def test_golden_inactive(name: str) -> None:
    net = parse_network((DATA / f"{name}.in.xml").read_text())
    out = net.format(inactive=True)
    _golden(DATA / f"{name}.out.xml", out)
    # formatting is a fixed point: parse(format(x)) formats the same
    assert parse_network(out).format(inactive=True) == out


@pytest.mark.parametrize("name", LIVE_CASES)
def test_golden_live(name: str) -> None:
    net = parse_network((DATA / f"{name}.in.xml").read_text())
    net.set_connections(2)
    out = net.format()
    _golden(DATA / f"{name}.live.xml", out)
    again = parse_network(out)
    again.set_connections(2)
    assert again.format() == out


def test_cases_present() -> None:
    assert len(CASES) >= 14


# ---------------------------------------------------------------- libvirt 9.0 reference outputs


def _default() -> NetworkDef:
    return parse_network((DATA / "default.in.xml").read_text())


@pytest.mark.skipif(not REFERENCE.exists(), reason="reference outputs not available")
def test_default_inactive_matches_libvirt_051() -> None:
    # virsh prints the XML followed by an empty line
    expected = (REFERENCE / "051-virsh-net-dumpxml-default--inactive.txt").read_text()
    assert _default().format(inactive=True) + "\n" == expected


@pytest.mark.skipif(not REFERENCE.exists(), reason="reference outputs not available")
def test_default_live_matches_libvirt_050() -> None:
    net = _default()
    net.set_connections(1)
    expected = (REFERENCE / "050-virsh-net-dumpxml-default.txt").read_text()
    assert net.format() + "\n" == expected


def test_connections_zero_not_printed_and_inactive_hides_them() -> None:
    net = _default()
    assert "connections" not in net.format()
    net.set_connections(3)
    assert "<network connections='3'>" in net.format()
    assert "connections" not in net.format(inactive=True)


# ---------------------------------------------------------------- fields the drivers use


def test_default_fields() -> None:
    net = _default()
    assert net.name == "default"
    assert net.uuid == "a51a2a65-28f3-43b7-8b58-4ca93f6a0441"
    assert net.forward_mode == "nat"
    assert net.bridge == "virbr0"
    assert net.stp is True and net.delay == 0
    assert net.mac == "52:54:00:69:3c:3e"
    assert net.nat_port is None
    assert net.nat_port_effective == (1024, 65535)
    (ip,) = net.ips
    assert ip.address == ipaddress.ip_address("192.168.122.1")
    assert ip.prefix == 24 and ip.family == "ipv4"
    assert ip.network == ipaddress.ip_network("192.168.122.0/24")
    start, end, lease = ip.dhcp_ranges[0]
    assert (str(start), str(end), lease) == ("192.168.122.2", "192.168.122.254", None)
    assert ip.dhcp_ranges[0].size == 253


def test_isolated_fields() -> None:
    net = parse_network((DATA / "isolated.in.xml").read_text())
    assert net.forward_mode == "none"
    assert net.stp is False and net.delay == 2
    assert net.mac == "52:54:00:aa:00:05"
    assert net.nat_port_effective is None


def test_missing_uuid_mac_generated_bridge_left_to_driver() -> None:
    net = parse_network("<network><name>n</name><ip address='10.0.0.1' prefix='24'/></network>")
    assert len(net.uuid) == 36
    assert net.mac is not None and net.mac.startswith("52:54:00:")
    assert net.bridge is None
    out = net.format(inactive=True)
    assert "<bridge stp='on' delay='0'/>" in out
    net.set_bridge("virbr3")
    assert "<bridge name='virbr3' stp='on' delay='0'/>" in net.format(inactive=True)


def test_dns_fields() -> None:
    net = parse_network((DATA / "dns.in.xml").read_text())
    assert net.dns.enable is True and net.dns.forward_plain_names is False
    assert [h.hostnames for h in net.dns.hosts] == [["alpha", "alpha.example.com"]]
    assert [(str(f.addr) if f.addr else None, f.domain) for f in net.dns.forwarders] == [
        ("8.8.8.8", None),
        ("8.8.4.4", "example.com"),
        (None, "www.example.com"),
    ]
    assert net.dns.txts[0].value == "example value & more"
    assert net.dns.srvs[0].port == 389


def test_static_hosts_and_leases() -> None:
    net = parse_network((DATA / "static-hosts.in.xml").read_text())
    ip = net.ips[0]
    assert [h.name for h in ip.dhcp_hosts] == ["a.example.com", "b.example.com", "c"]
    assert ip.dhcp_hosts[1].lease_seconds == 1800
    assert ip.dhcp_ranges[0].lease_seconds == 0  # infinite


def test_ipv6_fields() -> None:
    net = parse_network((DATA / "ipv6-dhcp.in.xml").read_text())
    assert [ip.family for ip in net.ips] == ["ipv4", "ipv6", "ipv6"]
    v6 = net.ips[1]
    assert str(v6.address) == "2001:db8:ca2:2::1"
    assert v6.dhcp_ranges[0].lease_seconds == 3600
    assert net.dhcp_ip("ipv6") is v6
    assert net.ips[0].tftp_root == "/var/lib/tftp"
    assert net.ips[0].bootp_file == "pxelinux.0"


def test_dnsmasq_options_exposed_and_namespace_on_root() -> None:
    net = parse_network((DATA / "dnsmasq-options.in.xml").read_text())
    assert net.dnsmasq_options == ["foo=bar", "cname=*.foo.example.com,master.example.com"]
    out = net.format(inactive=True)
    assert out.startswith(f"<network xmlns:dnsmasq='{DNSMASQ_NS}'>\n")
    # a declaration on the options element itself moves to the root
    moved = parse_network(
        "<network><name>x</name><ip address='10.1.1.1' prefix='24'/>"
        f"<d:options xmlns:d='{DNSMASQ_NS}'><d:option value='a=b'/></d:options></network>"
    )
    assert moved.format().startswith(f"<network xmlns:dnsmasq='{DNSMASQ_NS}'>\n")


def test_port_forward_fields() -> None:
    net = parse_network((DATA / "port-forwards.in.xml").read_text())
    first, second = net.port_forwards
    assert (first.proto, first.ports, str(first.to), first.to_ports, first.address) == (
        "tcp",
        (8080, 8080),
        "192.168.122.10",
        (80, 80),
        None,
    )
    assert second.ports == (5000, 5010) and second.to_ports == (5000, 5010)
    assert str(second.address) == "10.0.0.5"


def test_route_forward_dev_becomes_interface() -> None:
    net = parse_network((DATA / "route-dev.in.xml").read_text())
    assert net.forward_dev == "eth1"
    assert "<forward dev='eth1' mode='route'>\n    <interface dev='eth1'/>\n  </forward>" in net.format()


def test_copy_is_independent() -> None:
    net = _default()
    other = net.copy()
    other.set_bridge("virbr9")
    other.ips[0].dhcp_ranges.clear()
    assert net.bridge == "virbr0" and net.ips[0].dhcp_ranges


# ---------------------------------------------------------------- errors


def _error(xml: str) -> VirtError:
    with pytest.raises(VirtError) as info:
        parse_network(xml)
    return info.value


NET_IP = "<ip address='192.168.122.1' netmask='255.255.255.0'>{}</ip>"


def _net(body: str, head: str = "<network><name>t</name>") -> str:
    return f"{head}{body}</network>"


def test_malformed_xml() -> None:
    err = _error("<network><name>bad</name>\n")
    assert err.code == ErrorNumber.XML_DETAIL
    assert err.domain == ErrorDomain.NETWORK
    assert err.message == "(network_definition):2: Premature end of data in tag network line 1\n(null)\n^"


def test_malformed_xml_context_line() -> None:
    err = _error("<network>\n  <name a='1' a='2'>x</name>\n</network>")
    assert err.code == ErrorNumber.XML_DETAIL
    assert err.message is not None
    lines = err.message.split("\n")
    assert lines[0].startswith("(network_definition):2: Attribute a redefined")
    assert lines[1] == "  <name a='1' a='2'>x</name>"
    assert lines[2].endswith("^") and set(lines[2][:-1]) <= {"-"}


def test_billion_laughs_refused() -> None:
    xml = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
        ' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
        ' <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n]>\n'
        "<network><name>&lol3;</name></network>"
    )
    err = _error(xml)
    assert err.code == ErrorNumber.XML_ERROR


def test_external_entity_refused() -> None:
    xml = '<!DOCTYPE n [<!ENTITY x SYSTEM "file:///etc/passwd">]><network><name>&x;</name></network>'
    assert _error(xml).code == ErrorNumber.XML_ERROR


def test_wrong_root() -> None:
    err = _error("<domain><name>x</name></domain>")
    assert err.code == ErrorNumber.XML_ERROR
    assert err.message == "XML error: expecting root element of 'network', not 'domain'"


def test_missing_name() -> None:
    err = _error("<network/>")
    assert err.code == ErrorNumber.NO_NAME
    assert err.message == "missing name information"


def test_name_with_slash() -> None:
    err = _error("<network><name>a/b</name></network>")
    assert err.code == ErrorNumber.XML_DETAIL
    assert err.message == "invalid char in name: 0x2f"


def test_bad_uuid() -> None:
    err = _error(_net("<uuid>not-a-uuid</uuid>"))
    assert err.code == ErrorNumber.INTERNAL_ERROR
    assert err.message == "internal error: malformed uuid element"


def test_bad_ip() -> None:
    err = _error(_net("<ip address='192.168.122.300' netmask='255.255.255.0'/>"))
    assert err.code == ErrorNumber.XML_ERROR and err.domain == ErrorDomain.NETWORK
    assert err.message == "XML error: Invalid address '192.168.122.300' in network 't'"


def test_bad_prefix() -> None:
    err = _error(_net("<ip address='192.168.122.1' prefix='33'/>"))
    assert err.code == ErrorNumber.CONFIG_UNSUPPORTED
    assert err.message == "unsupported configuration: Invalid IPv4 prefix '33' in network 't'"


def test_prefix_and_netmask() -> None:
    err = _error(_net("<ip address='192.168.122.1' netmask='255.255.255.0' prefix='24'/>"))
    assert err.message == (
        "unsupported configuration: Network 't' IP address cannot have both a prefix and a netmask"
    )


def test_range_outside_subnet() -> None:
    err = _error(_net(NET_IP.format("<dhcp><range start='192.168.123.2' end='192.168.123.254'/></dhcp>")))
    assert err.code == ErrorNumber.INTERNAL_ERROR
    assert err.message == (
        "internal error: range 192.168.123.2 - 192.168.123.254 is not entirely within network "
        "192.168.122.1/24"
    )


def test_range_reversed() -> None:
    err = _error(_net(NET_IP.format("<dhcp><range start='192.168.122.200' end='192.168.122.10'/></dhcp>")))
    assert err.message == "internal error: range 192.168.122.200 - 192.168.122.10 is reversed "


def test_range_broadcast() -> None:
    err = _error(_net(NET_IP.format("<dhcp><range start='192.168.122.2' end='192.168.122.255'/></dhcp>")))
    assert "is the broadcast address" in (err.message or "")


def test_two_ipv4_dhcp() -> None:
    body = NET_IP.format("<dhcp><range start='192.168.122.2' end='192.168.122.9'/></dhcp>") + (
        "<ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' end='10.0.0.9'/></dhcp></ip>"
    )
    err = _error(_net(body))
    assert err.code == ErrorNumber.CONFIG_UNSUPPORTED and err.domain == ErrorDomain.NETWORK
    assert err.message == (
        "unsupported configuration: Multiple IPv4 dhcp sections found -- dhcp is supported only for a "
        "single IPv4 address on each network"
    )


def test_bad_mac() -> None:
    err = _error(_net("<mac address='52:54:00:zz:00:01'/>"))
    assert err.code == ErrorNumber.XML_ERROR
    assert err.message == "XML error: Invalid bridge mac address '52:54:00:zz:00:01' in network 't'"


def test_multicast_mac() -> None:
    err = _error(_net("<mac address='01:00:5e:00:00:01'/>"))
    assert err.message == "XML error: Invalid multicast bridge mac address '01:00:5e:00:00:01' in network 't'"


def test_bad_host_mac() -> None:
    err = _error(_net(NET_IP.format("<dhcp><host mac='00:16:3e:77:e2' ip='192.168.122.9'/></dhcp>")))
    assert err.message == "XML error: Cannot parse MAC address '00:16:3e:77:e2' in network 't'"


def test_host_outside_subnet() -> None:
    err = _error(_net(NET_IP.format("<dhcp><host mac='00:16:3e:77:e2:ed' ip='10.9.9.9'/></dhcp>")))
    assert err.code == ErrorNumber.XML_ERROR


def test_duplicate_host_mac() -> None:
    hosts = (
        "<dhcp><host mac='00:16:3e:77:e2:ed' ip='192.168.122.9'/>"
        "<host mac='00:16:3E:77:E2:ED' ip='192.168.122.10'/></dhcp>"
    )
    err = _error(_net(NET_IP.format(hosts)))
    assert err.code == ErrorNumber.XML_ERROR
    assert "duplicate dhcp host entry" in (err.message or "")


def test_bridge_name_too_long() -> None:
    err = _error(_net("<bridge name='averyveryverylongbridge'/><ip address='10.0.0.1' prefix='24'/>"))
    assert err.code == ErrorNumber.XML_ERROR
    assert "too long" in (err.message or "")


def test_forward_nat_without_ip() -> None:
    err = _error(_net("<forward mode='nat'/>"))
    assert err.message == "XML error: nat forwarding requested, but no IP address provided for network 't'"


def test_unknown_forward_mode() -> None:
    err = _error(_net("<forward mode='teleport'/>"))
    assert err.code == ErrorNumber.CONFIG_UNSUPPORTED
    assert err.message == "unsupported configuration: unknown forwarding type 'teleport'"


@pytest.mark.parametrize("element", ["<mac address='52:54:00:00:00:01'/>", NET_IP.format("")])
def test_bridge_mode_refuses_mac_and_ip(element: str) -> None:
    err = _error(_net("<forward mode='bridge'/><bridge name='br0'/>" + element))
    assert err.code == ErrorNumber.CONFIG_UNSUPPORTED


def test_nat_port_invalid() -> None:
    err = _error(_net("<forward><nat><port start='2000' end='1000'/></nat></forward>" + NET_IP.format("")))
    assert err.code == ErrorNumber.XML_DETAIL
    assert err.message == "Missing or invalid 'end' attribute in <port> in <nat> in <forward> in network t"


def test_lease_too_short() -> None:
    body = NET_IP.format(
        "<dhcp><range start='192.168.122.2' end='192.168.122.9'>"
        "<lease expiry='1' unit='minutes'/></range></dhcp>"
    )
    err = _error(_net(body))
    assert err.message == "unsupported configuration: The minimum lease time should be greater than 2 minutes"


def test_unreachable_route_gateway() -> None:
    err = _error(_net(NET_IP.format("") + "<route address='10.0.0.0' prefix='8' gateway='172.16.0.1'/>"))
    assert err.code == ErrorNumber.CONFIG_UNSUPPORTED


@pytest.mark.parametrize(
    "rule",
    [
        "<portForward proto='sctp' port='80' to='192.168.122.10'/>",
        "<portForward proto='tcp' port='0' to='192.168.122.10'/>",
        "<portForward proto='tcp' port='70000' to='192.168.122.10'/>",
        "<portForward proto='tcp' port='90' portEnd='80' to='192.168.122.10'/>",
        "<portForward proto='tcp' port='80' portEnd='90' to='192.168.122.10' toPort='65530'/>",
        "<portForward proto='tcp' port='80' to='10.1.1.1'/>",
        "<portForward proto='tcp' port='80' to='fe80::1'/>",
        "<portForward proto='tcp' port='80'/>",
        "<portForward proto='tcp' port='80' to='192.168.122.10'/>"
        "<portForward proto='tcp' port='70' portEnd='90' to='192.168.122.11'/>",
    ],
)
def test_port_forward_invalid(rule: str) -> None:
    err = _error(_net(f"<forward mode='nat'>{rule}</forward>" + NET_IP.format("")))
    assert err.code in (ErrorNumber.XML_ERROR, ErrorNumber.CONFIG_UNSUPPORTED)


def test_port_forward_only_on_nat() -> None:
    err = _error(
        _net(
            "<forward mode='route'><portForward proto='tcp' port='80' to='192.168.122.10'/></forward>"
            + NET_IP.format("")
        )
    )
    assert err.code == ErrorNumber.CONFIG_UNSUPPORTED


# ---------------------------------------------------------------- net-update


def _static() -> NetworkDef:
    return parse_network((DATA / "static-hosts.in.xml").read_text())


def test_update_dhcp_host_add_last_and_first() -> None:
    net = _static()
    net.update(
        UpdateCommand.ADD_LAST,
        UpdateSection.IP_DHCP_HOST,
        -1,
        "<host mac='52:54:00:00:00:09' ip='192.168.200.50'/>",
    )
    net.update(
        UpdateCommand.ADD_FIRST, UpdateSection.IP_DHCP_HOST, 0, "<host name='first' ip='192.168.200.51'/>"
    )
    names = [h.name for h in net.ips[0].dhcp_hosts]
    assert names == ["first", "a.example.com", "b.example.com", "c", None]
    assert "<host mac='52:54:00:00:00:09' ip='192.168.200.50'/>" in net.format()


def test_update_dhcp_host_duplicate() -> None:
    net = _static()
    with pytest.raises(VirtError) as info:
        net.update(
            UpdateCommand.ADD_LAST,
            UpdateSection.IP_DHCP_HOST,
            -1,
            "<host mac='00:16:3e:77:e2:ed' ip='192.168.200.60'/>",
        )
    assert info.value.code == ErrorNumber.OPERATION_INVALID
    assert info.value.message == (
        "Requested operation is not valid: there is an existing dhcp host entry in network 'statics' that "
        "matches \"<host mac='00:16:3e:77:e2:ed' name='(null)' ip='192.168.200.60'/>\""
    )


def test_update_dhcp_host_modify_and_delete() -> None:
    net = _static()
    net.update(
        UpdateCommand.MODIFY,
        UpdateSection.IP_DHCP_HOST,
        -1,
        "<host mac='00:16:3e:77:e2:ed' name='renamed' ip='192.168.200.10'/>",
    )
    assert net.ips[0].dhcp_hosts[0].name == "renamed"
    net.update(UpdateCommand.DELETE, UpdateSection.IP_DHCP_HOST, -1, "<host ip='192.168.200.11'/>")
    assert [h.name for h in net.ips[0].dhcp_hosts] == ["renamed", "c"]
    with pytest.raises(VirtError) as info:
        net.update(UpdateCommand.DELETE, UpdateSection.IP_DHCP_HOST, -1, "<host ip='192.168.200.99'/>")
    assert info.value.message == (
        "Requested operation is not valid: couldn't locate a matching dhcp host entry in network 'statics'"
    )


def test_update_wrong_element() -> None:
    net = _static()
    with pytest.raises(VirtError) as info:
        net.update(UpdateCommand.ADD_LAST, UpdateSection.IP_DHCP_HOST, -1, "<range start='1' end='2'/>")
    assert info.value.message == (
        "XML error: unexpected element <range>, expecting <host>, while updating network 'statics'"
    )


def test_update_malformed() -> None:
    with pytest.raises(VirtError) as info:
        _static().update(UpdateCommand.ADD_LAST, UpdateSection.IP_DHCP_HOST, -1, "<host")
    assert info.value.code == ErrorNumber.XML_DETAIL
    assert (info.value.message or "").startswith("network_update_xml:1: ")


def test_update_unsupported_section() -> None:
    with pytest.raises(VirtError) as info:
        _static().update(UpdateCommand.MODIFY, UpdateSection.BRIDGE, -1, "<bridge name='x'/>")
    assert info.value.code == ErrorNumber.OPERATION_UNSUPPORTED
    assert info.value.message == "Operation not supported: can't update 'bridge' section of network 'statics'"


def test_update_dns_host() -> None:
    net = parse_network((DATA / "dns.in.xml").read_text())
    net.update(
        UpdateCommand.ADD_LAST,
        UpdateSection.DNS_HOST,
        -1,
        "<host ip='192.168.180.3'><hostname>beta</hostname></host>",
    )
    assert [h.hostnames for h in net.dns.hosts][-1] == ["beta"]
    with pytest.raises(VirtError):
        net.update(
            UpdateCommand.ADD_LAST,
            UpdateSection.DNS_HOST,
            -1,
            "<host ip='192.168.180.3'><hostname>x</hostname></host>",
        )
    net.update(UpdateCommand.DELETE, UpdateSection.DNS_HOST, -1, "<host><hostname>beta</hostname></host>")
    assert len(net.dns.hosts) == 1
    with pytest.raises(VirtError) as info:
        net.update(UpdateCommand.MODIFY, UpdateSection.DNS_HOST, -1, "<host ip='192.168.180.2'/>")
    assert info.value.code == ErrorNumber.OPERATION_UNSUPPORTED


def test_update_port_forward() -> None:
    net = parse_network((DATA / "port-forwards.in.xml").read_text())
    section = UpdateSection.PORT_FORWARD
    assert section == 1000
    net.update(
        UpdateCommand.ADD_LAST,
        section,
        -1,
        "<portForward proto='tcp' port='2222' to='192.168.122.20' toPort='22'/>",
    )
    assert [r.port for r in net.port_forwards] == [8080, 5000, 2222]
    with pytest.raises(VirtError) as info:
        net.update(
            UpdateCommand.ADD_FIRST, section, -1, "<portForward proto='tcp' port='2222' to='192.168.122.21'/>"
        )
    assert info.value.code == ErrorNumber.OPERATION_INVALID
    net.update(
        UpdateCommand.MODIFY,
        section,
        -1,
        "<portForward proto='tcp' port='2222' to='192.168.122.21' toPort='22'/>",
    )
    assert str(net.port_forwards[-1].to) == "192.168.122.21"
    with pytest.raises(VirtError):
        net.update(
            UpdateCommand.ADD_LAST, section, -1, "<portForward proto='tcp' port='23' to='172.16.0.1'/>"
        )
    net.update(
        UpdateCommand.DELETE, section, -1, "<portForward proto='tcp' port='8080' to='192.168.122.10'/>"
    )
    assert [r.port for r in net.port_forwards] == [5000, 2222]
    assert "<portForward proto='tcp' port='2222' to='192.168.122.21' toPort='22'/>" in net.format()


def test_failed_update_changes_nothing() -> None:
    net = parse_network((DATA / "port-forwards.in.xml").read_text())
    before = net.format()
    with pytest.raises(VirtError):
        net.update(
            UpdateCommand.ADD_LAST,
            UpdateSection.PORT_FORWARD,
            -1,
            "<portForward proto='tcp' port='1' to='8.8.8.8'/>",
        )
    assert net.format() == before
