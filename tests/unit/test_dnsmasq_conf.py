# ruff: noqa: E501  (golden nft/dnsmasq lines are kept whole)
"""dnsmasq configuration text: libvirt's lines, in libvirt's order, with our paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyvirt.errors import VirtError
from pyvirt.network import dnsmasq
from pyvirt.network.paths import NetworkPaths
from tests.unit.netdef_stub import (
    DnsDef,
    DnsHost,
    Forwarder,
    HostDef,
    IpDef,
    NetDef,
    Srv,
    Txt,
    default_network,
)

REFERENCE = Path("/work/shared/reference/libvirt-9.0-outputs/014-dnsmasq-default.conf.txt")
HEADER = (
    "##WARNING:  THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n"
    "##OVERWRITTEN AND LOST.  Changes to this configuration should be made using:\n"
    "##    virsh net-edit {name}\n"
    "## or other application using the libvirt API.\n"
    "##\n"
    "## dnsmasq conf file created by libvirt\n"
)
ROOT = NetworkPaths("/")
D = "/var/lib/pyvirt/dnsmasq"


def reference_default() -> str:
    if REFERENCE.exists():
        text = REFERENCE.read_text()
    else:  # the reference file's content, for checkouts without the shared tree
        text = HEADER.format(name="default") + (
            "strict-order\npid-file=/run/libvirt/network/default.pid\nexcept-interface=lo\nbind-dynamic\n"
            "interface=virbr0\ndhcp-range=192.168.122.2,192.168.122.254,255.255.255.0\ndhcp-no-override\n"
            "dhcp-authoritative\ndhcp-lease-max=253\n"
            "dhcp-hostsfile=/var/lib/libvirt/dnsmasq/default.hostsfile\n"
            "addn-hosts=/var/lib/libvirt/dnsmasq/default.addnhosts\n"
        )
    return text.replace("/run/libvirt/", "/run/pyvirt/").replace("/var/lib/libvirt/", "/var/lib/pyvirt/")


def test_default_network_matches_libvirt_byte_for_byte() -> None:
    assert dnsmasq.build_config(default_network(), ROOT) == reference_default()


def test_default_network_under_a_root(tmp_path: Path) -> None:
    text = dnsmasq.build_config(default_network(), NetworkPaths(tmp_path))
    assert f"pid-file={tmp_path}/run/pyvirt/network/default.pid\n" in text
    assert f"dhcp-hostsfile={tmp_path}/var/lib/pyvirt/dnsmasq/default.hostsfile\n" in text


def test_isolated_network_lines() -> None:
    text = dnsmasq.build_config(default_network(name="iso", bridge="virbr5", forward_mode="none"), ROOT)
    assert text.startswith(HEADER.format(name="iso") + "strict-order\npid-file=/run/pyvirt/network/iso.pid\n")
    assert "interface=virbr5\ndhcp-option=3\nno-resolv\nra-param=*,0,0\ndhcp-range=" in text


def test_dns_options_in_libvirt_order() -> None:
    dns = DnsDef(
        forward_plain_names=False,
        forwarders=[Forwarder(addr="8.8.8.8"), Forwarder(domain="example.com", addr="8.8.4.4"),
                    Forwarder(domain="www.example.com")],
        txts=[Txt("example", "example value")],
        srvs=[Srv("name", "tcp", domain="test-domain-name", target=".", port=1024, priority=10, weight=10),
              Srv("ldap", "tcp", target="ldap.example.com", port=389),
              Srv("xmpp", "udp", domain="example.org", target="x.example.org", weight=5)],
        hosts=[DnsHost("192.168.122.2", ["host", "host2"]), DnsHost("192.168.122.3", ["a"]),
               DnsHost("192.168.122.2", ["host3"])],
    )  # fmt: skip
    nd = default_network(dns=dns, domain_name="example.com", domain_local_only=True, mtu=9000)
    nd.ips[0].local_ptr = True
    text = dnsmasq.build_config(nd, ROOT)
    body = text[len(HEADER.format(name="default")) :]
    assert body == (
        "strict-order\n"
        "server=8.8.8.8\n"
        "server=/example.com/8.8.4.4\n"
        "server=/www.example.com/#\n"
        "no-resolv\n"
        "local=/example.com/\n"
        "domain=example.com\n"
        "expand-hosts\n"
        "local=/122.168.192.in-addr.arpa/\n"
        "domain-needed\n"
        "local=//\n"
        "pid-file=/run/pyvirt/network/default.pid\n"
        "except-interface=lo\n"
        "bind-dynamic\n"
        "interface=virbr0\n"
        "txt-record=example,example value\n"
        "srv-host=_name._tcp.test-domain-name\n"
        "srv-host=_ldap._tcp,ldap.example.com,389\n"
        "srv-host=_xmpp._udp.example.org,x.example.org,1,0,5\n"
        "dhcp-range=192.168.122.2,192.168.122.254,255.255.255.0\n"
        "dhcp-no-override\n"
        "dhcp-authoritative\n"
        "dhcp-lease-max=253\n"
        f"dhcp-hostsfile={D}/default.hostsfile\n"
        f"addn-hosts={D}/default.addnhosts\n"
        "dhcp-option=option:mtu,9000\n"
    )
    assert dnsmasq.build_addnhosts(nd) == "192.168.122.2\thost\thost2\thost3\t\n192.168.122.3\ta\t\n"


def test_dns_disabled_and_static_only() -> None:
    nd = NetDef(
        name="st", bridge="virbr9", dns=DnsDef(enable=False),
        ips=[IpDef("10.0.0.1", 16, dhcp_hosts=[HostDef(mac="52:54:00:00:00:01", ip="10.0.5.5")])],
    )  # fmt: skip
    body = dnsmasq.build_config(nd, ROOT)[len(HEADER.format(name="st")) :]
    assert body == (
        "strict-order\nport=0\npid-file=/run/pyvirt/network/st.pid\nexcept-interface=lo\nbind-dynamic\n"
        "interface=virbr9\ndhcp-range=10.0.0.1,static\ndhcp-no-override\ndhcp-authoritative\n"
        f"dhcp-hostsfile={D}/st.hostsfile\n"
    )
    assert dnsmasq.build_hostsfile(nd) == "52:54:00:00:00:01,10.0.5.5\n"
    assert dnsmasq.needs_dnsmasq(nd)
    assert not dnsmasq.needs_dnsmasq(NetDef(dns=DnsDef(enable=False), ips=[IpDef("10.0.0.1", 16)]))
    assert not dnsmasq.needs_dnsmasq(NetDef(ips=[]))


def test_ipv6_ranges_lease_max_and_ra() -> None:
    nd = default_network(
        ips=[
            IpDef("192.168.122.1", 24, dhcp_ranges=[("192.168.122.2", "192.168.122.254", 3600)],
                  dhcp_hosts=[HostDef(mac="00:16:3e:77:e2:ed", ip="192.168.122.10", name="a.example.com", lease=300)]),
            IpDef("2001:db8:ac10:fe01::1", 64, "ipv6",
                  dhcp_ranges=[("2001:db8:ac10:fe01::1:0", "2001:db8:ac10:fe01::1:ff", 0)],
                  dhcp_hosts=[HostDef(id="0:4:7e:7d:f0:7d:a8:bc:c5:d2:13:32:11:ed:16:ea:84:63", name="peter",
                                      ip="2001:db8:ac10:fe01::2")]),
            IpDef("2001:db8:ac10:fd01::1", 64, "ipv6"),
        ]
    )  # fmt: skip
    text = dnsmasq.build_config(nd, ROOT)
    assert (
        "dhcp-range=192.168.122.2,192.168.122.254,255.255.255.0,1h\n"
        "dhcp-no-override\ndhcp-authoritative\n"
        "dhcp-range=2001:db8:ac10:fe01::1:0,2001:db8:ac10:fe01::1:ff,64,infinite\n"
        "dhcp-lease-max=509\n"
    ) in text
    assert text.endswith(f"addn-hosts={D}/default.addnhosts\nenable-ra\n")
    assert dnsmasq.build_hostsfile(nd) == (
        "00:16:3e:77:e2:ed,192.168.122.10,a.example.com,5m\n"
        "id:0:4:7e:7d:f0:7d:a8:bc:c5:d2:13:32:11:ed:16:ea:84:63,peter,[2001:db8:ac10:fe01::2]\n"
    )


def test_ipv6_without_dhcp_is_ra_only() -> None:
    nd = default_network(ips=[IpDef("192.168.122.1", 24), IpDef("2001:db8::1", 64, "ipv6")])
    text = dnsmasq.build_config(nd, ROOT)
    assert text.endswith(f"addn-hosts={D}/default.addnhosts\ndhcp-range=2001:db8::1,ra-only\n")
    assert "dhcp-hostsfile" not in text and "dhcp-lease-max" not in text


def test_two_dhcp_ipv4_definitions_are_refused() -> None:
    nd = default_network(
        ips=[IpDef("192.168.122.1", 24, dhcp_ranges=[("192.168.122.2", "192.168.122.9", None)]),
             IpDef("192.168.123.1", 24, dhcp_ranges=[("192.168.123.2", "192.168.123.9", None)])]
    )  # fmt: skip
    with pytest.raises(VirtError) as exc:
        dnsmasq.build_config(nd, ROOT)
    assert (
        exc.value.message
        == "unsupported configuration: For IPv4, multiple DHCP definitions cannot be specified."
    )


@pytest.mark.parametrize(
    ("lease", "text"), [(None, None), (0, "infinite"), (3600, "1h"), (120, "2m"), (90, "90s")]
)
def test_lease_time_format(lease: int | None, text: str | None) -> None:
    assert dnsmasq.format_lease_time(lease) == text


def test_write_files_modes(tmp_path: Path) -> None:
    paths = NetworkPaths(tmp_path)
    dnsmasq.write_files(default_network(), paths)
    assert paths.conf("default").stat().st_mode & 0o777 == 0o600
    assert paths.hostsfile("default").stat().st_mode & 0o777 == 0o644
    assert paths.hostsfile("default").read_text() == ""
    assert paths.addnhosts("default").read_text() == ""
    dnsmasq.remove_files("default", paths, bridge="virbr0")
    assert list(paths.dnsmasq_dir.iterdir()) == []


def test_command_line_and_is_running(tmp_path: Path) -> None:
    argv = dnsmasq.command_line(default_network(), NetworkPaths(tmp_path))
    assert argv[1:3] == [f"--conf-file={tmp_path}/var/lib/pyvirt/dnsmasq/default.conf", "--leasefile-ro"]
    assert argv[3].startswith("--dhcp-script=") and argv[3].endswith("/pyvirt-leaseshelper")
    assert not dnsmasq.is_running(1, tmp_path / "x.conf")
    assert not dnsmasq.is_running(None, tmp_path / "x.conf")


# ---- with the real parser (pyvirt.conf.network)

DEFAULT_XML = """<network>
  <name>default</name>
  <bridge name='virbr0'/>
  <forward/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
    </dhcp>
  </ip>
</network>
"""


def _parse(xml: str):  # type: ignore[no-untyped-def]
    network = pytest.importorskip("pyvirt.conf.network")
    return network.parse_network(xml)


def test_parsed_default_network_matches_libvirt() -> None:
    assert dnsmasq.build_config(_parse(DEFAULT_XML), ROOT) == reference_default()


def test_parsed_leases_hosts_and_units() -> None:
    nd = _parse(
        """<network><name>n1</name><bridge name='virbr3'/><forward mode='route'/>
        <ip address='10.1.0.1' prefix='24'><dhcp>
          <range start='10.1.0.10' end='10.1.0.20'><lease expiry='60' unit='minutes'/></range>
          <host mac='52:54:00:00:00:07' name='h7' ip='10.1.0.7'><lease expiry='2' unit='hours'/></host>
        </dhcp></ip></network>"""
    )
    text = dnsmasq.build_config(nd, ROOT)
    assert "dhcp-range=10.1.0.10,10.1.0.20,255.255.255.0,60m\n" in text
    assert "dhcp-lease-max=11\n" in text
    assert dnsmasq.build_hostsfile(nd) == "52:54:00:00:00:07,10.1.0.7,h7,2h\n"


def test_find_pids_lists_daemons_before_their_lease_script_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    # dnsmasq's helper has the daemon's command line but ignores SIGTERM: it must come last,
    # also when pid numbers wrapped around (helper 5 forked by daemon 300)
    parents = {15: 1, 16: 15, 300: 1, 5: 300, 40: 1}
    monkeypatch.setattr(dnsmasq, "_iter_pids", lambda: [16, 5, 40, 15, 300])
    monkeypatch.setattr(dnsmasq, "is_running", lambda pid, conf: pid != 40)
    monkeypatch.setattr(dnsmasq, "_ppid", parents.get)
    assert dnsmasq.find_pids("/x.conf") == [15, 300, 5, 16]
