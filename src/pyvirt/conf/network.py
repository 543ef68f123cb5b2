"""libvirt network XML <-> :class:`NetworkDef`.

:func:`parse_network` parses, validates (libvirt's ``virNetworkDefParseXML``
plus the define-time checks of ``networkValidate``) and fills libvirt's
defaults (uuid, bridge MAC, ``stp='on' delay='0'``).  :meth:`NetworkDef.format`
prints it back exactly as libvirt does: elements in libvirt's order, addresses
in canonical form, and the live-only parts (``connections='N'``, the NAT
source-port range 1024-65535) only in the live XML.

Elements and attributes libvirt does not know are kept: unknown attributes of
a known element follow its known attributes, unknown children follow its
known children, and unknown top-level elements keep their place after the
known element they followed.

Our extension, ``<portForward>`` inside ``<forward mode='nat'>``, is
described in ``docs/port-forwards.md``.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pyvirt.conf import xmlutil
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.lazydataclass import dataclass, field
from pyvirt.lazyimport import lazy_module

if TYPE_CHECKING:
    from lxml import etree

    from pyvirt.conf.xmlutil import Element
else:
    etree = lazy_module("lxml.etree", home=(globals(), "etree"))  # see xmlutil

__all__ = [
    "DNSMASQ_NS",
    "DhcpHost",
    "DhcpRange",
    "DnsDef",
    "DnsForwarder",
    "DnsHost",
    "DnsSrv",
    "DnsTxt",
    "IpDef",
    "Lease",
    "NetworkDef",
    "PortForward",
    "RouteDef",
    "UpdateCommand",
    "UpdateSection",
    "parse_network",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"

FORWARD_MODES = ("nat", "route", "open", "bridge", "private", "vepa", "passthrough", "hostdev")
VIRTUAL_MODES = ("none", "nat", "route", "open")
BRIDGE_NAME_MAX = 15  # IFNAMSIZ - 1
NAT_PORT_DEFAULT = (1024, 65535)


class UpdateCommand:
    """``virNetworkUpdateCommand`` (libvirt-network.h)."""

    NONE = 0
    MODIFY = 1
    DELETE = 2
    ADD_LAST = 3
    ADD_FIRST = 4


class UpdateSection:
    """``virNetworkUpdateSection`` (libvirt-network.h) plus our PORT_FORWARD."""

    NONE = 0
    BRIDGE = 1
    DOMAIN = 2
    IP = 3
    IP_DHCP_HOST = 4
    IP_DHCP_RANGE = 5
    FORWARD = 6
    FORWARD_INTERFACE = 7
    FORWARD_PF = 8
    PORTGROUP = 9
    DNS_HOST = 10
    DNS_TXT = 11
    DNS_SRV = 12
    # pyvirt extension: <portForward> inside <forward mode='nat'>
    PORT_FORWARD = 1000


# --------------------------------------------------------------------------
# errors


def _err(code: int, detail: str, domain: int = ErrorDomain.NETWORK) -> VirtError:
    return VirtError(code, domain, detail)


def _xml_err(detail: str) -> VirtError:
    return _err(ErrorNumber.XML_ERROR, detail)


def _detail_err(detail: str) -> VirtError:
    return _err(ErrorNumber.XML_DETAIL, detail)


def _unsupported(detail: str) -> VirtError:
    return _err(ErrorNumber.CONFIG_UNSUPPORTED, detail)


def _op_invalid(detail: str) -> VirtError:
    return _err(ErrorNumber.OPERATION_INVALID, detail)


def _valid_bridge_name(name: str) -> bool:
    """The kernel's ``dev_valid_name``: not empty, not ``.``/``..``, no ``/``, ``:``, space or control."""
    if not name or name in (".", ".."):
        return False
    return not any(ch in "/:" or ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name)


def _check_range_overlap(netname: str, ip: IpDef) -> None:
    """Refuse DHCP ranges of one ``<ip>`` that share addresses (dnsmasq would serve them twice).

    Raises:
        VirtError: XML_ERROR naming both ranges.
    """
    ranges = sorted(ip.dhcp_ranges, key=lambda r: (int(r.start), int(r.end)))
    for i in range(1, len(ranges)):
        prev, cur = ranges[i - 1], ranges[i]
        if int(cur.start) <= int(prev.end):
            raise _xml_err(
                f"DHCP range {cur.start} - {cur.end} overlaps range {prev.start} - {prev.end} "
                f"in network '{netname}'"
            )


def _internal(detail: str) -> VirtError:
    # virsocketaddr.c reports with VIR_FROM_NONE
    return _err(ErrorNumber.INTERNAL_ERROR, detail, ErrorDomain.NONE)


def _parse_addr(text: str, family: int | None = None) -> IPAddress:
    """``virSocketAddrParse``.

    Raises:
        VirtError: SYSTEM_ERROR "Cannot parse socket address ..." like libvirt.
    """
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        addr = None
    if addr is None or (family is not None and addr.version != family):
        raise _err(
            ErrorNumber.SYSTEM_ERROR,
            f"Cannot parse socket address '{text}': Name or service not known",
            ErrorDomain.NONE,
        )
    return addr


def _try_addr(text: str) -> IPAddress | None:
    try:
        return _parse_addr(text)
    except VirtError:
        return None


def _strtoul(text: str) -> int | None:
    value = xmlutil._strtol(text, 10)
    if value is None or value < 0:
        return None
    return value


# --------------------------------------------------------------------------
# the pieces


@dataclass
class Extras:
    """What libvirt does not know about an element: kept for the round trip."""

    attrs: list[tuple[str, str]] = field(default_factory=list)
    children: list[Element] = field(default_factory=list)

    @classmethod
    def collect(
        cls, elem: Element | None, known_attrs: tuple[str, ...], known_children: tuple[str, ...]
    ) -> Extras:
        extras = cls()
        if elem is None:
            return extras
        for key, value in elem.attrib.items():
            if str(key) not in known_attrs:
                extras.attrs.append((str(key), str(value)))
        for child in elem:
            if not isinstance(child.tag, str):
                continue
            if child.tag not in known_children:
                extras.children.append(copy.deepcopy(child))
        return extras

    def apply(self, elem: Element) -> Element:
        for key, value in self.attrs:
            elem.set(key, value)
        for child in self.children:
            elem.append(copy.deepcopy(child))
        return elem


@dataclass
class Lease:
    """``<lease expiry='N' unit='seconds|minutes|hours'/>``; expiry 0 = infinite."""

    expiry: int
    unit: str = "minutes"

    @property
    def seconds(self) -> int:
        """Lease time in seconds; 0 means infinite."""
        return self.expiry * {"seconds": 1, "minutes": 60, "hours": 3600}[self.unit]


@dataclass
class DhcpRange:
    """A ``<range start end>``; unpacks as ``(start, end, lease_seconds)``."""

    start: IPAddress
    end: IPAddress
    lease: Lease | None = None
    extras: Extras = field(default_factory=Extras)

    @property
    def lease_seconds(self) -> int | None:
        """None: dnsmasq's default; 0: infinite; else seconds."""
        return None if self.lease is None else self.lease.seconds

    @property
    def size(self) -> int:
        return int(self.end) - int(self.start) + 1

    def __iter__(self) -> Iterator[Any]:
        return iter((self.start, self.end, self.lease_seconds))

    def __getitem__(self, index: int) -> Any:
        return (self.start, self.end, self.lease_seconds)[index]


@dataclass
class DhcpHost:
    """A static ``<host mac|id name ip>`` of an ``<ip><dhcp>``."""

    mac: str | None = None
    id: str | None = None
    name: str | None = None
    ip: IPAddress | None = None
    lease: Lease | None = None
    extras: Extras = field(default_factory=Extras)

    @property
    def lease_seconds(self) -> int | None:
        return None if self.lease is None else self.lease.seconds


@dataclass
class IpDef:
    """An ``<ip>`` element."""

    address: IPAddress
    prefix: int
    family: str  # "ipv4" | "ipv6" (effective)
    family_attr: str | None = None
    netmask: IPAddress | None = None
    prefix_attr: int | None = None
    local_ptr: bool | None = None
    dhcp_ranges: list[DhcpRange] = field(default_factory=list)
    dhcp_hosts: list[DhcpHost] = field(default_factory=list)
    bootp_file: str | None = None
    bootp_server: IPAddress | None = None
    tftp_root: str | None = None
    extras: Extras = field(default_factory=Extras)
    dhcp_extras: Extras = field(default_factory=Extras)

    @property
    def network(self) -> IPNetwork:
        """The subnet (``ipaddress`` network, host bits cleared)."""
        return ipaddress.ip_network(f"{self.address}/{self.prefix}", strict=False)

    @property
    def has_dhcp(self) -> bool:
        return bool(self.dhcp_ranges or self.dhcp_hosts)

    @property
    def netmask_effective(self) -> IPAddress:
        return self.network.netmask


@dataclass
class DnsForwarder:
    addr: IPAddress | None = None
    domain: str | None = None
    extras: Extras = field(default_factory=Extras)


@dataclass
class DnsTxt:
    name: str
    value: str | None = None
    extras: Extras = field(default_factory=Extras)


@dataclass
class DnsSrv:
    service: str | None = None
    protocol: str | None = None
    domain: str | None = None
    target: str | None = None
    port: int = 0
    priority: int = 0
    weight: int = 0
    extras: Extras = field(default_factory=Extras)


@dataclass
class DnsHost:
    ip: IPAddress | None
    hostnames: list[str] = field(default_factory=list)
    extras: Extras = field(default_factory=Extras)


@dataclass
class DnsDef:
    """``<dns>``; ``enable`` / ``forward_plain_names`` are None when absent."""

    enable: bool | None = None
    forward_plain_names: bool | None = None
    forwarders: list[DnsForwarder] = field(default_factory=list)
    txts: list[DnsTxt] = field(default_factory=list)
    srvs: list[DnsSrv] = field(default_factory=list)
    hosts: list[DnsHost] = field(default_factory=list)
    extras: Extras = field(default_factory=Extras)

    @property
    def enabled(self) -> bool:
        return self.enable is not False


@dataclass
class RouteDef:
    """A static ``<route>`` (networkcommon)."""

    address: IPAddress
    gateway: IPAddress
    family: str | None = None
    netmask: IPAddress | None = None
    prefix_attr: int | None = None
    metric: int | None = None
    extras: Extras = field(default_factory=Extras)

    @property
    def prefix(self) -> int:
        if self.prefix_attr is not None:
            return self.prefix_attr
        if self.netmask is not None:
            return _netmask_bits(self.netmask)
        return _natural_prefix(self.address)

    @property
    def network(self) -> IPNetwork:
        return ipaddress.ip_network(f"{self.address}/{self.prefix}", strict=False)


@dataclass
class PortForward:
    """Our ``<portForward proto port [portEnd] to [toPort] [address]/>`` (DNAT)."""

    proto: str
    port: int
    to: ipaddress.IPv4Address
    port_end: int | None = None
    to_port: int | None = None
    address: ipaddress.IPv4Address | None = None
    extras: Extras = field(default_factory=Extras)

    @property
    def ports(self) -> tuple[int, int]:
        """Host port range (inclusive)."""
        return (self.port, self.port_end if self.port_end is not None else self.port)

    @property
    def to_ports(self) -> tuple[int, int]:
        """Guest port range (inclusive), same length as :attr:`ports`."""
        start = self.to_port if self.to_port is not None else self.port
        return (start, start + self.ports[1] - self.ports[0])

    def matches(self, other: PortForward) -> bool:
        """Same rule identity: protocol, host address and host port range."""
        return self.proto == other.proto and self.address == other.address and self.ports == other.ports

    def overlaps(self, other: PortForward) -> bool:
        if self.proto != other.proto:
            return False
        if self.address is not None and other.address is not None and self.address != other.address:
            return False
        a, b = self.ports
        c, d = other.ports
        return a <= d and c <= b


def _netmask_bits(mask: IPAddress) -> int:
    value = int(mask)
    width = mask.max_prefixlen
    bits = bin(value).count("1")
    if value != ((1 << width) - 1) ^ ((1 << (width - bits)) - 1):
        return -1
    return bits


def _natural_prefix(addr: IPAddress) -> int:
    if addr.version == 6:
        return 0 if int(addr) == 0 else 64
    if int(addr) == 0:
        return 0
    octet = int(addr) >> 24
    if octet & 0x80 == 0:
        return 8
    if octet & 0xC0 == 0x80:
        return 16
    if octet & 0xE0 == 0xC0:
        return 24
    return -1


def _nullstr(value: object) -> str:
    """What glibc's printf prints for a C string that may be NULL."""
    return "(null)" if value is None else str(value)


def _fam(addr: IPAddress) -> str:
    return "ipv4" if addr.version == 4 else "ipv6"


# --------------------------------------------------------------------------
# parsing helpers


def _text(elem: Element | None) -> str | None:
    """XPath ``string()``: all the text of the element, None if empty."""
    if elem is None:
        return None
    value = "".join(str(t) for t in elem.itertext())
    return value or None


def _children(elem: Element | None, tag: str) -> list[Element]:
    if elem is None:
        return []
    return [c for c in elem if c.tag == tag]


def _child(elem: Element | None, tag: str) -> Element | None:
    kids = _children(elem, tag)
    return kids[0] if kids else None


def _yes_no(elem: Element | None, name: str) -> bool | None:
    return xmlutil.prop_yes_no(elem, name)


def _parse_lease(node: Element | None) -> Lease | None:
    if node is None:
        return None
    expiry = xmlutil.prop_uint(node, "expiry", bits=64)
    if expiry is None:
        return None
    unit = xmlutil.prop_enum(node, "unit", ("seconds", "minutes", "hours"), default="minutes")
    assert unit is not None
    if expiry > 0 and ((unit == "seconds" and expiry < 120) or (unit == "minutes" and expiry < 2)):
        raise _unsupported("The minimum lease time should be greater than 2 minutes")
    return Lease(expiry, unit)


def _check_range(start: IPAddress, end: IPAddress, network: IPAddress | None = None, prefix: int = 0) -> int:
    """``virSocketAddrGetRange``: validate and return the size of the range.

    Raises:
        VirtError: INTERNAL_ERROR with libvirt's messages.
    """
    s, e = str(start), str(end)
    if start.version != end.version:
        raise _internal(f"mismatch of address family in range {s} - {e}")
    if network is not None:
        n = str(network)
        if start.version != network.version:
            raise _internal(f"mismatch of address family in range {s} - {e} for network {n}")
        if prefix < 0 or prefix > network.max_prefixlen:
            raise _internal(f"bad prefix {prefix} for network {n} when checking range {s} - {e}")
        subnet = ipaddress.ip_network(f"{network}/{prefix}", strict=False)
        if start not in subnet or end not in subnet:
            raise _internal(f"range {s} - {e} is not entirely within network {n}/{prefix}")
        if start.version == 4:
            if start == subnet.network_address:
                raise _internal(f"start of range {s} - {e} in network {n}/{prefix} is the network address")
            if end == subnet.broadcast_address:
                raise _internal(f"end of range {s} - {e} in network {n}/{prefix} is the broadcast address")
    a, b = start.packed, end.packed
    if start.version == 4:
        if a[:2] != b[:2]:
            raise _internal(f"range {s} - {e} is too large (> 65535)")
        size = (b[2] - a[2]) * 256 + (b[3] - a[3])
        if size < 0:
            raise _internal(f"range {s} - {e} is reversed ")
    else:
        if a[:14] != b[:14]:
            raise _internal(f"range {s} - {e} is too large (> 65535)")
        size = int.from_bytes(b[14:], "big") - int.from_bytes(a[14:], "big")
        if size < 0:
            raise _internal(f"range {s} - {e} start larger than end")
    return size + 1


_SERVICE_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+/*")
_PROTOCOL_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-+/")
DNS_RECORD_LENGTH_SRV = 512 - 30  # libvirt: DNS_RECORD_LENGTH_SRV


def _parse_dhcp_host(netname: str, ip: IpDef, node: Element, partial: bool) -> DhcpHost:
    mac = xmlutil.prop(node, "mac")
    if mac is not None:
        if ip.family == "ipv6":
            raise _xml_err(
                f"Invalid to specify MAC address '{mac}' in network '{netname}' IPv6 static host definition"
            )
        try:
            parsed = xmlutil.parse_mac(mac)
        except ValueError as err:
            raise _xml_err(f"Cannot parse MAC address '{mac}' in network '{netname}'") from err
        if xmlutil.is_multicast_mac(parsed):
            raise _xml_err(f"expected unicast mac address, found multicast '{mac}' in network '{netname}'")
    hid = xmlutil.prop(node, "id")
    if hid is not None:
        bad = [c for c in hid if c not in "0123456789abcdefABCDEF:"]
        if bad:
            raise _xml_err(f"Invalid character '{bad[0]}' in id '{hid}' of network '{netname}'")
    name = xmlutil.prop(node, "name")
    if name is not None and not (name[:1].isascii() and name[:1].isalnum()):
        raise _xml_err(f"Cannot use host name '{name}' in network '{netname}'")
    ipstr = xmlutil.prop(node, "ip")
    addr = None
    if ipstr is not None:
        addr = _try_addr(ipstr)
        if addr is None:
            raise _xml_err(f"Invalid IP address in static host definition for network '{netname}'")
    if partial:
        if not (mac or name or ipstr):
            raise _xml_err(
                "At least one of name, mac, or ip attribute must be specified for static host "
                f"definition in network '{netname}'"
            )
    else:
        if ip.family == "ipv6":
            if not (hid or name):
                raise _xml_err(
                    f"Static host definition in IPv6 network '{netname}' must have id or name attribute"
                )
        elif not (mac or name):
            raise _xml_err(
                f"Static host definition in IPv4 network '{netname}' must have mac or name attribute"
            )
        if ipstr is None:
            raise _xml_err(f"Missing IP address in static host definition for network '{netname}'")
    lease = _parse_lease(_child(node, "lease"))
    return DhcpHost(
        mac=mac,
        id=hid,
        name=name,
        ip=addr,
        lease=lease,
        extras=Extras.collect(node, ("mac", "id", "name", "ip"), ("lease",)),
    )


def _parse_dhcp_range(netname: str, ip: IpDef, node: Element) -> DhcpRange:
    start = xmlutil.prop(node, "start")
    if start is None:
        raise _xml_err(f"Missing 'start' attribute in dhcp range for network '{netname}'")
    saddr = _parse_addr(start)
    end = xmlutil.prop(node, "end")
    if end is None:
        raise _xml_err(f"Missing 'end' attribute in dhcp range for network '{netname}'")
    eaddr = _parse_addr(end)
    _check_range(saddr, eaddr, ip.address, ip.prefix)
    lease = _parse_lease(_child(node, "lease"))
    return DhcpRange(saddr, eaddr, lease, Extras.collect(node, ("start", "end"), ("lease",)))


def _parse_ip(netname: str, node: Element) -> IpDef:
    family = xmlutil.prop(node, "family")
    address = xmlutil.prop(node, "address")
    if not address:
        raise _xml_err(f"Missing required address attribute in network '{netname}'")
    addr = _try_addr(address)
    if addr is None:
        raise _xml_err(f"Invalid address '{address}' in network '{netname}'")
    netmask_s = xmlutil.prop(node, "netmask")
    netmask = None
    if netmask_s:
        netmask = _try_addr(netmask_s)
        if netmask is None:
            raise _xml_err(f"Invalid netmask '{netmask_s}' in network '{netname}'")
    prefix_attr = xmlutil.prop_uint(node, "prefix")
    local_ptr = _yes_no(node, "localPtr")
    if family is None or family == "ipv4":
        if addr.version != 4:
            raise _unsupported(
                f"{'no' if family is None else 'ipv4'} family specified for non-IPv4 address "
                f"'{address}' in network '{netname}'"
            )
        if netmask is not None:
            if netmask.version != 4:
                raise _unsupported(
                    f"Invalid netmask '{netmask_s}' for address '{address}' in network '{netname}' "
                    "(both must be IPv4)"
                )
            if prefix_attr:
                raise _unsupported(f"Network '{netname}' IP address cannot have both a prefix and a netmask")
        elif prefix_attr is not None and prefix_attr > 32:
            raise _unsupported(f"Invalid IPv4 prefix '{prefix_attr}' in network '{netname}'")
    elif family == "ipv6":
        if addr.version != 6:
            raise _unsupported(
                f"Family 'ipv6' specified for non-IPv6 address '{address}' in network '{netname}'"
            )
        if netmask is not None:
            raise _unsupported(f"netmask not allowed for IPv6 address '{address}' in network '{netname}'")
        if prefix_attr is not None and prefix_attr > 128:
            raise _unsupported(f"Invalid IPv6 prefix '{prefix_attr}' in network '{netname}'")
    else:
        raise _xml_err(f"Unrecognized family '{family}' in network '{netname}'")

    if prefix_attr:
        prefix = prefix_attr
    elif netmask is not None:
        prefix = _netmask_bits(netmask)
        if prefix < 0:
            raise _xml_err(f"Invalid netmask '{netmask_s}' in network '{netname}'")
    else:
        prefix = _natural_prefix(addr)
        if prefix < 0:
            raise _xml_err(f"Invalid address '{address}' in network '{netname}'")

    ip = IpDef(
        address=addr,
        prefix=prefix,
        family=_fam(addr),
        family_attr=family,
        netmask=netmask,
        prefix_attr=prefix_attr,
        local_ptr=local_ptr,
        extras=Extras.collect(node, ("family", "address", "netmask", "prefix", "localPtr"), ("dhcp", "tftp")),
    )
    dhcp = _child(node, "dhcp")
    if dhcp is not None:
        ip.dhcp_extras = Extras.collect(dhcp, (), ("range", "host", "bootp"))
        for rnode in _children(dhcp, "range"):
            ip.dhcp_ranges.append(_parse_dhcp_range(netname, ip, rnode))
        for hnode in _children(dhcp, "host"):
            ip.dhcp_hosts.append(_parse_dhcp_host(netname, ip, hnode, False))
        bootp = _child(dhcp, "bootp")
        if bootp is not None and addr.version == 4:
            ip.bootp_file = xmlutil.prop_required(bootp, "file")
            server = xmlutil.prop(bootp, "server")
            if server is not None:
                ip.bootp_server = _parse_addr(server)
    tftp = _child(node, "tftp")
    if tftp is not None:
        if addr.version != 4:
            raise _unsupported(f"Unsupported <tftp> element in an IPv6 element in network '{netname}'")
        ip.tftp_root = xmlutil.prop(tftp, "root") or None
    return ip


def _parse_dns_host(netname: str, node: Element, partial: bool) -> DnsHost:
    names: list[str] = []
    hostname_nodes = _children(node, "hostname")
    for hn in hostname_nodes:
        value = "".join(str(t) for t in hn.itertext())
        if not value:
            raise _detail_err(f"Missing hostname in network '{netname}' DNS HOST record")
        names.append(value)
    if not hostname_nodes and not partial:
        raise _detail_err(f"Missing hostname in network '{netname}' DNS HOST record")
    ipstr = xmlutil.prop(node, "ip")
    addr = None
    if ipstr is not None:
        addr = _try_addr(ipstr)
        if addr is None:
            raise _detail_err(f"Invalid IP address in network '{netname}' DNS HOST record")
    else:
        if not partial:
            raise _detail_err(f"Missing IP address in network '{netname}' DNS HOST record")
        if not hostname_nodes:
            raise _detail_err(f"Missing ip and hostname in network '{netname}' DNS HOST record")
    return DnsHost(addr, names, Extras.collect(node, ("ip",), ("hostname",)))


def _srv_uint(node: Element, attr: str) -> tuple[int, bool, bool]:
    """(value, present, malformed) like virXPathUInt."""
    value = xmlutil.prop(node, attr)
    if value is None or value == "":
        return 0, False, False
    n = _strtoul(value)
    if n is None or n >= 2**32:
        return 0, True, True
    return n, True, False


def _parse_dns_srv(netname: str, node: Element, partial: bool) -> DnsSrv:
    service = xmlutil.prop(node, "service")
    if service is None and not partial:
        raise _detail_err(f"missing required service attribute in DNS SRV record of network '{netname}'")
    if service is not None:
        if len(service) > DNS_RECORD_LENGTH_SRV:
            raise _detail_err(
                f"service attribute '{service}' in network '{netname}' is too long, "
                f"limit is {DNS_RECORD_LENGTH_SRV} bytes"
            )
        if any(c not in _SERVICE_CHARS for c in service):
            raise _detail_err(
                f"invalid character in service attribute '{service}' in DNS SRV record of network '{netname}'"
            )
    protocol = xmlutil.prop(node, "protocol")
    if protocol is None and not partial:
        raise _detail_err(
            f"missing required protocol attribute in DNS SRV record '{service}' of network '{netname}'"
        )
    if protocol is not None and any(c not in _PROTOCOL_CHARS for c in protocol):
        raise _detail_err(
            f"invalid character in protocol attribute '{protocol}' in DNS SRV record of network '{netname}'"
        )
    srv = DnsSrv(
        service=service,
        protocol=protocol,
        domain=xmlutil.prop(node, "domain"),
        target=xmlutil.prop(node, "target"),
        extras=Extras.collect(
            node, ("service", "protocol", "domain", "target", "port", "priority", "weight"), ()
        ),
    )
    for attr, limit_low, label in (
        ("port", 1, "invalid"),
        ("priority", 0, "Invalid"),
        ("weight", 0, "invalid"),
    ):
        value, present, bad = _srv_uint(node, attr)
        if present and not bad and not srv.target:
            raise _detail_err(
                f"DNS SRV {attr} attribute not permitted without target for service '{service}' "
                f"in network '{netname}'"
            )
        if bad or (present and (value < limit_low or value > 65535)):
            raise _detail_err(
                f"{label} DNS SRV {attr} attribute for service '{service}' in network '{netname}'"
            )
        setattr(srv, attr, value)
    return srv


def _parse_dns_txt(netname: str, node: Element, partial: bool) -> DnsTxt:
    name = xmlutil.prop(node, "name")
    if name is None:
        raise _detail_err(f"missing required name attribute in DNS TXT record of network {netname}")
    if " " in name or "," in name:
        raise _detail_err(f"prohibited character in DNS TXT record name '{name}' of network {netname}")
    value = xmlutil.prop(node, "value")
    if value is None and not partial:
        raise _detail_err(
            f"missing required value attribute in DNS TXT record named '{name}' of network {netname}"
        )
    return DnsTxt(name, value, Extras.collect(node, ("name", "value"), ()))


def _parse_dns(netname: str, node: Element) -> DnsDef:
    dns = DnsDef(
        enable=_yes_no(node, "enable"),
        forward_plain_names=_yes_no(node, "forwardPlainNames"),
        extras=Extras.collect(node, ("enable", "forwardPlainNames"), ("forwarder", "host", "srv", "txt")),
    )
    for fnode in _children(node, "forwarder"):
        addr_s = xmlutil.prop(fnode, "addr")
        addr = None
        if addr_s is not None:
            addr = _try_addr(addr_s)
            if addr is None:
                raise _xml_err(f"Invalid forwarder IP address '{addr_s}' in network '{netname}'")
        domain = xmlutil.prop(fnode, "domain")
        if addr_s is None and domain is None:
            raise _xml_err("Invalid forwarder element, must contain at least one of addr or domain")
        dns.forwarders.append(DnsForwarder(addr, domain, Extras.collect(fnode, ("addr", "domain"), ())))
    for hnode in _children(node, "host"):
        dns.hosts.append(_parse_dns_host(netname, hnode, False))
    for snode in _children(node, "srv"):
        dns.srvs.append(_parse_dns_srv(netname, snode, False))
    for tnode in _children(node, "txt"):
        dns.txts.append(_parse_dns_txt(netname, tnode, False))
    if dns.enable is False and (dns.forwarders or dns.hosts or dns.srvs or dns.txts):
        raise _xml_err(f"Extra data in disabled network '{netname}'")
    return dns


def _parse_route(netname: str, node: Element) -> RouteDef:
    family = xmlutil.prop(node, "family")
    address_s = xmlutil.prop(node, "address")
    gateway_s = xmlutil.prop(node, "gateway")
    if address_s is None:
        raise _xml_err(f"Missing required address attribute in route definition in network '{netname}'")
    if gateway_s is None:
        raise _xml_err(f"Missing required gateway attribute in route definition in network '{netname}'")
    address = _try_addr(address_s)
    if address is None:
        raise _xml_err(f"Bad network address '{address_s}' in route definition in network '{netname}'")
    gateway = _try_addr(gateway_s)
    if gateway is None:
        raise _xml_err(f"Bad gateway address '{gateway_s}' in route definition in network '{netname}'")
    netmask_s = xmlutil.prop(node, "netmask")
    netmask = None
    if netmask_s is not None:
        netmask = _try_addr(netmask_s)
        if netmask is None:
            raise _xml_err(f"Bad netmask address '{netmask_s}' in route definition in network '{netname}'")
    prefix = xmlutil.prop_uint(node, "prefix")
    metric = xmlutil.prop_uint(node, "metric")
    if family == "ipv6" or (family is None and address.version == 6):
        if address.version != 6 or gateway.version != 6:
            raise _xml_err(
                f"Invalid route address or gateway in network '{netname}': "
                "both must be IPv6 for family 'ipv6'"
            )
        if netmask is not None:
            raise _xml_err(f"Netmask not supported with IPv6 route in network '{netname}'")
        if prefix is not None and prefix > 128:
            raise _xml_err(f"Invalid prefix {prefix} specified in route definition in network '{netname}'")
    elif family in (None, "ipv4"):
        if address.version != 4 or gateway.version != 4 or (netmask is not None and netmask.version != 4):
            raise _xml_err(
                f"Invalid route address, gateway or netmask in network '{netname}': all must be IPv4"
            )
        if prefix is not None and prefix > 32:
            raise _xml_err(f"Invalid prefix {prefix} specified in route definition in network '{netname}'")
    else:
        raise _xml_err(f"Unrecognized family '{family}' in route definition in network '{netname}'")
    return RouteDef(
        address=address,
        gateway=gateway,
        family=family,
        netmask=netmask,
        prefix_attr=prefix,
        metric=metric,
        extras=Extras.collect(node, ("family", "address", "netmask", "prefix", "gateway", "metric"), ()),
    )


def _port_number(node: Element, attr: str, netname: str, *, required: bool) -> int | None:
    value = xmlutil.prop(node, attr)
    if value is None:
        if required:
            raise _xml_err(f"Missing required attribute '{attr}' in <portForward> of network '{netname}'")
        return None
    n = _strtoul(value)
    if n is None or not 1 <= n <= 65535:
        raise _xml_err(f"Invalid {attr} '{value}' in <portForward> of network '{netname}': expected 1-65535")
    return n


def _parse_port_forward(netname: str, node: Element) -> PortForward:
    proto = xmlutil.prop(node, "proto")
    if proto is None:
        raise _xml_err(f"Missing required attribute 'proto' in <portForward> of network '{netname}'")
    if proto not in ("tcp", "udp"):
        raise _xml_err(
            f"Invalid proto '{proto}' in <portForward> of network '{netname}': expected tcp or udp"
        )
    port = _port_number(node, "port", netname, required=True)
    port_end = _port_number(node, "portEnd", netname, required=False)
    to_port = _port_number(node, "toPort", netname, required=False)
    assert port is not None
    to_s = xmlutil.prop(node, "to")
    if to_s is None:
        raise _xml_err(f"Missing required attribute 'to' in <portForward> of network '{netname}'")
    to = _try_addr(to_s)
    if not isinstance(to, ipaddress.IPv4Address):
        raise _xml_err(f"Invalid IPv4 address to='{to_s}' in <portForward> of network '{netname}'")
    address = None
    address_s = xmlutil.prop(node, "address")
    if address_s is not None:
        parsed = _try_addr(address_s)
        if not isinstance(parsed, ipaddress.IPv4Address):
            raise _xml_err(
                f"Invalid IPv4 address address='{address_s}' in <portForward> of network '{netname}'"
            )
        address = parsed
    if port_end is not None and port_end < port:
        raise _xml_err(
            f"Invalid port range {port}-{port_end} in <portForward> of network '{netname}': "
            "portEnd is below port"
        )
    pf = PortForward(
        proto=proto,
        port=port,
        to=to,
        port_end=port_end,
        to_port=to_port,
        address=address,
        extras=Extras.collect(node, ("proto", "address", "port", "portEnd", "to", "toPort"), ()),
    )
    if pf.to_ports[1] > 65535:
        raise _xml_err(
            f"Invalid port range in <portForward> of network '{netname}': target ports "
            f"{pf.to_ports[0]}-{pf.to_ports[1]} exceed 65535"
        )
    return pf


# --------------------------------------------------------------------------
# NetworkDef

# libvirt's order of the top-level elements (virNetworkDefFormatBuf)
_TOP_ORDER = (
    "name",
    "uuid",
    "title",
    "description",
    "metadata",
    "forward",
    "bridge",
    "mtu",
    "mac",
    "domain",
    "dns",
    "vlan",
    "bandwidth",
    "port",
    "ip",
    "route",
    "virtualport",
    "portgroup",
)
_OPAQUE_TOP = ("vlan", "bandwidth", "port", "virtualport", "portgroup")
_FORWARD_KNOWN_CHILDREN = ("driver", "nat", "pf", "interface", "address", "portForward")


@dataclass
class NetworkDef:
    """A parsed network definition; see the module docstring.

    Plain attributes are the fields the drivers use; the ``*_extras`` and
    ``_unknown`` hold what libvirt does not know, for the round trip.
    """

    name: str
    uuid: str
    title: str | None = None
    description: str | None = None
    metadata: Element | None = None
    connections: int = 0
    ipv6: bool = False
    trust_guest_rx_filters: bool | None = None
    forward_mode: str = "none"
    forward_dev: str | None = None
    forward_interfaces: list[str] = field(default_factory=list)
    forward_pf: str | None = None
    forward_managed: bool = False
    forward_driver: str | None = None
    forward_addresses: list[Element] = field(default_factory=list)
    nat_address: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address] | None = None
    nat_port: tuple[int, int] | None = None
    nat_ipv6: bool | None = None
    port_forwards: list[PortForward] = field(default_factory=list)
    bridge: str | None = None
    bridge_zone: str | None = None
    stp: bool = True
    delay: int = 0
    mac_table_manager: str | None = None
    mac: str | None = None
    mtu: int | None = None
    domain_name: str | None = None
    domain_local_only: bool | None = None
    dns: DnsDef = field(default_factory=DnsDef)
    ips: list[IpDef] = field(default_factory=list)
    routes: list[RouteDef] = field(default_factory=list)
    dnsmasq_options: list[str] = field(default_factory=list)
    opaque: dict[str, list[Element]] = field(default_factory=dict)
    root_extras: Extras = field(default_factory=Extras)
    forward_extras: Extras = field(default_factory=Extras)
    nat_extras: Extras = field(default_factory=Extras)
    bridge_extras: Extras = field(default_factory=Extras)
    # unknown top-level elements, with the known element they followed
    unknown: list[tuple[str | None, Element]] = field(default_factory=list)
    stp_specified: bool = False

    # ----- derived values the drivers use

    @property
    def is_virtual(self) -> bool:
        """True for the modes where libvirt manages a bridge (none/nat/route/open)."""
        return self.forward_mode in VIRTUAL_MODES

    @property
    def nat_port_effective(self) -> tuple[int, int] | None:
        """The SNAT source-port range in use: the configured one or 1024-65535 (nat only)."""
        if self.forward_mode != "nat":
            return None
        return self.nat_port or NAT_PORT_DEFAULT

    def ipv4(self) -> list[IpDef]:
        return [ip for ip in self.ips if ip.family == "ipv4"]

    def ipv6_ips(self) -> list[IpDef]:
        return [ip for ip in self.ips if ip.family == "ipv6"]

    def dhcp_ip(self, family: str = "ipv4") -> IpDef | None:
        """The (only) ``<ip>`` of ``family`` that has DHCP, if any."""
        for ip in self.ips:
            if ip.family == family and ip.has_dhcp:
                return ip
        return None

    # ----- mutators

    def set_bridge(self, name: str | None) -> None:
        """Set the bridge device name (the driver picks ``virbrN``)."""
        self.bridge = name

    def set_connections(self, n: int) -> None:
        """Set the live count of attached interfaces (printed only in the live XML when > 0)."""
        self.connections = max(int(n), 0)

    def copy(self) -> NetworkDef:
        """A deep, independent copy."""
        return copy.deepcopy(self)

    # ----- validation (networkValidate + our checks)

    def validate(self) -> None:
        """Run the define-time checks of libvirt's ``networkValidate`` and ours.

        Raises:
            VirtError: XML_DETAIL (bad character in name), CONFIG_UNSUPPORTED
                (elements not allowed with the forward mode, several DHCP
                sections of one family, ...), XML_ERROR (bridge name too long,
                duplicate static hosts, port forward problems).
        """
        if "\n" in self.name:
            raise VirtError(ErrorNumber.XML_DETAIL, ErrorDomain.XML, "invalid char in name: 0x0a")
        mode = self.forward_mode
        if self.bridge is not None and not _valid_bridge_name(self.bridge):
            # The name becomes a netdev and part of file names (BRIDGE.status):
            # what the kernel refuses (dev_valid_name) could also escape the root.
            raise _xml_err(f"Invalid bridge name '{self.bridge}' in network '{self.name}'")
        if mode in VIRTUAL_MODES:
            if self.bridge and "%d" not in self.bridge and len(self.bridge) > BRIDGE_NAME_MAX:
                raise _xml_err(
                    f"bridge name '{self.bridge}' in network '{self.name}' is too long "
                    f"(maximum {BRIDGE_NAME_MAX} characters)"
                )
            if self.mac is None:
                self.mac = xmlutil.generate_mac()
        else:
            if self.mac is not None:
                raise _unsupported(
                    f"Unsupported <mac> element in network {self.name} with forward mode='{mode}'"
                )
            if self.ips:
                raise _unsupported(
                    f"Unsupported <ip> element in network {self.name} with forward mode='{mode}'"
                )
            if self.dns.txts or self.dns.hosts or self.dns.srvs:
                raise _unsupported(
                    f"Unsupported <dns> element in network {self.name} with forward mode='{mode}'"
                )
            if self.domain_name:
                raise _unsupported(
                    f"Unsupported <domain> element in network {self.name} with forward mode='{mode}'"
                )
        if self.opaque.get("bandwidth") and not (mode in VIRTUAL_MODES or (mode == "bridge" and self.bridge)):
            raise _unsupported(
                f"Unsupported network-wide <bandwidth> element in network {self.name} "
                f"with forward mode='{mode}'"
            )
        seen: set[str] = set()
        for ip in self.ips:
            if ip.has_dhcp:
                if ip.family in seen:
                    fam = "IPv4" if ip.family == "ipv4" else "IPv6"
                    raise _unsupported(
                        f"Multiple {fam} dhcp sections found -- dhcp is supported only for a single "
                        f"{fam} address on each network"
                    )
                seen.add(ip.family)
        for ip in self.ips:
            _check_range_overlap(self.name, ip)
            self._validate_hosts(ip)
        self._validate_port_forwards(self.port_forwards)

    def _validate_hosts(self, ip: IpDef) -> None:
        macs: set[str] = set()
        addrs: set[IPAddress] = set()
        for host in ip.dhcp_hosts:
            desc = (
                f"\"<host mac='{host.mac or 'unknown'}' name='{_nullstr(host.name)}' "
                f"ip='{host.ip or 'unknown'}'/>\""
            )
            if host.ip is not None and host.ip not in ip.network:
                raise _xml_err(
                    f"IP address '{host.ip}' of dhcp host entry in network '{self.name}' is not within "
                    f"network {ip.address}/{ip.prefix}"
                )
            if host.mac is not None:
                mac = xmlutil.parse_mac(host.mac)
                if mac in macs:
                    raise _xml_err(f"duplicate dhcp host entry in network '{self.name}' that matches {desc}")
                macs.add(mac)
            if host.ip is not None:
                if host.ip in addrs:
                    raise _xml_err(f"duplicate dhcp host entry in network '{self.name}' that matches {desc}")
                addrs.add(host.ip)

    def _validate_port_forwards(self, rules: list[PortForward]) -> None:
        if not rules:
            return
        if self.forward_mode != "nat":
            raise _unsupported(
                f"<portForward> is only supported in networks with forward mode='nat' (network '{self.name}')"
            )
        subnets = [ip.network for ip in self.ips if ip.family == "ipv4"]
        for i, rule in enumerate(rules):
            if not any(rule.to in net for net in subnets):
                raise _unsupported(
                    f"portForward target '{rule.to}' is not within an IPv4 subnet of network '{self.name}'"
                )
            for other in rules[:i]:
                if rule.overlaps(other):
                    raise _unsupported(
                        f"portForward {rule.proto} port {rule.ports[0]}-{rule.ports[1]} overlaps another "
                        f"portForward in network '{self.name}'"
                    )

    # ----- formatting

    def to_element(self, inactive: bool = False) -> Element:
        """Build the XML tree in libvirt's shape (see :meth:`format`)."""
        nsmap: dict[str | None, str] = {}
        if self.dnsmasq_options:
            nsmap["dnsmasq"] = DNSMASQ_NS
        root = etree.Element("network", nsmap=nsmap)  # type: ignore[arg-type]
        if not inactive and self.connections > 0:
            root.set("connections", str(self.connections))
        if self.ipv6:
            root.set("ipv6", "yes")
        if self.trust_guest_rx_filters is not None:
            root.set("trustGuestRxFilters", "yes" if self.trust_guest_rx_filters else "no")
        for key, value in self.root_extras.attrs:
            root.set(key, value)

        emitted: set[str | None] = set()

        def unknown_after(anchor: str | None) -> None:
            emitted.add(anchor)
            for a, elem in self.unknown:
                if a == anchor:
                    root.append(copy.deepcopy(elem))

        def sub(parent: Element, tag: str, attrs: list[tuple[str, str | None]] | None = None) -> Element:
            elem = etree.SubElement(parent, tag)
            for key, value in attrs or []:
                if value is not None:
                    elem.set(key, value)
            return elem

        unknown_after(None)
        sub(root, "name").text = self.name
        unknown_after("name")
        sub(root, "uuid").text = self.uuid
        unknown_after("uuid")
        if self.title is not None:
            sub(root, "title").text = self.title
            unknown_after("title")
        if self.description is not None:
            sub(root, "description").text = self.description
            unknown_after("description")
        if self.metadata is not None:
            root.append(copy.deepcopy(self.metadata))
            unknown_after("metadata")
        if self.forward_mode != "none":
            self._format_forward(root, inactive)
            unknown_after("forward")
        if self.is_virtual or self.bridge or self.mac_table_manager:
            br = sub(root, "bridge", [("name", self.bridge), ("zone", self.bridge_zone)])
            if self.is_virtual:
                br.set("stp", "on" if self.stp else "off")
                br.set("delay", str(self.delay))
            if self.mac_table_manager:
                br.set("macTableManager", self.mac_table_manager)
            self.bridge_extras.apply(br)
            unknown_after("bridge")
        if self.mtu:
            sub(root, "mtu", [("size", str(self.mtu))])
            unknown_after("mtu")
        if self.mac is not None:
            sub(root, "mac", [("address", self.mac)])
            unknown_after("mac")
        if self.domain_name is not None:
            dom = sub(root, "domain", [("name", self.domain_name)])
            if self.domain_local_only is not None:
                dom.set("localOnly", "yes" if self.domain_local_only else "no")
            unknown_after("domain")
        if self._format_dns(root):
            unknown_after("dns")
        for tag in ("vlan", "bandwidth", "port"):
            for elem in self.opaque.get(tag, []):
                root.append(copy.deepcopy(elem))
            if self.opaque.get(tag):
                unknown_after(tag)
        for ip in self.ips:
            self._format_ip(root, ip)
        if self.ips:
            unknown_after("ip")
        for route in self.routes:
            r = sub(
                root,
                "route",
                [
                    ("family", route.family),
                    ("address", str(route.address)),
                    ("netmask", str(route.netmask) if route.netmask is not None else None),
                    ("prefix", str(route.prefix_attr) if route.prefix_attr is not None else None),
                    ("gateway", str(route.gateway)),
                    ("metric", str(route.metric) if route.metric else None),
                ],
            )
            route.extras.apply(r)
        if self.routes:
            unknown_after("route")
        for tag in ("virtualport", "portgroup"):
            for elem in self.opaque.get(tag, []):
                root.append(copy.deepcopy(elem))
            if self.opaque.get(tag):
                unknown_after(tag)
        # unknown elements whose anchor was not printed go last
        for anchor, elem in self.unknown:
            if anchor not in emitted:
                root.append(copy.deepcopy(elem))
        if self.dnsmasq_options:
            opts = etree.SubElement(root, f"{{{DNSMASQ_NS}}}options")
            for value in self.dnsmasq_options:
                etree.SubElement(opts, f"{{{DNSMASQ_NS}}}option").set("value", value)
        return root

    def format(self, inactive: bool = False) -> str:
        """The network XML as libvirt prints it.

        ``inactive=False`` (live) adds ``connections='N'`` when N > 0 and the
        NAT source-port default ``<port start='1024' end='65535'/>``.
        Raises nothing.
        """
        return xmlutil.format_xml(self.to_element(inactive), open_close=("ip",))

    def _format_forward(self, root: Element, inactive: bool) -> None:
        fwd = etree.SubElement(root, "forward")
        dev = None
        if not self.forward_pf:
            dev = self.forward_dev or (self.forward_interfaces[0] if self.forward_interfaces else None)
        if dev is not None:
            fwd.set("dev", dev)
        fwd.set("mode", self.forward_mode)
        if self.forward_mode == "hostdev":
            fwd.set("managed", "yes" if self.forward_managed else "no")
        for key, value in self.forward_extras.attrs:
            fwd.set(key, value)
        if self.forward_driver:
            etree.SubElement(fwd, "driver").set("name", self.forward_driver)
        if self.forward_mode == "nat":
            port = self.nat_port
            if port is None and not inactive:
                port = NAT_PORT_DEFAULT
            if self.nat_address or port or self.nat_ipv6 is not None or self.nat_extras.children:
                nat = etree.SubElement(fwd, "nat")
                if self.nat_ipv6 is not None:
                    nat.set("ipv6", "yes" if self.nat_ipv6 else "no")
                for key, value in self.nat_extras.attrs:
                    nat.set(key, value)
                if self.nat_address:
                    a = etree.SubElement(nat, "address")
                    a.set("start", str(self.nat_address[0]))
                    a.set("end", str(self.nat_address[1]))
                if port:
                    p = etree.SubElement(nat, "port")
                    p.set("start", str(port[0]))
                    if port[1]:
                        p.set("end", str(port[1]))
                for child in self.nat_extras.children:
                    nat.append(copy.deepcopy(child))
        if self.forward_pf:
            etree.SubElement(fwd, "pf").set("dev", self.forward_pf)
        ifaces = list(self.forward_interfaces)
        if self.forward_dev and not ifaces:
            ifaces = [self.forward_dev]
        if ifaces and (not self.forward_pf or not inactive):
            for iface in ifaces:
                etree.SubElement(fwd, "interface").set("dev", iface)
        for elem in self.forward_addresses:
            fwd.append(copy.deepcopy(elem))
        for rule in self.port_forwards:
            pf = etree.SubElement(fwd, "portForward")
            pf.set("proto", rule.proto)
            if rule.address is not None:
                pf.set("address", str(rule.address))
            pf.set("port", str(rule.port))
            if rule.port_end is not None:
                pf.set("portEnd", str(rule.port_end))
            pf.set("to", str(rule.to))
            if rule.to_port is not None:
                pf.set("toPort", str(rule.to_port))
            rule.extras.apply(pf)
        for child in self.forward_extras.children:
            fwd.append(copy.deepcopy(child))

    def _format_dns(self, root: Element) -> bool:
        dns = self.dns
        if not (
            dns.enable is not None
            or dns.forward_plain_names is not None
            or dns.forwarders
            or dns.hosts
            or dns.srvs
            or dns.txts
            or dns.extras.attrs
            or dns.extras.children
        ):
            return False
        d = etree.SubElement(root, "dns")
        if dns.enable is not None:
            d.set("enable", "yes" if dns.enable else "no")
        if dns.forward_plain_names is not None:
            d.set("forwardPlainNames", "yes" if dns.forward_plain_names else "no")
        for key, value in dns.extras.attrs:
            d.set(key, value)
        for fw in dns.forwarders:
            f = etree.SubElement(d, "forwarder")
            if fw.domain is not None:
                f.set("domain", fw.domain)
            if fw.addr is not None:
                f.set("addr", str(fw.addr))
            fw.extras.apply(f)
        for txt in dns.txts:
            t = etree.SubElement(d, "txt")
            t.set("name", txt.name)
            if txt.value is not None:
                t.set("value", txt.value)
            txt.extras.apply(t)
        for srv in dns.srvs:
            if not (srv.service and srv.protocol):
                continue
            s = etree.SubElement(d, "srv")
            s.set("service", srv.service)
            s.set("protocol", srv.protocol)
            for key in ("domain", "target"):
                if getattr(srv, key) is not None:
                    s.set(key, getattr(srv, key))
            for key in ("port", "priority", "weight"):
                if getattr(srv, key):
                    s.set(key, str(getattr(srv, key)))
            srv.extras.apply(s)
        for host in dns.hosts:
            h = etree.SubElement(d, "host")
            h.set("ip", str(host.ip) if host.ip is not None else "")
            for name in host.hostnames:
                etree.SubElement(h, "hostname").text = name
            host.extras.apply(h)
        for child in dns.extras.children:
            d.append(copy.deepcopy(child))
        return True

    @staticmethod
    def _format_lease(parent: Element, lease: Lease | None) -> None:
        if lease is None:
            return
        le = etree.SubElement(parent, "lease")
        le.set("expiry", str(lease.expiry))
        if lease.expiry:
            le.set("unit", lease.unit)

    def _format_ip(self, root: Element, ip: IpDef) -> None:
        e = etree.SubElement(root, "ip")
        if ip.family_attr is not None:
            e.set("family", ip.family_attr)
        e.set("address", str(ip.address))
        if ip.netmask is not None:
            e.set("netmask", str(ip.netmask))
        if ip.prefix_attr:
            e.set("prefix", str(ip.prefix_attr))
        if ip.local_ptr is not None:
            e.set("localPtr", "yes" if ip.local_ptr else "no")
        for key, value in ip.extras.attrs:
            e.set(key, value)
        if ip.tftp_root:
            etree.SubElement(e, "tftp").set("root", ip.tftp_root)
        if ip.has_dhcp:
            dhcp = etree.SubElement(e, "dhcp")
            for key, value in ip.dhcp_extras.attrs:
                dhcp.set(key, value)
            for rng in ip.dhcp_ranges:
                r = etree.SubElement(dhcp, "range")
                r.set("start", str(rng.start))
                r.set("end", str(rng.end))
                for key, value in rng.extras.attrs:
                    r.set(key, value)
                self._format_lease(r, rng.lease)
                for child in rng.extras.children:
                    r.append(copy.deepcopy(child))
            for host in ip.dhcp_hosts:
                h = etree.SubElement(dhcp, "host")
                for key in ("mac", "id", "name"):
                    if getattr(host, key) is not None:
                        h.set(key, getattr(host, key))
                if host.ip is not None:
                    h.set("ip", str(host.ip))
                for key, value in host.extras.attrs:
                    h.set(key, value)
                self._format_lease(h, host.lease)
                for child in host.extras.children:
                    h.append(copy.deepcopy(child))
            if ip.bootp_file:
                b = etree.SubElement(dhcp, "bootp")
                b.set("file", ip.bootp_file)
                if ip.bootp_server is not None:
                    b.set("server", str(ip.bootp_server))
            for child in ip.dhcp_extras.children:
                dhcp.append(copy.deepcopy(child))
        for child in ip.extras.children:
            e.append(copy.deepcopy(child))

    # ----- net-update

    def update(self, command: int, section: int, parent_index: int, xml: str) -> None:
        """Apply a ``virNetworkUpdate`` change to this definition in place.

        ``section`` is a :class:`UpdateSection` number (libvirt's, plus
        ``PORT_FORWARD`` = 1000); ``command`` an :class:`UpdateCommand`.
        Supported: ip-dhcp-host, ip-dhcp-range, dns-host, dns-txt, dns-srv,
        forward-interface and port-forward.  Nothing changes when it raises.

        Raises:
            VirtError: XML_DETAIL/XML_ERROR for bad XML, OPERATION_INVALID
                for a missing or duplicate entry, OPERATION_UNSUPPORTED for
                sections/commands libvirt cannot update.
        """
        node = xmlutil.parse_xml(xml, what="network_update_xml", url="network_update_xml")
        handlers: dict[int, Callable[[int, int, Element], None]] = {
            UpdateSection.IP_DHCP_HOST: self._update_dhcp_host,
            UpdateSection.IP_DHCP_RANGE: self._update_dhcp_range,
            UpdateSection.FORWARD_INTERFACE: self._update_forward_interface,
            UpdateSection.DNS_HOST: self._update_dns_host,
            UpdateSection.DNS_TXT: self._update_dns_txt,
            UpdateSection.DNS_SRV: self._update_dns_srv,
            UpdateSection.PORT_FORWARD: self._update_port_forward,
        }
        names = {
            UpdateSection.BRIDGE: "bridge",
            UpdateSection.DOMAIN: "domain",
            UpdateSection.IP: "ip",
            UpdateSection.FORWARD: "forward",
            UpdateSection.FORWARD_PF: "forward pf",
            UpdateSection.PORTGROUP: "portgroup",
        }
        if section in names:
            raise _err(
                ErrorNumber.OPERATION_UNSUPPORTED,
                f"can't update '{names[section]}' section of network '{self.name}'",
            )
        handler = handlers.get(section)
        if handler is None:
            raise _err(ErrorNumber.OPERATION_UNSUPPORTED, "can't update unrecognized section of network")
        handler(command, parent_index, node)

    def _check_name(self, node: Element, expected: str) -> None:
        if node.tag != expected:
            raise _xml_err(
                f"unexpected element <{xmlutil.local_name(node)}>, expecting <{expected}>, "
                f"while updating network '{self.name}'"
            )

    @staticmethod
    def _unknown_command(command: int) -> VirtError:
        return _err(ErrorNumber.OPERATION_UNSUPPORTED, f"unrecognized network update command code {command}")

    def _ip_by_index(self, parent_index: int) -> IpDef:
        if parent_index >= 0:
            if parent_index >= len(self.ips):
                raise _op_invalid(
                    f"couldn't update dhcp host entry - no <ip> element found at index {parent_index} "
                    f"in network '{self.name}'"
                )
            return self.ips[parent_index]
        for ip in self.ips:
            if ip.has_dhcp:
                return ip
        for family in ("ipv4", "ipv6"):
            for ip in self.ips:
                if ip.family == family:
                    return ip
        raise _op_invalid(f"couldn't update dhcp host entry - no <ip> element found in network '{self.name}'")

    def _check_multi_dhcp(self, ipdef: IpDef) -> None:
        for ip in self.ips:
            if ip is not ipdef and ip.family == ipdef.family and ip.has_dhcp:
                fam = "IPv4" if ip.family == "ipv4" else "IPv6"
                raise _op_invalid(f"dhcp is supported only for a single {fam} address on each network")

    def _update_dhcp_host(self, command: int, parent_index: int, node: Element) -> None:
        self._check_name(node, "host")
        ipdef = self._ip_by_index(parent_index)
        partial = command == UpdateCommand.DELETE
        host = _parse_dhcp_host(self.name, ipdef, node, partial)
        if not partial and (host.ip is None or host.ip.version != ipdef.address.version):
            raise _op_invalid(
                "the address family of a host entry IP must match the address family of the dhcp "
                "element's parent"
            )

        def same_mac(a: str | None, b: str | None) -> bool:
            return a is not None and b is not None and xmlutil.parse_mac(a) == xmlutil.parse_mac(b)

        ipstr = str(host.ip) if host.ip is not None else "unknown"
        if command == UpdateCommand.MODIFY:
            for i, old in enumerate(ipdef.dhcp_hosts):
                if (
                    same_mac(host.mac, old.mac)
                    or (host.ip is not None and host.ip == old.ip)
                    or (host.name is not None and host.name == old.name)
                ):
                    ipdef.dhcp_hosts[i] = host
                    return
            raise _op_invalid(
                f"couldn't locate an existing dhcp host entry with \"mac='{host.mac or 'unknown'}'\" "
                f"\"name='{_nullstr(host.name)}'\" \"ip='{ipstr}'\" in network '{self.name}'"
            )
        if command in (UpdateCommand.ADD_FIRST, UpdateCommand.ADD_LAST):
            self._check_multi_dhcp(ipdef)
            for old in ipdef.dhcp_hosts:
                if (
                    same_mac(host.mac, old.mac)
                    or (host.name is not None and host.name == old.name)
                    or (host.ip is not None and host.ip == old.ip)
                ):
                    raise _op_invalid(
                        f"there is an existing dhcp host entry in network '{self.name}' that matches "
                        f"\"<host mac='{host.mac or 'unknown'}' name='{_nullstr(host.name)}' ip='{ipstr}'/>\""
                    )
            if command == UpdateCommand.ADD_FIRST:
                ipdef.dhcp_hosts.insert(0, host)
            else:
                ipdef.dhcp_hosts.append(host)
            return
        if command == UpdateCommand.DELETE:
            for i, old in enumerate(ipdef.dhcp_hosts):
                if (
                    (host.mac is None or old.mac is None or same_mac(host.mac, old.mac))
                    and (host.name is None or host.name == old.name)
                    and (host.ip is None or host.ip == old.ip)
                ):
                    del ipdef.dhcp_hosts[i]
                    return
            raise _op_invalid(f"couldn't locate a matching dhcp host entry in network '{self.name}'")
        raise self._unknown_command(command)

    def _update_dhcp_range(self, command: int, parent_index: int, node: Element) -> None:
        self._check_name(node, "range")
        ipdef = self._ip_by_index(parent_index)
        if command == UpdateCommand.MODIFY:
            raise _err(
                ErrorNumber.OPERATION_UNSUPPORTED, "dhcp ranges cannot be modified, only added or deleted"
            )
        rng = _parse_dhcp_range(self.name, ipdef, node)
        found = next(
            (i for i, r in enumerate(ipdef.dhcp_ranges) if r.start == rng.start and r.end == rng.end), None
        )
        if command in (UpdateCommand.ADD_FIRST, UpdateCommand.ADD_LAST):
            self._check_multi_dhcp(ipdef)
            if found is not None:
                raise _op_invalid(
                    f"there is an existing dhcp range entry in network '{self.name}' that matches "
                    f"\"<range start='{rng.start}' end='{rng.end}'/>\""
                )
            ipdef.dhcp_ranges.insert(0 if command == UpdateCommand.ADD_FIRST else len(ipdef.dhcp_ranges), rng)
        elif command == UpdateCommand.DELETE:
            if found is None:
                raise _op_invalid(f"couldn't locate a matching dhcp range entry in network '{self.name}'")
            del ipdef.dhcp_ranges[found]
        else:
            raise self._unknown_command(command)

    def _update_forward_interface(self, command: int, parent_index: int, node: Element) -> None:
        self._check_name(node, "interface")
        if command == UpdateCommand.MODIFY:
            raise _err(
                ErrorNumber.OPERATION_UNSUPPORTED,
                "forward interface entries cannot be modified, only added or deleted",
            )
        dev = xmlutil.prop(node, "dev")
        if dev is None:
            raise _xml_err("missing dev attribute in <interface> element")
        ifaces = list(self.forward_interfaces) or ([self.forward_dev] if self.forward_dev else [])
        if command in (UpdateCommand.ADD_FIRST, UpdateCommand.ADD_LAST):
            if dev in ifaces:
                raise _op_invalid(
                    f"there is an existing interface entry in network '{self.name}' that matches "
                    f"\"<interface dev='{dev}'>\""
                )
            ifaces.insert(0 if command == UpdateCommand.ADD_FIRST else len(ifaces), dev)
        elif command == UpdateCommand.DELETE:
            if dev not in ifaces:
                raise _op_invalid(
                    f"couldn't find an interface entry in network '{self.name}' "
                    f"matching <interface dev='{dev}'>"
                )
            ifaces.remove(dev)
        else:
            raise self._unknown_command(command)
        self.forward_interfaces = ifaces
        self.forward_dev = ifaces[0] if ifaces else None

    def _update_dns_host(self, command: int, parent_index: int, node: Element) -> None:
        if command == UpdateCommand.MODIFY:
            raise _err(
                ErrorNumber.OPERATION_UNSUPPORTED,
                "DNS HOST records cannot be modified, only added or deleted",
            )
        self._check_name(node, "host")
        is_add = command in (UpdateCommand.ADD_FIRST, UpdateCommand.ADD_LAST)
        host = _parse_dns_host(self.name, node, not is_add)
        found = []
        for i, old in enumerate(self.dns.hosts):
            hit = host.ip is not None and host.ip == old.ip
            if not is_add and not hit:
                hit = any(n in old.hostnames for n in host.hostnames)
            if hit:
                found.append(i)
        if is_add:
            if found:
                raise _op_invalid(
                    "there is already at least one DNS HOST record with a matching field "
                    f"in network {self.name}"
                )
            self.dns.hosts.insert(0 if command == UpdateCommand.ADD_FIRST else len(self.dns.hosts), host)
        elif command == UpdateCommand.DELETE:
            if not found:
                raise _op_invalid(f"couldn't locate a matching DNS HOST record in network {self.name}")
            if len(found) > 1:
                raise _op_invalid(f"multiple matching DNS HOST records were found in network {self.name}")
            del self.dns.hosts[found[0]]
        else:
            raise self._unknown_command(command)

    def _update_dns_txt(self, command: int, parent_index: int, node: Element) -> None:
        if command == UpdateCommand.MODIFY:
            raise _err(
                ErrorNumber.OPERATION_UNSUPPORTED, "DNS TXT records cannot be modified, only added or deleted"
            )
        self._check_name(node, "txt")
        is_add = command in (UpdateCommand.ADD_FIRST, UpdateCommand.ADD_LAST)
        txt = _parse_dns_txt(self.name, node, not is_add)
        found = next((i for i, t in enumerate(self.dns.txts) if t.name == txt.name), None)
        if is_add:
            if found is not None:
                raise _op_invalid(
                    f"there is already a DNS TXT record with name '{txt.name}' in network {self.name}"
                )
            self.dns.txts.insert(0 if command == UpdateCommand.ADD_FIRST else len(self.dns.txts), txt)
        elif command == UpdateCommand.DELETE:
            if found is None:
                raise _op_invalid(f"couldn't locate a matching DNS TXT record in network {self.name}")
            del self.dns.txts[found]
        else:
            raise self._unknown_command(command)

    def _update_dns_srv(self, command: int, parent_index: int, node: Element) -> None:
        if command == UpdateCommand.MODIFY:
            raise _err(
                ErrorNumber.OPERATION_UNSUPPORTED, "DNS SRV records cannot be modified, only added or deleted"
            )
        self._check_name(node, "srv")
        is_add = command in (UpdateCommand.ADD_FIRST, UpdateCommand.ADD_LAST)
        srv = _parse_dns_srv(self.name, node, not is_add)
        found = [
            i
            for i, s in enumerate(self.dns.srvs)
            if all(
                getattr(srv, k) is None or getattr(srv, k) == getattr(s, k)
                for k in ("domain", "service", "protocol", "target")
            )
        ]
        if is_add:
            if found:
                raise _op_invalid(
                    "there is already at least one DNS SRV record matching all specified fields "
                    f"in network {self.name}"
                )
            self.dns.srvs.insert(0 if command == UpdateCommand.ADD_FIRST else len(self.dns.srvs), srv)
        elif command == UpdateCommand.DELETE:
            if not found:
                raise _op_invalid(f"couldn't locate a matching DNS SRV record in network {self.name}")
            if len(found) > 1:
                raise _op_invalid(
                    "multiple DNS SRV records matching all specified fields were found "
                    f"in network {self.name}"
                )
            del self.dns.srvs[found[0]]
        else:
            raise self._unknown_command(command)

    def _update_port_forward(self, command: int, parent_index: int, node: Element) -> None:
        self._check_name(node, "portForward")
        rule = _parse_port_forward(self.name, node)
        rules = list(self.port_forwards)
        found = next((i for i, r in enumerate(rules) if r.matches(rule)), None)
        desc = f"\"<portForward proto='{rule.proto}' port='{rule.ports[0]}-{rule.ports[1]}'/>\""
        if command in (UpdateCommand.ADD_FIRST, UpdateCommand.ADD_LAST):
            if found is not None or any(r.overlaps(rule) for r in rules):
                raise _op_invalid(
                    f"there is an existing portForward entry in network '{self.name}' that matches {desc}"
                )
            rules.insert(0 if command == UpdateCommand.ADD_FIRST else len(rules), rule)
        elif command == UpdateCommand.DELETE:
            if found is None:
                raise _op_invalid(f"couldn't locate a matching portForward entry in network '{self.name}'")
            del rules[found]
        elif command == UpdateCommand.MODIFY:
            if found is None:
                raise _op_invalid(
                    f"couldn't locate an existing portForward entry matching {desc} in network '{self.name}'"
                )
            rules[found] = rule
        else:
            raise self._unknown_command(command)
        self._validate_port_forwards(rules)
        self.port_forwards = rules


# --------------------------------------------------------------------------
# parse_network


def _parse_forward(netdef: NetworkDef, node: Element) -> None:
    name = netdef.name
    mode = xmlutil.prop(node, "mode")
    if mode is None:
        mode = "nat"
    elif mode not in FORWARD_MODES:
        # "none" is libvirt's enum value 0; accepted by its parser
        if mode != "none":
            raise _unsupported(f"unknown forwarding type '{mode}'")
    netdef.forward_mode = mode
    managed = xmlutil.prop(node, "managed")
    netdef.forward_managed = managed is not None and managed.lower() == "yes"
    driver = _child(node, "driver")
    driver_name = xmlutil.prop(driver, "name")
    if driver_name is not None:
        if driver_name not in ("kvm", "vfio"):
            raise _unsupported(f"Unknown forward <driver name='{driver_name}'/> in network {name}")
        netdef.forward_driver = driver_name
    ifaces = _children(node, "interface")
    addrs = _children(node, "address")
    pfs = _children(node, "pf")
    nats = _children(node, "nat")
    if len(nats) > 1:
        raise _xml_err(f"Only one <nat> element is allowed in <forward> of network {name}")
    if nats:
        _parse_nat(netdef, nats[0])
    dev = xmlutil.prop(node, "dev")
    if dev is not None and (addrs or pfs):
        raise _xml_err(
            "the <forward> 'dev' attribute cannot be used when <address> or <pf> sub-elements are present "
            "in network %1$s"
        )
    if ifaces or dev:
        devs: list[str] = []
        for i, inode in enumerate(ifaces):
            idev = xmlutil.prop(inode, "dev")
            if idev is None:
                raise _xml_err(
                    f"Missing required dev attribute in <forward> <interface> element of network {name}"
                )
            if i == 0 and dev is not None:
                if idev != dev:
                    raise _xml_err(
                        f"<forward dev='{dev}'> must match first <interface dev='{idev}'/> in network {name}"
                    )
                continue
            if idev in devs or idev == dev:
                raise _xml_err(f"interface '{idev}' can only be listed once in network {name}")
            devs.append(idev)
        netdef.forward_dev = dev if dev is not None else (devs[0] if devs else None)
        netdef.forward_interfaces = ([dev] if dev is not None else []) + devs
    elif addrs:
        for anode in addrs:
            atype = xmlutil.prop(anode, "type")
            if atype is None:
                raise _xml_err(f"missing address type in network {name}")
            if atype not in ("pci", "netdev"):
                raise _unsupported(f"unknown address type '{atype}' in network {name}")
            if atype != "pci":
                raise _xml_err(f"unsupported address type '{atype}' in network {name}")
            netdef.forward_addresses.append(copy.deepcopy(anode))
    elif len(pfs) > 1:
        raise _xml_err(f"Only one <pf> element is allowed in <forward> of network {name}")
    elif pfs:
        pfdev = xmlutil.prop(pfs[0], "dev")
        if pfdev is None:
            raise _xml_err(f"Missing required dev attribute in <pf> element of network '{name}'")
        netdef.forward_pf = pfdev
    for pnode in _children(node, "portForward"):
        netdef.port_forwards.append(_parse_port_forward(name, pnode))
    netdef.forward_extras = Extras.collect(node, ("mode", "dev", "managed"), _FORWARD_KNOWN_CHILDREN)


def _parse_nat(netdef: NetworkDef, node: Element) -> None:
    name = netdef.name
    if netdef.forward_mode != "nat":
        raise _xml_err(f"The <nat> element can only be used when <forward> 'mode' is 'nat' in network {name}")
    netdef.nat_ipv6 = _yes_no(node, "ipv6")
    addrs = _children(node, "address")
    if len(addrs) > 1:
        raise _xml_err(f"Only one <address> element is allowed in <nat> in <forward> in network {name}")
    start_s = end_s = None
    if addrs:
        start_s = xmlutil.prop(addrs[0], "start")
        if start_s is None:
            raise _xml_err(
                f"missing 'start' attribute in <address> element in <nat> in <forward> in network {name}"
            )
        end_s = xmlutil.prop(addrs[0], "end")
        if end_s is None:
            raise _xml_err(
                f"missing 'end' attribute in <address> element in <nat> in <forward> in network {name}"
            )
        start = _try_addr(start_s)
        if not isinstance(start, ipaddress.IPv4Address):
            raise _xml_err(f"Bad ipv4 start address '{start_s}' in <nat> in <forward> in network '{name}'")
        end = _try_addr(end_s)
        if not isinstance(end, ipaddress.IPv4Address):
            raise _xml_err(f"Bad ipv4 end address '{end_s}' in <nat> in <forward> in network '{name}'")
        _check_range(start, end)
        netdef.nat_address = (start, end)
    ports = _children(node, "port")
    if len(ports) > 1:
        raise _xml_err(f"Only one <port> element is allowed in <nat> in <forward> in network {name}")
    if ports:
        ps = _strtoul(xmlutil.prop(ports[0], "start") or "")
        if ps is None or ps > 65535:
            raise _detail_err(
                f"Missing or invalid 'start' attribute in <port> in <nat> in <forward> in network {name}"
            )
        pe = _strtoul(xmlutil.prop(ports[0], "end") or "")
        if pe is None or pe > 65535 or pe < ps:
            raise _detail_err(
                f"Missing or invalid 'end' attribute in <port> in <nat> in <forward> in network {name}"
            )
        netdef.nat_port = (ps, pe) if (ps or pe) else None
    netdef.nat_extras = Extras.collect(node, ("ipv6",), ("address", "port"))


def _check_forward_mode(netdef: NetworkDef) -> None:
    """The checks at the end of ``virNetworkDefParseXML``."""
    mode, name = netdef.forward_mode, netdef.name
    nifs = len(netdef.forward_interfaces) or len(netdef.forward_addresses)
    if mode in ("route", "nat", "open"):
        if not netdef.ips:
            raise _xml_err(f"{mode} forwarding requested, but no IP address provided for network '{name}'")
        if nifs > 1:
            raise _xml_err(
                f"multiple forwarding interfaces specified for network '{name}', only one is supported"
            )
        if mode == "open" and nifs:
            raise _xml_err(f"forward dev not allowed for network '{name}' with forward mode='{mode}'")
    elif mode in ("private", "vepa", "passthrough", "hostdev", "bridge"):
        if mode != "bridge":
            if netdef.bridge:
                raise _xml_err(f"bridge name not allowed in {mode} mode (network '{name}')")
            if netdef.bridge_zone:
                raise _xml_err(f"bridge zone not allowed in {mode} mode (network '{name}')")
            if netdef.mac_table_manager:
                raise _xml_err(
                    f"bridge macTableManager setting not allowed in {mode} mode (network '{name}')"
                )
        if netdef.delay or netdef.stp_specified or netdef.bridge_zone:
            raise _xml_err(
                f"bridge delay/stp/zone options only allowed in route, nat, and isolated mode, not in {mode} "
                f"(network '{name}')"
            )
        if netdef.bridge and (netdef.forward_interfaces or netdef.forward_pf):
            raise _xml_err(
                f"A network with forward mode='{mode}' can specify a bridge name or a forward dev, "
                "but not both "
                f"(network '{name}')"
            )
    if netdef.mtu and mode not in VIRTUAL_MODES:
        raise _xml_err(
            f"mtu size only allowed in open, route, nat, and isolated mode, not in {mode} (network '{name}')"
        )


def _parse_def(root: Element) -> NetworkDef:
    name = _text(_child(root, "name"))
    if not name:
        raise VirtError(
            ErrorNumber.NO_NAME, ErrorDomain.NETWORK, None, raw_message="missing name information"
        )
    if "/" in name:
        raise VirtError(ErrorNumber.XML_DETAIL, ErrorDomain.XML, "invalid char in name: 0x2f")
    uuid_s = _text(_child(root, "uuid"))
    if uuid_s is None:
        uuid = xmlutil.generate_uuid()
    else:
        try:
            uuid = xmlutil.parse_uuid(uuid_s)
        except ValueError as err:
            raise _err(ErrorNumber.INTERNAL_ERROR, "malformed uuid element") from err
    netdef = NetworkDef(name=name, uuid=uuid)
    netdef.title = _text(_child(root, "title"))
    if netdef.title and "\n" in netdef.title:
        raise _xml_err("Network title can't contain newlines")
    netdef.description = _text(_child(root, "description"))
    ipv6 = xmlutil.prop(root, "ipv6")
    if ipv6 is not None:
        if ipv6 not in ("yes", "no"):
            raise _xml_err(f"Invalid ipv6 setting '{ipv6}' in network '{name}'")
        netdef.ipv6 = ipv6 == "yes"
    netdef.trust_guest_rx_filters = _yes_no(root, "trustGuestRxFilters")
    connections = xmlutil.prop(root, "connections")
    if connections is not None:
        netdef.connections = _strtoul(connections) or 0
    netdef.root_extras = Extras(
        attrs=[
            (str(k), str(v))
            for k, v in root.attrib.items()
            if str(k) not in ("connections", "ipv6", "trustGuestRxFilters")
        ]
    )

    domain = _child(root, "domain")
    if domain is not None:
        netdef.domain_name = xmlutil.prop(domain, "name")
        netdef.domain_local_only = _yes_no(domain, "localOnly")

    for tag in _OPAQUE_TOP:
        kids = _children(root, tag) if tag in ("portgroup",) else _children(root, tag)[:1]
        if kids:
            netdef.opaque[tag] = [copy.deepcopy(k) for k in kids]
    if "port" in netdef.opaque:
        _yes_no(netdef.opaque["port"][0], "isolated")

    bridge = _child(root, "bridge")
    if bridge is not None:
        netdef.bridge = xmlutil.prop(bridge, "name")
        netdef.bridge_zone = xmlutil.prop(bridge, "zone")
        stp = xmlutil.prop(bridge, "stp")
        netdef.stp_specified = stp is not None
        netdef.stp = stp != "off"
        delay = xmlutil.prop(bridge, "delay")
        if delay is not None:
            value = _strtoul(delay)
            if value is None:
                raise _xml_err(f"Invalid delay value in network '{name}'")
            netdef.delay = value
        mtm = xmlutil.prop(bridge, "macTableManager")
        if mtm is not None:
            if mtm not in ("kernel", "libvirt"):
                raise _xml_err(f"Invalid macTableManager setting '{mtm}' in network '{name}'")
            netdef.mac_table_manager = mtm
        netdef.bridge_extras = Extras.collect(bridge, ("name", "zone", "stp", "delay", "macTableManager"), ())

    mac = xmlutil.prop(_child(root, "mac"), "address")
    if mac is not None:
        try:
            netdef.mac = xmlutil.parse_mac(mac)
        except ValueError as err:
            raise _xml_err(f"Invalid bridge mac address '{mac}' in network '{name}'") from err
        if xmlutil.is_multicast_mac(netdef.mac):
            raise _xml_err(f"Invalid multicast bridge mac address '{mac}' in network '{name}'")

    mtu = xmlutil.prop(_child(root, "mtu"), "size")
    if mtu is not None:
        value = _strtoul(mtu)
        if value is None or value >= 2**32:
            raise _xml_err(f"Invalid mtu size '{mtu}' in network '{name}'")
        netdef.mtu = value or None

    dns = _child(root, "dns")
    if dns is not None:
        netdef.dns = _parse_dns(name, dns)

    for ipnode in _children(root, "ip"):
        netdef.ips.append(_parse_ip(name, ipnode))

    for rnode in _children(root, "route"):
        netdef.routes.append(_parse_route(name, rnode))
    for route in netdef.routes:
        reachable = False
        for ip in netdef.ips:
            if ip.address.version != route.gateway.version:
                continue
            if route.gateway in ip.network:
                reachable = True
                break
        if not reachable:
            raise _unsupported(
                f"unreachable static route gateway '{route.gateway}' specified for network '{name}'"
            )

    forward = _child(root, "forward")
    if forward is not None:
        _parse_forward(netdef, forward)
    _check_forward_mode(netdef)

    metadata = _child(root, "metadata")
    if metadata is not None:
        netdef.metadata = copy.deepcopy(metadata)

    # dnsmasq:options (the namespace libvirt's network driver registers)
    for opts in root.findall(f"{{{DNSMASQ_NS}}}options"):
        for opt in opts.findall(f"{{{DNSMASQ_NS}}}option"):
            optval = xmlutil.prop(opt, "value")
            if optval is None:
                raise _xml_err(f"No dnsmasq options value specified in network '{name}'")
            netdef.dnsmasq_options.append(optval)

    # unknown top-level elements, anchored after the known element they followed
    anchor: str | None = None
    counts: dict[str, int] = {}
    for child in root:
        if not isinstance(child.tag, str):
            continue
        tag = child.tag
        if tag == f"{{{DNSMASQ_NS}}}options":
            continue
        if tag in _TOP_ORDER:
            counts[tag] = counts.get(tag, 0) + 1
            single = tag not in ("ip", "route", "portgroup")
            if single and counts[tag] > 1:
                continue  # libvirt reads only the first one
            anchor = tag
            continue
        netdef.unknown.append((anchor, copy.deepcopy(child)))
    return netdef


def parse_network(xml: str | bytes, *, validate: bool = True) -> NetworkDef:
    """Parse network XML into a :class:`NetworkDef`.

    With ``validate`` (the default, as for net-define / net-create) the
    define-time checks run too and the bridge MAC is generated when missing
    (for nat/route/open/isolated networks).  A missing uuid is always
    generated.  The bridge *name* is not generated here: the driver does it.

    Raises:
        VirtError: with libvirt's code, domain and message for malformed XML
            (XML_DETAIL), invalid values (XML_ERROR, CONFIG_UNSUPPORTED,
            INTERNAL_ERROR, ...).
    """
    root = xmlutil.parse_xml(xml, what="network_definition", root="network")
    netdef = _parse_def(root)
    if validate:
        netdef.validate()
    return netdef
