"""Starting and stopping a virtual network (nat / route / open / isolated) on this host.

:func:`start` follows libvirt's ``networkStartNetworkVirtual``: route-collision
check, bridge with its MAC (MTU, STP, forward delay), IPv6 sysctls, firewall
rules, addresses, link up, static routes, forwarding sysctls, dnsmasq.  Each
completed step is undone in reverse order when a later one fails, so a failed
start leaves no bridge, rules, dnsmasq or files behind.

:func:`stop` tears down in libvirt's order and tolerates pieces that are
already gone.  :class:`NetworkRuntime` records what was created (dnsmasq pid,
bridge, rendered nft rules) and round-trips through a dict so the driver can
keep it in the live status file and reattach after a daemon restart with
:func:`check`.

API used by the driver (``netdef`` is a ``pyvirt.conf.network.NetworkDef``)::

    rt = await start(netdef, paths)             -> NetworkRuntime
    await stop(rt, paths)
    await check(netdef, rt, paths)              -> CheckResult (repairs rules, restarts dnsmasq)
    await apply_update(netdef, rt, paths, section)   (net-update of the live definition)
    await restart_dnsmasq(netdef, rt, paths)    (fresh config, new pid in rt)
    dnsmasq_alive(name, pid, paths)             -> bool (supervision)
    await update_hosts(netdef, rt, paths)       (dhcp/dns hosts: rewrite files + SIGHUP)
    await update_port_forwards(netdef, rt, paths)
    dhcp_leases(netdef, paths, mac)             -> list[remote_network_dhcp_lease dict]
    remove_files(name, bridge, paths)           (undefine)
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pyvirt.errors import ErrorDomain, VirtError, internal_error
from pyvirt.lazydataclass import dataclass

from . import bridge as br
from . import dnsmasq, firewall, leases
from .paths import NetworkPaths

__all__ = [
    "CheckResult",
    "NetworkPaths",
    "NetworkRuntime",
    "apply_update",
    "check",
    "dhcp_leases",
    "dnsmasq_alive",
    "remove_files",
    "restart_dnsmasq",
    "start",
    "stop",
    "update_hosts",
    "update_port_forwards",
]

log = logging.getLogger(__name__)

VIRTUAL_MODES = ("nat", "route", "open", "none")

# virNetworkUpdateSection
SECTION_BRIDGE = 1
SECTION_DOMAIN = 2
SECTION_IP = 3
SECTION_IP_DHCP_HOST = 4
SECTION_IP_DHCP_RANGE = 5
SECTION_FORWARD = 6
SECTION_FORWARD_INTERFACE = 7
SECTION_FORWARD_PF = 8
SECTION_PORTGROUP = 9
SECTION_DNS_HOST = 10
SECTION_DNS_TXT = 11
SECTION_DNS_SRV = 12
SECTION_PORT_FORWARD = 1000  # pyvirt's extension (docs/port-forwards.md)


@dataclass
class NetworkRuntime:
    """What a running network consists of; serialisable with :meth:`to_dict` / :meth:`from_dict`."""

    name: str
    bridge: str
    forward_mode: str
    dnsmasq_pid: int | None = None
    uses_dnsmasq: bool = False
    firewall: firewall.NetworkRules | None = None
    started: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "bridge": self.bridge,
            "forward_mode": self.forward_mode,
            "dnsmasq_pid": self.dnsmasq_pid,
            "uses_dnsmasq": self.uses_dnsmasq,
            "firewall": self.firewall.to_dict() if self.firewall else None,
            "started": self.started,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkRuntime:
        """Rebuild from :meth:`to_dict` output.  Raises KeyError/TypeError/ValueError when malformed."""
        fw = data.get("firewall")
        pid = data.get("dnsmasq_pid")
        return cls(
            name=str(data["name"]),
            bridge=str(data["bridge"]),
            forward_mode=str(data.get("forward_mode", "nat")),
            dnsmasq_pid=int(pid) if pid else None,
            uses_dnsmasq=bool(data.get("uses_dnsmasq", pid is not None)),
            firewall=firewall.NetworkRules.from_dict(fw) if fw else None,
            started=float(data.get("started", 0.0)),
        )


@dataclass
class CheckResult:
    """What :func:`check` found and repaired."""

    bridge_present: bool = True
    firewall_repaired: bool = False
    dnsmasq_restarted: bool = False


def _ips(netdef: Any, family: str) -> list[Any]:
    return [ip for ip in (netdef.ips or []) if str(getattr(ip, "family", "ipv4")) == family]


def _route_fields(route: Any) -> tuple[str, int, str | None, int | None]:
    return (
        str(route.address),
        int(getattr(route, "prefix", None) or 0),
        getattr(route, "gateway", None),
        getattr(route, "metric", None),
    )


async def start(netdef: Any, paths: NetworkPaths) -> NetworkRuntime:
    """Bring up the network ``netdef`` (forward mode nat, route, open or none/isolated).

    Raises VirtError with libvirt's messages, e.g. VIR_ERR_INTERNAL_ERROR
    "Network is already in use by interface virbr0" or "network 'N' has no
    bridge name defined", netlink/sysctl system errors, nft or dnsmasq
    failures.  On any failure everything done so far is undone first.
    """
    mode = str(getattr(netdef, "forward_mode", None) or "none")
    if mode not in VIRTUAL_MODES:
        raise VirtError(
            3, ErrorDomain.NETWORK, f"forward mode '{mode}' is not handled by the virtual network runtime"
        )
    t0 = time.monotonic()
    v4 = _ips(netdef, "ipv4")
    v6 = _ips(netdef, "ipv6")
    routes = [_route_fields(r) for r in (getattr(netdef, "routes", None) or [])]
    br.check_route_collision(
        [(str(ip.address), int(ip.prefix)) for ip in v4], [(a, p) for a, p, _, _ in routes]
    )
    if not netdef.bridge:
        raise internal_error(f"network '{netdef.name}' has no bridge name defined", ErrorDomain.NETWORK)
    name, bridge = str(netdef.name), str(netdef.bridge)
    rt = NetworkRuntime(name=name, bridge=bridge, forward_mode=mode)
    undo: list[tuple[str, Callable[[], Awaitable[Any]]]] = []

    async def _undo_files(created: list[Any]) -> None:
        for path in created:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    try:
        await br.create_bridge(
            bridge, str(netdef.mac), stp=bool(netdef.stp), delay=int(netdef.delay or 0), mtu=netdef.mtu
        )
        undo.append(("delete bridge", lambda: br.delete_link(bridge)))
        br.set_ipv6_sysctls(bridge, bool(v6))
        if mode != "open":
            rules = firewall.render_rules(netdef)
            if rules is not None:
                rt.firewall = rules
                await firewall.add_rules(rules)
                undo.append(("remove firewall rules", lambda: firewall.remove_rules(rules)))
        for ip in v4 + v6:
            await br.add_address(bridge, str(ip.address), int(ip.prefix))
        await br.set_online(bridge, True)
        undo.append(("bridge down", lambda: br.set_online(bridge, False)))
        for address, prefix, gateway, metric in routes:
            if not gateway:
                continue
            try:
                await br.add_route(bridge, address, prefix, gateway, metric)
            except VirtError as err:
                log.debug("ignoring failure to add route %s/%s: %s", address, prefix, err)
        if mode != "none":
            br.enable_forwarding(bool(v4), bool(v6))
        if v4 or v6:
            paths.ensure_dirs()
            created = []
            for path in (paths.macs(bridge), paths.status(bridge)):
                if not path.exists():
                    created.append(path)
            if paths.macs(bridge) in created:
                paths.macs(bridge).write_text("[]\n")
            undo.append(("remove files", lambda: _undo_files(created)))
        if dnsmasq.needs_dnsmasq(netdef):
            undo.append(("remove dnsmasq files", lambda: _remove_dnsmasq_files(name, paths)))
            rt.uses_dnsmasq = True
            rt.dnsmasq_pid = await dnsmasq.start(netdef, paths)
            pid = rt.dnsmasq_pid
            undo.append(("stop dnsmasq", lambda: dnsmasq.stop(pid, paths.conf(name))))
    except BaseException as err:
        detail = err.message if isinstance(err, VirtError) else repr(err)
        log.error("failed to start network %s: %s", name, detail)
        for what, action in reversed(undo):
            try:
                await action()
            except Exception:
                log.debug("rollback step '%s' of network %s failed", what, name, exc_info=True)
        raise
    rt.started = time.time()
    log.debug("network %s started in %.3fs", name, time.monotonic() - t0)
    return rt


async def _remove_dnsmasq_files(name: str, paths: NetworkPaths) -> None:
    for path in (paths.conf(name), paths.hostsfile(name), paths.addnhosts(name), paths.pidfile(name)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def _stop_dnsmasq(rt: NetworkRuntime, paths: NetworkPaths) -> None:
    conf = paths.conf(rt.name)
    known = [rt.dnsmasq_pid, dnsmasq.read_pidfile(paths.pidfile(rt.name))]
    # In this order, without repeats: the daemon before its lease-script helper,
    # which ignores SIGTERM (stopping it first waited 5 s for the SIGKILL).
    pids = dict.fromkeys(p for p in [*known, *dnsmasq.find_pids(conf)] if p)
    for pid in pids:
        await dnsmasq.stop(pid, conf)
    rt.dnsmasq_pid = None
    with contextlib.suppress(FileNotFoundError):
        paths.pidfile(rt.name).unlink()


async def stop(rt: NetworkRuntime, paths: NetworkPaths) -> None:
    """Tear the network down: dnsmasq, bridge down, firewall rules, bridge.

    Every step runs even when an earlier one fails or its object is already
    gone (dnsmasq killed behind our back, bridge deleted by hand).  Raises the
    first VirtError encountered, after all steps were tried.
    """
    t0 = time.monotonic()
    errors: list[VirtError] = []

    async def step(what: str, action: Callable[[], Awaitable[Any]]) -> None:
        try:
            await action()
        except VirtError as err:
            log.error("network %s: %s failed: %s", rt.name, what, err.message)
            errors.append(err)
        except OSError as err:
            log.error("network %s: %s failed: %s", rt.name, what, err)
            errors.append(internal_error(f"{what} failed: {err}", ErrorDomain.NETWORK))

    await step("stopping dnsmasq", lambda: _stop_dnsmasq(rt, paths))

    async def _down() -> None:
        if await br.link_exists(rt.bridge):
            await br.set_online(rt.bridge, False)

    await step("bridge down", _down)
    if rt.firewall is not None:
        fw = rt.firewall
        await step("removing firewall rules", lambda: firewall.remove_rules(fw))
    await step("deleting bridge", lambda: br.delete_link(rt.bridge))
    log.debug("network %s stopped in %.3fs", rt.name, time.monotonic() - t0)
    if errors:
        raise errors[0]


async def check(netdef: Any, rt: NetworkRuntime, paths: NetworkPaths) -> CheckResult:
    """Reattach after a daemon restart: verify bridge, rules and dnsmasq; repair what can be repaired.

    Missing firewall rules are re-added and a dead dnsmasq is restarted (the
    runtime's pid is updated).  Raises VirtError (VIR_ERR_INTERNAL_ERROR)
    when the bridge is gone, since the network cannot be repaired then, or when
    a repair fails.
    """
    result = CheckResult()
    if not await br.link_exists(rt.bridge):
        result.bridge_present = False
        raise internal_error(f"bridge '{rt.bridge}' of network '{rt.name}' is missing", ErrorDomain.NETWORK)
    if rt.firewall is not None and not await firewall.rules_present(rt.firewall):
        log.info("network %s: firewall rules missing, re-adding them", rt.name)
        await firewall.add_rules(rt.firewall)
        result.firewall_repaired = True
    if rt.uses_dnsmasq and not dnsmasq.is_running(rt.dnsmasq_pid, paths.conf(rt.name)):
        found = dnsmasq.read_pidfile(paths.pidfile(rt.name))
        if found and dnsmasq.is_running(found, paths.conf(rt.name)):
            rt.dnsmasq_pid = found
        else:
            log.info("network %s: dnsmasq not running, restarting it", rt.name)
            rt.dnsmasq_pid = await dnsmasq.start(netdef, paths)
            result.dnsmasq_restarted = True
    return result


async def update_hosts(netdef: Any, rt: NetworkRuntime, paths: NetworkPaths) -> None:
    """Rewrite the hostsfile/addnhosts from ``netdef`` and SIGHUP dnsmasq (start it if dead).

    Raises VirtError when files cannot be written or dnsmasq cannot be (re)started.
    """
    if not rt.uses_dnsmasq:
        if dnsmasq.needs_dnsmasq(netdef):
            await restart_dnsmasq(netdef, rt, paths)
        return
    dnsmasq.write_hosts_files(netdef, paths)
    if dnsmasq.is_running(rt.dnsmasq_pid, paths.conf(rt.name)):
        dnsmasq.reload(rt.dnsmasq_pid, paths.conf(rt.name))
    else:
        rt.dnsmasq_pid = await dnsmasq.start(netdef, paths)


def dnsmasq_alive(name: str, pid: int | None, paths: NetworkPaths) -> bool:
    """True when ``pid`` is the running dnsmasq of network ``name``."""
    return dnsmasq.is_running(pid, paths.conf(name))


async def restart_dnsmasq(netdef: Any, rt: NetworkRuntime, paths: NetworkPaths) -> None:
    """Stop dnsmasq and start it with a freshly written configuration (if still needed).

    Raises VirtError when the new dnsmasq fails to start.
    """
    await _stop_dnsmasq(rt, paths)
    rt.uses_dnsmasq = dnsmasq.needs_dnsmasq(netdef)
    if rt.uses_dnsmasq:
        rt.dnsmasq_pid = await dnsmasq.start(netdef, paths)


async def update_port_forwards(netdef: Any, rt: NetworkRuntime, paths: NetworkPaths) -> None:
    """Re-render the network's rules (port forwards included) and swap them in one transaction.

    Raises VirtError (VIR_ERR_CONFIG_UNSUPPORTED for an inexpressible forward,
    or nft's error); the old rules stay in place then.
    """
    if rt.forward_mode == "open":
        return
    rules = firewall.render_rules(netdef)
    if rules is None:
        return
    await firewall.add_rules(rules)
    rt.firewall = rules


async def apply_update(netdef: Any, rt: NetworkRuntime, paths: NetworkPaths, section: int) -> None:
    """Apply a live ``net-update`` of ``section`` (virNetworkUpdateSection) to the running network.

    DHCP hosts and DNS hosts: hosts files + SIGHUP.  Ranges, TXT, SRV, domain,
    IP: dnsmasq restart.  Forward, IP, forward interfaces and port forwards
    (section 1000): firewall rules re-rendered in one transaction.  Raises VirtError.
    """
    if section in (SECTION_IP_DHCP_HOST, SECTION_DNS_HOST):
        await update_hosts(netdef, rt, paths)
        return
    if section in (
        SECTION_IP,
        SECTION_FORWARD,
        SECTION_FORWARD_INTERFACE,
        SECTION_FORWARD_PF,
        SECTION_PORT_FORWARD,
    ):
        await update_port_forwards(netdef, rt, paths)
    if section in (
        SECTION_BRIDGE,
        SECTION_DOMAIN,
        SECTION_IP,
        SECTION_IP_DHCP_RANGE,
        SECTION_DNS_TXT,
        SECTION_DNS_SRV,
    ):
        await restart_dnsmasq(netdef, rt, paths)


def dhcp_leases(netdef: Any, paths: NetworkPaths, mac: str | None = None) -> list[dict[str, Any]]:
    """The network's live leases as ``remote_network_dhcp_lease`` dicts.  Raises VirtError."""
    return [
        {
            "iface": lease.iface,
            "expirytime": lease.expirytime,
            "type": lease.type,
            "mac": lease.mac,
            "iaid": lease.iaid,
            "ipaddr": lease.ipaddr,
            "prefix": lease.prefix,
            "hostname": lease.hostname,
            "clientid": lease.clientid,
        }
        for lease in leases.network_leases(netdef, paths, mac)
    ]


def remove_files(name: str, bridge: str | None, paths: NetworkPaths) -> None:
    """Delete the network's dnsmasq files (conf, hosts, pid; status and macs with ``bridge``): undefine."""
    dnsmasq.remove_files(name, paths, bridge=bridge)
