"""Reading DHCP leases from ``BRIDGE.status`` the way libvirt's ``networkGetDHCPLeases`` does.

* a missing or empty file means no leases;
* entries with ``expiry-time > 0`` and ``< now`` are skipped (0 means infinite);
* an entry without ``mac-address``, ``expiry-time`` or ``ip-address`` is an error;
* the type is IPv6 when the address contains ``:``; the prefix is that of the
  network's first ``<ip>`` of the same family;
* the optional MAC filter compares case-insensitively.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from pyvirt.errors import ErrorDomain, internal_error, system_error
from pyvirt.lazydataclass import dataclass

from .paths import NetworkPaths

log = logging.getLogger(__name__)

LEASE_TYPE_IPV4 = 0  # VIR_IP_ADDR_TYPE_IPV4
LEASE_TYPE_IPV6 = 1  # VIR_IP_ADDR_TYPE_IPV6
MAX_FILE_SIZE = 32 * 1024 * 1024


@dataclass(frozen=True)
class Lease:
    """One lease, with the fields of libvirt's ``virNetworkDHCPLease``."""

    iface: str
    expirytime: int
    type: int
    mac: str
    iaid: str | None
    ipaddr: str
    prefix: int
    hostname: str | None
    clientid: str | None


def read_leases(
    status_path: str | Path,
    now: int | None = None,
    *,
    iface: str = "",
    prefix_v4: int = 0,
    prefix_v6: int = 0,
    mac: str | None = None,
) -> list[Lease]:
    """Return the live leases of ``status_path`` (libvirt's rules, see the module docstring).

    Raises VirtError (VIR_ERR_INTERNAL_ERROR) for malformed content and
    VIR_ERR_SYSTEM_ERROR when the file cannot be read.
    """
    path = Path(status_path)
    try:
        with path.open(encoding="utf-8") as f:
            text = f.read(MAX_FILE_SIZE)
    except FileNotFoundError:
        return []
    except OSError as err:
        raise system_error(f"Unable to read {path}", err, ErrorDomain.NETWORK) from err
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except ValueError as err:
        raise internal_error(f"invalid json in file: {path}", ErrorDomain.NETWORK) from err
    if not isinstance(data, list):
        raise internal_error("Malformed lease_entries array", ErrorDomain.NETWORK)
    now = int(time.time()) if now is None else now
    want_mac = mac.lower() if mac else None
    out: list[Lease] = []
    for entry in data:
        if not isinstance(entry, dict):
            raise internal_error("failed to parse json", ErrorDomain.NETWORK)
        expiry = entry.get("expiry-time")
        if isinstance(expiry, bool) or not isinstance(expiry, int):
            raise internal_error("found lease without expiry-time", ErrorDomain.NETWORK)
        if 0 < expiry < now:
            continue
        lease_mac = entry.get("mac-address")
        if not isinstance(lease_mac, str):
            raise internal_error("found lease without mac-address", ErrorDomain.NETWORK)
        if want_mac is not None and lease_mac.lower() != want_mac:
            continue
        ip = entry.get("ip-address")
        if not isinstance(ip, str):
            raise internal_error("found lease without ip-address", ErrorDomain.NETWORK)
        v6 = ":" in ip
        out.append(
            Lease(
                iface=iface,
                expirytime=expiry,
                type=LEASE_TYPE_IPV6 if v6 else LEASE_TYPE_IPV4,
                mac=lease_mac,
                iaid=_opt_str(entry.get("iaid")) if v6 else None,
                ipaddr=ip,
                prefix=prefix_v6 if v6 else prefix_v4,
                hostname=_opt_str(entry.get("hostname")),
                clientid=_opt_str(entry.get("client-id")),
            )
        )
    return out


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def network_leases(
    netdef: Any, paths: NetworkPaths, mac: str | None = None, now: int | None = None
) -> list[Lease]:
    """The leases of a running network ``netdef`` (uses its bridge and first ``<ip>`` prefixes).

    Raises VirtError like :func:`read_leases`.
    """
    bridge = netdef.bridge or ""
    prefix_v4 = prefix_v6 = 0
    for ip in netdef.ips:
        if ip.family == "ipv6":
            prefix_v6 = prefix_v6 or int(ip.prefix)
        else:
            prefix_v4 = prefix_v4 or int(ip.prefix)
    return read_leases(
        paths.status(bridge), now, iface=bridge, prefix_v4=prefix_v4, prefix_v6=prefix_v6, mac=mac
    )
