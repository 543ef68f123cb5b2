"""Linux bridges, addresses, routes, qdiscs, sysctls and taps, over our own rtnetlink client.

Every function acts on the network namespace of the calling process; the
daemon runs in the namespace it manages (tests run it inside one they made).
Netlink requests go through :mod:`pyvirt.network.netlink` (a small asyncio
client, one socket per call); the kernel's refusals
(:class:`~pyvirt.network.netlink.NetlinkError`) are turned into
:class:`~pyvirt.errors.VirtError` with libvirt's wording.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import logging
import os
import struct
from pathlib import Path

from pyvirt.errors import ErrorDomain, VirtError, internal_error, system_error
from pyvirt.network.netlink import Netlink, NetlinkError, link_index

log = logging.getLogger(__name__)

SYSCTL = Path("/proc/sys")
PROC_NET_ROUTE = Path("/proc/net/route")
MAX_ROUTE_FILE = 128 * 100000

# linux/if_tun.h
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
IFNAMSIZ = 16


def _netlink_error(detail: str, err: NetlinkError) -> VirtError:
    return system_error(detail, OSError(err.code, os.strerror(err.code)), ErrorDomain.NONE)


def _index(name: str) -> int:
    idx = link_index(name)
    if idx is None:
        raise VirtError(38, ErrorDomain.NONE, f"Unable to get index for interface {name}: No such device")
    return idx


async def link_exists(name: str) -> bool:
    """True when a network interface ``name`` exists in this namespace."""
    return link_index(name) is not None


async def create_bridge(
    name: str, mac: str, *, stp: bool = True, delay: int = 0, mtu: int | None = None
) -> None:
    """Create bridge ``name`` with ``mac`` set at creation, like ``ip link add NAME address MAC type bridge``.

    ``delay`` is libvirt's forward delay in seconds (the kernel keeps at least
    2 s while STP is on); ``mtu`` is set when given.

    Raises VirtError (VIR_ERR_SYSTEM_ERROR) when netlink refuses (e.g. the name exists).
    """
    async with Netlink() as nl:
        try:
            # forward delay is processed before stp_state by the kernel, so a
            # 0 delay is accepted and then raised to the STP minimum (libvirt's order)
            await nl.create_bridge(name, mac, forward_delay=int(delay) * 100, stp_state=1 if stp else 0)
        except NetlinkError as err:
            log.error("cannot create bridge %s: %s", name, os.strerror(err.code))
            raise _netlink_error(f"error creating bridge interface {name}", err) from err
        if mtu:
            try:
                await nl.set_link(_index(name), mtu=int(mtu))
            except NetlinkError as err:
                raise _netlink_error(f"Cannot set interface MTU on '{name}'", err) from err
    log.debug("bridge %s created (mac %s stp %s delay %s mtu %s)", name, mac, stp, delay, mtu)


async def delete_link(name: str) -> bool:
    """Delete interface ``name``; returns False when it did not exist.

    Raises VirtError (VIR_ERR_SYSTEM_ERROR) for other netlink failures.
    """
    idx = link_index(name)
    if idx is None:
        return False
    async with Netlink() as nl:
        try:
            await nl.delete_link(idx)
        except NetlinkError as err:
            if err.code == errno.ENODEV:  # gone meanwhile
                return False
            raise _netlink_error(f"error destroying network device {name}", err) from err
    log.debug("interface %s deleted", name)
    return True


async def set_online(name: str, up: bool) -> None:
    """Bring ``name`` up or down.  Raises VirtError (VIR_ERR_SYSTEM_ERROR)."""
    idx = _index(name)
    async with Netlink() as nl:
        try:
            await nl.set_link(idx, up=up)
        except NetlinkError as err:
            raise _netlink_error(f"Cannot set interface flags on '{name}'", err) from err


async def add_address(name: str, address: str, prefix: int) -> None:
    """Add ``address/prefix`` to ``name`` (IPv4 with its broadcast address, like libvirt).

    Raises VirtError (VIR_ERR_SYSTEM_ERROR).
    """
    iface = ipaddress.ip_interface(f"{address}/{prefix}")
    broadcast = str(iface.network.broadcast_address) if iface.version == 4 and prefix < 31 else None
    idx = _index(name)
    async with Netlink() as nl:
        try:
            await nl.add_address(idx, str(iface.ip), int(prefix), broadcast)
        except NetlinkError as err:
            log.error("cannot add address %s/%s to %s", address, prefix, name)
            raise _netlink_error(f"Failed to add IP address {address}/{prefix} to {name}", err) from err


async def add_route(
    name: str, dest: str, prefix: int, gateway: str | None = None, metric: int | None = None
) -> None:
    """Add a static route ``dest/prefix [via gateway]`` on ``name``.  Raises VirtError."""
    net = ipaddress.ip_network(f"{dest}/{prefix}", strict=False)
    idx = _index(name)
    async with Netlink() as nl:
        try:
            await nl.add_route(
                idx,
                str(net.network_address),
                int(prefix),
                str(gateway) if gateway else None,
                int(metric) if metric else None,
            )
        except NetlinkError as err:
            raise _netlink_error(f"Failed to add route to {net} via {gateway} on {name}", err) from err


async def set_noqueue(ifname: str) -> None:
    """Give ``ifname`` the ``noqueue`` root qdisc, as libvirt does for taps.

    Like ``tc qdisc replace dev IFNAME root handle 0: noqueue``.  Does
    nothing when the interface does not exist.  Raises VirtError
    (VIR_ERR_SYSTEM_ERROR) when netlink refuses.
    """
    idx = link_index(ifname)
    if idx is None:
        return
    async with Netlink() as nl:
        try:
            await nl.replace_root_qdisc(idx, "noqueue")
        except NetlinkError as err:
            raise _netlink_error(f"Unable to set root qdisc 'noqueue' on interface {ifname}", err) from err


def _write_sysctl(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as err:
        log.error("cannot write %s", path)
        raise system_error(f"cannot write to '{path}'", err, ErrorDomain.NETWORK) from err


def set_ipv6_sysctls(bridge: str, has_ipv6: bool) -> None:
    """libvirt's networkSetIPv6Sysctls: disable_ipv6, then accept_ra=0, autoconf=0.

    Skipped when the bridge has no IPv6 sysctl directory.  Raises VirtError.
    """
    base = SYSCTL / "net/ipv6/conf" / bridge
    if not (base / "disable_ipv6").exists():
        log.debug("no ipv6 sysctls for %s", bridge)
        return
    _write_sysctl(base / "disable_ipv6", "0\n" if has_ipv6 else "1\n")
    _write_sysctl(base / "accept_ra", "0\n")
    _write_sysctl(base / "autoconf", "0\n")


def enable_forwarding(ipv4: bool, ipv6: bool) -> None:
    """Write 1 to ip_forward and/or ipv6 all/forwarding (per network namespace).  Raises VirtError."""
    if ipv4:
        _write_sysctl(SYSCTL / "net/ipv4/ip_forward", "1\n")
    if ipv6:
        _write_sysctl(SYSCTL / "net/ipv6/conf/all/forwarding", "1\n")


def _hex_addr(text: str) -> ipaddress.IPv4Address:
    # /proc/net/route prints the raw (network order) u32 as a host-order hex number
    return ipaddress.IPv4Address(int(text, 16).to_bytes(4, "little"))


def read_routes(path: Path = PROC_NET_ROUTE) -> list[tuple[str, ipaddress.IPv4Network]]:
    """(iface, destination network) for each line of /proc/net/route, header skipped."""
    try:
        with path.open() as f:
            text = f.read(MAX_ROUTE_FILE)
    except OSError as err:
        raise system_error(f"Unable to read {path}", err, ErrorDomain.NETWORK) from err
    routes = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest = _hex_addr(fields[1])
            mask = _hex_addr(fields[7])
            net = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
        except ValueError:
            continue
        routes.append((fields[0], net))
    return routes


def check_route_collision(
    ips: list[tuple[str, int]], routes: list[tuple[str, int]] | None = None, path: Path = PROC_NET_ROUTE
) -> None:
    """libvirt's networkCheckRouteCollision for IPv4 ``ips`` (address, prefix) and static ``routes``.

    Raises VirtError (VIR_ERR_INTERNAL_ERROR) "Network is already in use by
    interface X" or "Route address 'A' conflicts with IP address for 'X'".
    """
    existing = read_routes(path)
    for address, prefix in ips:
        if ipaddress.ip_address(address).version != 4:
            continue
        net = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
        for iface, rnet in existing:
            if rnet == net:
                log.error("network %s is already in use by interface %s", net, iface)
                raise internal_error(f"Network is already in use by interface {iface}", ErrorDomain.NETWORK)
    for address, prefix in routes or []:
        if ipaddress.ip_address(address).version != 4:
            continue
        net = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
        for iface, rnet in existing:
            if rnet == net:
                raise internal_error(
                    f"Route address '{address}' conflicts with IP address for '{iface}'", ErrorDomain.NETWORK
                )


async def create_tap(
    mac: str,
    bridge: str | None = None,
    mtu: int | None = None,
    name_template: str = "vnet%d",
    *,
    vnet_hdr: bool = True,
) -> tuple[str, int]:
    """Create a tap (lowest free ``vnet%d``), set ``mac``/``mtu``, attach it to ``bridge`` and bring it up.

    The tap is not persistent: it disappears when the returned fd (and every
    copy, e.g. QEMU's) is closed.  The fd is close-on-exec; pass it to QEMU
    with ``pass_fds``.  Give the tap libvirt's MAC (the guest MAC with the
    first byte ``fe``).  With no ``mtu``, the bridge's MTU is used.

    Raises VirtError (VIR_ERR_SYSTEM_ERROR) on any failure (the tap is then gone).
    """
    flags = IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0)
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    except OSError as err:
        raise system_error("Unable to open /dev/net/tun, is tun module loaded?", err) from err
    try:
        ifr = struct.pack("16sH22x", name_template.encode()[: IFNAMSIZ - 1], flags)
        try:
            res = fcntl.ioctl(fd, TUNSETIFF, ifr)
        except OSError as err:
            raise system_error(f"Unable to create tap device {name_template}", err) from err
        name = res[:IFNAMSIZ].split(b"\0", 1)[0].decode()
        idx = _index(name)
        async with Netlink() as nl:
            try:
                await nl.set_link(idx, address=mac)
                if bridge:
                    bidx = _index(bridge)
                    if not mtu:
                        mtu = await nl.link_mtu(bidx) or None
                if mtu:
                    await nl.set_link(idx, mtu=int(mtu))
                if bridge:
                    await nl.set_link(idx, master=bidx)
                await nl.set_link(idx, up=True)
            except NetlinkError as err:
                raise _netlink_error(f"Unable to configure tap device {name}", err) from err
    except BaseException:
        os.close(fd)
        raise
    log.debug("tap %s created (mac %s bridge %s)", name, mac, bridge)
    return name, fd


async def delete_tap(name: str, fd: int | None = None) -> None:
    """Remove tap ``name``: close ``fd`` if given, then delete the link if it still exists."""
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
    await delete_link(name)
