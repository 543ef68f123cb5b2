"""``pyvirt-leaseshelper``: the ``--dhcp-script`` dnsmasq runs for every lease change.

dnsmasq calls it as ``add|old|del|init MAC|CLIENTID IP [HOSTNAME]`` (``init``
without further arguments) with the lease details in ``DNSMASQ_*`` variables.
It keeps ``BRIDGE.status``, a pretty-printed JSON array like libvirt's
``libvirt_leaseshelper``, in the directory named by ``PYVIRT_STATUS_DIR``
(dnsmasq passes its own environment on to the script; the runtime starts
dnsmasq with that variable and ``VIR_BRIDGE_NAME``).

The file is rewritten atomically (temporary file + rename) under an exclusive
``flock`` on the status directory, so concurrent helpers of several networks
and the daemon's readers never see a torn file.  Only the standard library is
imported: dnsmasq waits for the script, so it must start fast.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from typing import Any

DEFAULT_STATUS_DIR = "/var/lib/pyvirt/dnsmasq"
MAX_FILE_SIZE = 32 * 1024 * 1024
ACTIONS = ("add", "old", "del", "init")


def _usage(prog: str) -> str:
    return (
        f"Usage: {prog} add|old|del|init mac|clientid ip [hostname]\n"
        "Designed for use with 'dnsmasq --dhcp-script'\n"
    )


def read_status(path: str) -> list[dict[str, Any]]:
    """Return the lease objects of a status file ([] when missing, empty or not valid JSON).

    Raises ValueError when the file holds valid JSON that is not an array.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_FILE_SIZE)
    except FileNotFoundError:
        return []
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except ValueError:
        # libvirt: "invalid json in file: %s, rewriting it"
        sys.stderr.write(f"invalid json in file: {path}, rewriting it\n")
        return []
    if not isinstance(data, list):
        raise ValueError("couldn't fetch array of leases")
    return [x for x in data if isinstance(x, dict)]


def format_status(leases: list[dict[str, Any]]) -> str:
    """The status file text: libvirt's pretty JSON (2-space indent, trailing newline)."""
    return json.dumps(leases, indent=2) + "\n"


def write_status(path: str, leases: list[dict[str, Any]]) -> None:
    """Replace ``path`` atomically with ``leases`` (mode 0644).  Raises OSError."""
    tmp = f"{path}.new"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.fchmod(fd, 0o644)
        os.write(fd, format_status(leases).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def _expiry(lease: dict[str, Any]) -> int | None:
    value = lease.get("expiry-time")
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def filter_leases(leases: list[dict[str, Any]], now: int, ip_to_delete: str | None) -> list[dict[str, Any]]:
    """Keep leases that are well formed, not expired and not for ``ip_to_delete``."""
    kept = []
    for lease in leases:
        ip = lease.get("ip-address")
        exp = _expiry(lease)
        if not isinstance(ip, str) or exp is None:
            continue
        if 0 < exp < now:
            continue
        if ip_to_delete is not None and ip == ip_to_delete:
            continue
        kept.append(lease)
    return kept


def new_lease(
    env: dict[str, str], mac: str | None, clientid: str | None, ip: str, hostname: str | None
) -> dict[str, Any] | None:
    """Build the lease object in libvirt's key order, or None when the MAC is unknown.

    Raises ValueError when DNSMASQ_LEASE_EXPIRES is missing or not a number.
    """
    if not hostname:
        hostname = env.get("DNSMASQ_OLD_HOSTNAME") or None
    if not mac:
        return None
    exptime = (env.get("DNSMASQ_LEASE_EXPIRES") or "").strip()
    try:
        expiry = int(exptime)
    except ValueError:
        raise ValueError(f"Unable to convert lease expiry time to long long: {exptime}") from None
    lease: dict[str, Any] = {}
    iaid = env.get("DNSMASQ_IAID")
    if iaid:
        lease["iaid"] = iaid
    lease["ip-address"] = ip
    lease["mac-address"] = mac
    if hostname:
        lease["hostname"] = hostname
    if clientid:
        lease["client-id"] = clientid
    duid = env.get("DNSMASQ_SERVER_DUID")
    if duid:
        lease["server-duid"] = duid
    lease["expiry-time"] = expiry
    return lease


def format_init(leases: list[dict[str, Any]], server_duid: str | None) -> str:
    """dnsmasq's lease-file format for ``init``: IPv4 lines, then ``duid`` and IPv6 lines."""
    out = []
    for lease in leases:
        ip = str(lease.get("ip-address", ""))
        if ":" not in ip:
            out.append(
                f"{lease.get('expiry-time', 0)} {lease.get('mac-address')} {ip} "
                f"{lease.get('hostname') or '*'} {lease.get('client-id') or '*'}\n"
            )
    if server_duid:
        out.append(f"duid {server_duid}\n")
        for lease in leases:
            ip = str(lease.get("ip-address", ""))
            if ":" in ip:
                out.append(
                    f"{lease.get('expiry-time', 0)} {lease.get('iaid')} {ip} "
                    f"{lease.get('hostname') or '*'} {lease.get('client-id') or '*'}\n"
                )
    return "".join(out)


def run(argv: list[str], env: dict[str, str], now: int | None = None) -> int:
    """Do what dnsmasq asked; returns the exit status.  Errors go to stderr (dnsmasq logs them)."""
    prog = os.path.basename(argv[0]) if argv else "pyvirt-leaseshelper"
    args = argv[1:]
    if args and args[0] == "--help":
        sys.stdout.write(_usage(prog))
        return 0
    if len(args) not in (1, 3, 4):
        sys.stderr.write(_usage(prog))
        return 1
    action = args[0]
    if action not in ACTIONS:
        # dnsmasq may add actions (arp-add, tftp, ...): ignore them quietly.
        return 0
    if action != "init" and len(args) < 3:
        sys.stderr.write(_usage(prog))
        return 1
    iface = env.get("DNSMASQ_INTERFACE") or env.get("VIR_BRIDGE_NAME")
    if not iface or "/" in iface:
        sys.stderr.write("interface not set\n")
        return 1
    status_dir = env.get("PYVIRT_STATUS_DIR") or DEFAULT_STATUS_DIR
    path = os.path.join(status_dir, f"{iface}.status")
    now = int(time.time()) if now is None else now

    mac: str | None = None
    ip = ""
    clientid = env.get("DNSMASQ_CLIENT_ID") or None
    hostname = env.get("DNSMASQ_SUPPLIED_HOSTNAME") or None
    if action != "init":
        mac, ip = args[1], args[2]
        if len(args) == 4 and args[3]:
            hostname = args[3]
        if env.get("DNSMASQ_IAID"):
            mac = env.get("DNSMASQ_MAC") or None
            clientid = args[1]

    try:
        dirfd = os.open(status_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        sys.stderr.write(f"cannot open {status_dir}: {err.strerror}\n")
        return 1
    try:
        fcntl.flock(dirfd, fcntl.LOCK_EX)
        lease = None
        delete = False
        if action in ("add", "old"):
            lease = new_lease(env, mac, clientid, ip, hostname)
            delete = lease is not None
        elif action == "del":
            delete = True
        leases = filter_leases(read_status(path), now, ip if delete else None)
        if action == "init":
            # like libvirt: make sure the file exists (empty) once dnsmasq has started
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
            server_duid = env.get("DNSMASQ_SERVER_DUID")
            for existing in leases:
                if ":" in str(existing.get("ip-address", "")) and existing.get("server-duid"):
                    server_duid = server_duid or str(existing["server-duid"])
            sys.stdout.write(format_init(leases, server_duid))
            sys.stdout.flush()
            return 0
        if lease is not None:
            leases.append(lease)
        write_status(path, leases)
        return 0
    except (OSError, ValueError) as err:
        sys.stderr.write(f"{prog}: {err}\n")
        return 1
    finally:
        os.close(dirfd)


def main() -> None:
    """Console-script entry point (``pyvirt-leaseshelper``)."""
    sys.exit(run(sys.argv, dict(os.environ)))


if __name__ == "__main__":
    main()
