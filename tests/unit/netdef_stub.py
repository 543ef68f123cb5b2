"""Plain stand-ins for ``pyvirt.conf.network.NetworkDef`` with the field names of docs/INTERNALS.md.

The network runtime only reads attributes, so tests build definitions here
without depending on the XML parser.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any


@dataclass
class HostDef:
    mac: str | None = None
    ip: str | None = None
    name: str | None = None
    id: str | None = None
    lease: Any = None


@dataclass
class IpDef:
    address: str
    prefix: int
    family: str = "ipv4"
    dhcp_ranges: list[tuple[str, str, int | None]] = field(default_factory=list)
    dhcp_hosts: list[HostDef] = field(default_factory=list)
    local_ptr: bool | None = None
    tftp_root: str | None = None

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(f"{self.address}/{self.prefix}", strict=False)


@dataclass
class DnsHost:
    ip: str
    hostnames: list[str]


@dataclass
class Forwarder:
    addr: str | None = None
    domain: str | None = None


@dataclass
class Txt:
    name: str
    value: str


@dataclass
class Srv:
    service: str
    protocol: str
    domain: str | None = None
    target: str | None = None
    port: int = 0
    priority: int = 0
    weight: int = 0


@dataclass
class DnsDef:
    enable: bool | None = None
    forward_plain_names: bool | None = None
    forwarders: list[Forwarder] = field(default_factory=list)
    txts: list[Txt] = field(default_factory=list)
    srvs: list[Srv] = field(default_factory=list)
    hosts: list[DnsHost] = field(default_factory=list)


@dataclass
class PortForwardDef:
    proto: str
    port: tuple[int, int]
    to_address: str
    to_port: tuple[int, int] | None = None
    address: str | None = None


@dataclass
class RouteDef:
    address: str
    prefix: int
    gateway: str
    family: str = "ipv4"
    metric: int | None = None


@dataclass
class NetDef:
    name: str = "default"
    bridge: str | None = "virbr0"
    mac: str = "52:54:00:69:3c:3e"
    stp: bool = True
    delay: int = 0
    mtu: int | None = None
    forward_mode: str = "nat"
    forward_dev: str | None = None
    nat_port: tuple[int, int] | None = (1024, 65535)
    nat_address: Any = None
    domain_name: str | None = None
    domain_local_only: bool | None = None
    dns: DnsDef = field(default_factory=DnsDef)
    ips: list[IpDef] = field(default_factory=list)
    routes: list[RouteDef] = field(default_factory=list)
    port_forwards: list[PortForwardDef] = field(default_factory=list)
    uuid: str = "c0a5e9c2-5b4a-4f0e-8a53-5d0d8f1b1a11"


def default_network(**kw: Any) -> NetDef:
    """libvirt's default network: virbr0, NAT, 192.168.122.1/24, DHCP .2-.254."""
    ips = [IpDef("192.168.122.1", 24, dhcp_ranges=[("192.168.122.2", "192.168.122.254", None)])]
    kw.setdefault("ips", ips)
    return NetDef(**kw)
