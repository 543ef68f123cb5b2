"""Linux bridges, addresses, routes, sysctls and taps over netlink (pyroute2's asyncio API).

Every function acts on the network namespace of the calling process; the
daemon runs in the namespace it manages (tests run it inside one they made).
Netlink failures are turned into :class:`~pyvirt.errors.VirtError` with
libvirt's wording.

pyroute2 is imported on first use (:func:`iproute`, :func:`netlink_error`), not
with this module: it costs ~24 MiB and ~0.3 s, which a daemon with no running
network or domain should not pay.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import logging
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from pyvirt.errors import ErrorDomain, VirtError, internal_error, system_error

if TYPE_CHECKING:
    from pyroute2 import AsyncIPRoute
    from pyroute2.netlink.exceptions import NetlinkError

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


def iproute() -> AsyncIPRoute:
    """A new pyroute2 ``AsyncIPRoute`` (use as ``async with``); imports pyroute2 on first call."""
    from pyroute2 import AsyncIPRoute

    return AsyncIPRoute()


def netlink_error() -> type[NetlinkError]:
    """pyroute2's ``NetlinkError`` class, for ``except`` clauses; imports pyroute2 on first call.

    An ``except netlink_error():`` clause is only evaluated once an exception
    is on its way, so it costs nothing on the success path.
    """
    from pyroute2.netlink.exceptions import NetlinkError

    return NetlinkError


def _netlink_error(detail: str, err: NetlinkError) -> VirtError:
    return system_error(detail, OSError(err.code, os.strerror(err.code)), ErrorDomain.NONE)


async def _index(ipr: AsyncIPRoute, name: str) -> int:
    idx = await ipr.link_lookup(ifname=name)
    if not idx:
        raise VirtError(38, ErrorDomain.NONE, f"Unable to get index for interface {name}: No such device")
    return int(idx[0])


async def link_exists(name: str) -> bool:
    """True when a network interface ``name`` exists in this namespace."""
    async with iproute() as ipr:
        return bool(await ipr.link_lookup(ifname=name))


async def create_bridge(
    name: str, mac: str, *, stp: bool = True, delay: int = 0, mtu: int | None = None
) -> None:
    """Create bridge ``name`` with ``mac`` set at creation, like ``ip link add NAME address MAC type bridge``.

    ``delay`` is libvirt's forward delay in seconds (the kernel keeps at least
    2 s while STP is on); ``mtu`` is set when given.

    Raises VirtError (VIR_ERR_SYSTEM_ERROR) when netlink refuses (e.g. the name exists).
    """
    async with iproute() as ipr:
        try:
            # forward delay is processed before stp_state by the kernel, so a
            # 0 delay is accepted and then raised to the STP minimum (libvirt's order)
            await ipr.link(
                "add",
                ifname=name,
                kind="bridge",
                address=mac,
                br_forward_delay=int(delay) * 100,
                br_stp_state=1 if stp else 0,
            )
        except netlink_error() as err:
            log.error("cannot create bridge %s: %s", name, os.strerror(err.code))
            raise _netlink_error(f"error creating bridge interface {name}", err) from err
        if mtu:
            try:
                await ipr.link("set", index=await _index(ipr, name), mtu=int(mtu))
            except netlink_error() as err:
                raise _netlink_error(f"Cannot set interface MTU on '{name}'", err) from err
    log.debug("bridge %s created (mac %s stp %s delay %s mtu %s)", name, mac, stp, delay, mtu)


async def delete_link(name: str) -> bool:
    """Delete interface ``name``; returns False when it did not exist.

    Raises VirtError (VIR_ERR_SYSTEM_ERROR) for other netlink failures.
    """
    async with iproute() as ipr:
        idx = await ipr.link_lookup(ifname=name)
        if not idx:
            return False
        try:
            await ipr.link("del", index=idx[0])
        except netlink_error() as err:
            if err.code == 19:  # ENODEV: gone meanwhile
                return False
            raise _netlink_error(f"error destroying network device {name}", err) from err
    log.debug("interface %s deleted", name)
    return True


async def set_online(name: str, up: bool) -> None:
    """Bring ``name`` up or down.  Raises VirtError (VIR_ERR_SYSTEM_ERROR)."""
    async with iproute() as ipr:
        try:
            await ipr.link("set", index=await _index(ipr, name), state="up" if up else "down")
        except netlink_error() as err:
            raise _netlink_error(f"Cannot set interface flags on '{name}'", err) from err


async def add_address(name: str, address: str, prefix: int) -> None:
    """Add ``address/prefix`` to ``name`` (IPv4 with its broadcast address, like libvirt).

    Raises VirtError (VIR_ERR_SYSTEM_ERROR).
    """
    iface = ipaddress.ip_interface(f"{address}/{prefix}")
    kwargs: dict[str, object] = {"address": str(iface.ip), "prefixlen": int(prefix)}
    if iface.version == 4 and prefix < 31:
        kwargs["broadcast"] = str(iface.network.broadcast_address)
    async with iproute() as ipr:
        try:
            await ipr.addr("add", index=await _index(ipr, name), **kwargs)
        except netlink_error() as err:
            log.error("cannot add address %s/%s to %s", address, prefix, name)
            raise _netlink_error(f"Failed to add IP address {address}/{prefix} to {name}", err) from err


async def add_route(
    name: str, dest: str, prefix: int, gateway: str | None = None, metric: int | None = None
) -> None:
    """Add a static route ``dest/prefix [via gateway]`` on ``name``.  Raises VirtError."""
    net = ipaddress.ip_network(f"{dest}/{prefix}", strict=False)
    kwargs: dict[str, object] = {"dst": str(net.network_address), "dst_len": int(prefix)}
    if gateway:
        kwargs["gateway"] = str(gateway)
    if metric:
        kwargs["priority"] = int(metric)
    async with iproute() as ipr:
        try:
            await ipr.route("add", oif=await _index(ipr, name), **kwargs)
        except netlink_error() as err:
            raise _netlink_error(f"Failed to add route to {net} via {gateway} on {name}", err) from err


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
        async with iproute() as ipr:
            idx = await _index(ipr, name)
            try:
                await ipr.link("set", index=idx, address=mac)
                if bridge:
                    bidx = await _index(ipr, bridge)
                    if not mtu:
                        links = await ipr.link("get", index=bidx)
                        mtu = int(next(iter(links)).get("mtu") or 0) or None
                if mtu:
                    await ipr.link("set", index=idx, mtu=int(mtu))
                if bridge:
                    await ipr.link("set", index=idx, master=bidx)
                await ipr.link("set", index=idx, state="up")
            except netlink_error() as err:
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
