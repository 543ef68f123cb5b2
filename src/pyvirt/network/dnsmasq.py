"""dnsmasq for a virtual network: configuration text (libvirt's, line for line) and the process.

Configuration follows libvirt's ``networkDnsmasqConfContents``: the six ``##``
header lines, then ``strict-order`` and the other lines in libvirt's order,
with our paths (:class:`~pyvirt.network.paths.NetworkPaths`).

The process is started like libvirt starts it::

    dnsmasq --conf-file=DIR/NAME.conf --leasefile-ro --dhcp-script=BIN/pyvirt-leaseshelper

with ``VIR_BRIDGE_NAME=<bridge>`` and ``PYVIRT_STATUS_DIR=<dnsmasq dir>`` added to
the environment (dnsmasq hands its environment on to the script, which runs as
root even though dnsmasq itself drops to ``nobody``).  dnsmasq daemonizes; its
leader exits only after the pid file is written, so we wait for the leader,
then read and verify the pid.

NetworkDef fields used: ``name``, ``bridge``, ``mtu``, ``forward_mode``,
``domain_name``, ``domain_local_only``, ``dns`` and ``ips`` (see
docs/INTERNALS.md).  Sub-fields not fixed there are read leniently:
``dns.enable`` (bool | None), ``dns.forward_plain_names``, ``dns.forwarders``
(``domain``, ``addr``), ``dns.txts`` (``name``, ``value``), ``dns.srvs``
(``service``, ``protocol``, ``domain``, ``target``, ``port``, ``priority``,
``weight``), ``dns.hosts`` (``ip``, ``hostnames``), ``ip.local_ptr``,
``ip.tftp_root``, ``ip.bootp_file``, ``ip.bootp_server``, ``dnsmasq_options``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pyvirt.errors import ErrorDomain, VirtError, config_unsupported, internal_error, system_error

from .paths import NetworkPaths

log = logging.getLogger(__name__)

HELPER_NAME = "pyvirt-leaseshelper"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


# ---------------------------------------------------------------- netdef access


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    value = getattr(obj, name, default)
    return default if value is None else value


def want_dns(netdef: Any) -> bool:
    """True unless ``<dns enable='no'>``."""
    return _get(_get(netdef, "dns"), "enable", None) is not False


def _is_v6(ip: Any) -> bool:
    return str(_get(ip, "family", "ipv4")) == "ipv6"


def _has_dhcp(ip: Any) -> bool:
    return bool(_get(ip, "dhcp_ranges", ())) or bool(_get(ip, "dhcp_hosts", ()))


def dhcp_ips(netdef: Any) -> tuple[Any | None, Any | None]:
    """The first IPv4 and IPv6 ``<ip>`` with DHCP (ranges or hosts).

    Raises VirtError (VIR_ERR_CONFIG_UNSUPPORTED) when a family has two.
    """
    v4 = v6 = None
    for ip in _get(netdef, "ips", ()):
        if not _has_dhcp(ip):
            continue
        if _is_v6(ip):
            if v6 is not None:
                raise config_unsupported(
                    "For IPv6, multiple DHCP definitions cannot be specified.", ErrorDomain.NETWORK
                )
            v6 = ip
        else:
            if v4 is not None:
                raise config_unsupported(
                    "For IPv4, multiple DHCP definitions cannot be specified.", ErrorDomain.NETWORK
                )
            v4 = ip
    return v4, v6


def needs_dnsmasq(netdef: Any) -> bool:
    """libvirt's rule: an ``<ip>`` exists, and DHCP/TFTP is configured or DNS is not disabled."""
    ips = list(_get(netdef, "ips", ()))
    if not ips:
        return False
    need = any(_has_dhcp(ip) or _get(ip, "tftp_root") for ip in ips)
    return need or want_dns(netdef)


def format_lease_time(lease: Any) -> str | None:
    """dnsmasq's lease time: ``infinite`` for 0, else ``Nh``/``Nm``/``Ns``.

    ``lease`` is seconds (int), None, or an object with ``expiry`` and ``unit``
    ("seconds"/"minutes"/"hours") as in the XML.
    """
    if lease is None:
        return None
    if not isinstance(lease, int):
        expiry = int(_get(lease, "expiry", 0))
        unit = str(_get(lease, "unit", "minutes"))
        return "infinite" if expiry == 0 else f"{expiry}{unit[0]}"
    if lease == 0:
        return "infinite"
    if lease % 3600 == 0:
        return f"{lease // 3600}h"
    if lease % 60 == 0:
        return f"{lease // 60}m"
    return f"{lease}s"


def _range_size(start: str, end: str) -> int:
    """libvirt's virSocketAddrGetRange size (last 16 bits for IPv4, last 16 for IPv6)."""
    a = ipaddress.ip_address(start)
    b = ipaddress.ip_address(end)
    if a.version == 4:
        return (int(b) & 0xFFFF) - (int(a) & 0xFFFF) + 1
    return (int(b) & 0xFFFF) - (int(a) & 0xFFFF) + 1


def _ptr_domain(ip: Any) -> str:
    addr = ipaddress.ip_address(str(_get(ip, "address")))
    prefix = int(_get(ip, "prefix", 0))
    if addr.version == 4:
        if prefix == 0 or prefix >= 32 or prefix % 8:
            raise config_unsupported(
                f"PTR domain for IPv4 network with prefix {prefix} cannot be automatically created",
                ErrorDomain.NETWORK,
            )
        octets = str(addr).split(".")[: prefix // 8]
        return ".".join(reversed(octets)) + ".in-addr.arpa"
    if prefix == 0 or prefix >= 128 or prefix % 4:
        raise config_unsupported(
            f"PTR domain for IPv6 network with prefix {prefix} cannot be automatically created",
            ErrorDomain.NETWORK,
        )
    nibbles = addr.exploded.replace(":", "")[: prefix // 4]
    return ".".join(reversed(nibbles)) + ".ip6.arpa"


# ---------------------------------------------------------------- file contents


def _dhcp_lines(ip: Any, v6: bool) -> tuple[list[str], int]:
    lines: list[str] = []
    leases = 0
    prefix = int(_get(ip, "prefix", 0))
    for rng in _get(ip, "dhcp_ranges", ()):
        if hasattr(rng, "start"):  # conf.network.DhcpRange: keep the XML's unit
            start, end, lease = str(rng.start), str(rng.end), getattr(rng, "lease", None)
        else:  # (start, end[, lease_seconds])
            start, end = str(rng[0]), str(rng[1])
            lease = rng[2] if len(rng) > 2 else None
        if v6:
            line = f"dhcp-range={start},{end},{prefix}"
        else:
            mask = ipaddress.IPv4Network(f"0.0.0.0/{prefix}").netmask
            line = f"dhcp-range={start},{end},{mask}"
        lt = format_lease_time(lease)
        if lt:
            line += f",{lt}"
        lines.append(line)
        leases += _range_size(start, end)
    if not _get(ip, "dhcp_ranges", ()) and _get(ip, "dhcp_hosts", ()):
        line = f"dhcp-range={_get(ip, 'address')},static"
        if v6:
            line += f",{prefix}"
        lines.append(line)
    if not v6:
        lines += ["dhcp-no-override", "dhcp-authoritative"]
        bootfile = _get(ip, "bootp_file")
        if bootfile:
            server = _get(ip, "bootp_server")
            lines.append(f"dhcp-boot={bootfile},,{server}" if server else f"dhcp-boot={bootfile}")
    return lines, leases


def build_config(netdef: Any, paths: NetworkPaths) -> str:
    """Return the dnsmasq configuration text for ``netdef``, as libvirt writes it.

    Raises VirtError (VIR_ERR_CONFIG_UNSUPPORTED / VIR_ERR_INTERNAL_ERROR) for
    definitions libvirt refuses here (two DHCP ``<ip>`` of one family, bad PTR prefix).
    """
    name = netdef.name
    dns = _get(netdef, "dns")
    wdns = want_dns(netdef)
    out = [
        "##WARNING:  THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE",
        "##OVERWRITTEN AND LOST.  Changes to this configuration should be made using:",
        f"##    virsh net-edit {name}",
        "## or other application using the libvirt API.",
        "##",
        "## dnsmasq conf file created by libvirt",
        "strict-order",
    ]
    if not wdns:
        out.append("port=0")
    forwarders = list(_get(dns, "forwarders", ()))
    if wdns and forwarders:
        no_resolv = False
        for fwd in forwarders:
            domain = _get(fwd, "domain")
            addr = _get(fwd, "addr") or _get(fwd, "address")
            line = "server="
            if domain:
                line += f"/{domain}/"
            if addr:
                line += str(addr)
                if not domain:
                    no_resolv = True
            else:
                line += "#"
            out.append(line)
        if no_resolv:
            out.append("no-resolv")
    domain = _get(netdef, "domain_name")
    if domain:
        if _get(netdef, "domain_local_only") is True:
            out.append(f"local=/{domain}/")
        out += [f"domain={domain}", "expand-hosts"]
    if wdns:
        for ip in _get(netdef, "ips", ()):
            if _get(ip, "local_ptr") is True:
                out.append(f"local=/{_ptr_domain(ip)}/")
    if wdns and _get(dns, "forward_plain_names") is False:
        out += ["domain-needed", "local=//"]
    out.append(f"pid-file={paths.pidfile(name)}")
    out += ["except-interface=lo", "bind-dynamic", f"interface={netdef.bridge}"]
    if str(_get(netdef, "forward_mode", "none")) == "none":
        out += ["dhcp-option=3", "no-resolv", "ra-param=*,0,0"]
    if wdns:
        for txt in _get(dns, "txts", ()):
            out.append(f"txt-record={_get(txt, 'name')},{_get(txt, 'value')}")
        for srv in _get(dns, "srvs", ()):
            line = f"srv-host=_{_get(srv, 'service')}._{_get(srv, 'protocol')}"
            if _get(srv, "domain"):
                line += f".{_get(srv, 'domain')}"
            target = _get(srv, "target")
            if target and target != ".":
                line += f",{target}"
                port, prio, weight = (int(_get(srv, k, 0)) for k in ("port", "priority", "weight"))
                if port or prio or weight:
                    line += f",{port or 1}"
                if prio or weight:
                    line += f",{prio}"
                if weight:
                    line += f",{weight}"
            out.append(line)
    ipv4def, ipv6def = dhcp_ips(netdef)
    tftp_enabled = False
    for ip in _get(netdef, "ips", ()):
        if not _is_v6(ip) and _get(ip, "tftp_root"):
            if not tftp_enabled:
                out.append("enable-tftp")
                tftp_enabled = True
            out.append(f"tftp-root={_get(ip, 'tftp_root')}")
    nbleases = 0
    for ip, v6 in ((ipv4def, False), (ipv6def, True)):
        if ip is not None:
            lines, n = _dhcp_lines(ip, v6)
            out += lines
            nbleases += n
    if nbleases > 0:
        out.append(f"dhcp-lease-max={nbleases}")
    if ipv4def is not None or ipv6def is not None:
        out.append(f"dhcp-hostsfile={paths.hostsfile(name)}")
    if wdns:
        out.append(f"addn-hosts={paths.addnhosts(name)}")
    mtu = _get(netdef, "mtu")
    if mtu:
        out.append(f"dhcp-option=option:mtu,{mtu}")
    if ipv6def is not None:
        out.append("enable-ra")
    else:
        for ip in _get(netdef, "ips", ()):
            if _is_v6(ip) and not _has_dhcp(ip):
                out.append(f"dhcp-range={_get(ip, 'address')},ra-only")
    out += [str(o) for o in _get(netdef, "dnsmasq_options", ())]
    return "".join(line + "\n" for line in out)


def build_hostsfile(netdef: Any) -> str:
    """The ``dhcp-hostsfile`` text: one ``mac,ip[,name][,lease]`` line per ``<host>``."""
    ipv4def, ipv6def = dhcp_ips(netdef)
    lines = []
    for ip, v6 in ((ipv4def, False), (ipv6def, True)):
        if ip is None:
            continue
        for host in _get(ip, "dhcp_hosts", ()):
            addr = _get(host, "ip")
            if not addr:
                continue
            mac, name, hid = _get(host, "mac"), _get(host, "name"), _get(host, "id")
            if v6:
                if name and hid:
                    line = f"id:{hid},{name}"
                elif name:
                    line = str(name)
                elif hid:
                    line = f"id:{hid}"
                else:
                    line = ""
                line += f",[{addr}]"
            elif name and mac:
                line = f"{mac},{addr},{name}"
            elif name:
                line = f"{name},{addr}"
            else:
                line = f"{mac},{addr}"
            lt = format_lease_time(_get(host, "lease"))
            if lt:
                line += f",{lt}"
            lines.append(line + "\n")
    return "".join(lines)


def build_addnhosts(netdef: Any) -> str:
    """The ``addn-hosts`` text: ``ip<TAB>name<TAB>...<TAB>`` per address of ``<dns><host>``."""
    groups: dict[str, list[str]] = {}
    for host in _get(_get(netdef, "dns"), "hosts", ()):
        ip = _get(host, "ip")
        if not ip:
            continue
        names = _get(host, "hostnames", None) or _get(host, "names", ())
        groups.setdefault(str(ip), []).extend(str(n) for n in names)
    return "".join(ip + "\t" + "".join(n + "\t" for n in names) + "\n" for ip, names in groups.items())


def _write(path: Path, text: str, mode: int) -> None:
    """Write ``text`` to ``path`` atomically with ``mode``.  Raises OSError."""
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_hosts_files(netdef: Any, paths: NetworkPaths) -> None:
    """(Re)write ``NAME.hostsfile`` and ``NAME.addnhosts`` (0644).

    Raises VirtError (VIR_ERR_SYSTEM_ERROR) when a file cannot be written.
    """
    for path, text in (
        (paths.hostsfile(netdef.name), build_hostsfile(netdef)),
        (paths.addnhosts(netdef.name), build_addnhosts(netdef)),
    ):
        try:
            _write(path, text, 0o644)
        except OSError as err:
            raise system_error(f"cannot write config file '{path}'", err, ErrorDomain.NETWORK) from err


def write_files(netdef: Any, paths: NetworkPaths) -> None:
    """Write the conf file (0600), hostsfile and addnhosts for ``netdef``.

    Raises VirtError (system error when writing fails, or the errors of :func:`build_config`).
    """
    text = build_config(netdef, paths)
    try:
        paths.ensure_dirs()
        _write(paths.conf(netdef.name), text, 0o600)
    except OSError as err:
        raise system_error(
            f"couldn't write dnsmasq config file '{paths.conf(netdef.name)}'", err, ErrorDomain.NETWORK
        ) from err
    write_hosts_files(netdef, paths)


def remove_files(name: str, paths: NetworkPaths, *, bridge: str | None = None) -> None:
    """Remove the network's conf, hostsfile, addnhosts and pid file (and status/macs if ``bridge``)."""
    victims = [paths.conf(name), paths.hostsfile(name), paths.addnhosts(name), paths.pidfile(name)]
    if bridge:
        victims += [paths.status(bridge), paths.macs(bridge)]
    for path in victims:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# ---------------------------------------------------------------- process


def helper_path() -> str:
    """The ``pyvirt-leaseshelper`` console script next to ``sys.executable`` (else on PATH).

    Raises VirtError (VIR_ERR_INTERNAL_ERROR) when it cannot be found.
    """
    candidate = Path(sys.executable).parent / HELPER_NAME
    if os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which(HELPER_NAME)
    if found:
        return found
    raise internal_error(f"cannot find {HELPER_NAME} next to {sys.executable}", ErrorDomain.NETWORK)


def dnsmasq_binary() -> str:
    """Path of dnsmasq.  Raises VirtError (VIR_ERR_SYSTEM_ERROR) when not installed."""
    found = shutil.which("dnsmasq") or next(
        (p for p in ("/usr/sbin/dnsmasq", "/sbin/dnsmasq") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise VirtError(38, ErrorDomain.NETWORK, "Unable to find 'dnsmasq' binary in $PATH: No such file")
    return found


def command_line(netdef: Any, paths: NetworkPaths) -> list[str]:
    """dnsmasq's argv, as libvirt builds it (everything else is in the conf file)."""
    return [
        dnsmasq_binary(),
        f"--conf-file={paths.conf(netdef.name)}",
        "--leasefile-ro",
        f"--dhcp-script={helper_path()}",
    ]


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def is_running(pid: int | None, conf_path: str | Path) -> bool:
    """True when ``pid`` is alive and is a dnsmasq started with ``--conf-file=conf_path``."""
    if not pid or pid <= 0:
        return False
    argv = _cmdline(pid)
    if not argv or os.path.basename(argv[0]) != "dnsmasq":
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state in ("Z", "X"):
        return False
    return f"--conf-file={conf_path}" in argv


def read_pidfile(path: Path) -> int | None:
    """The pid in ``path``, or None when missing or unreadable."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


async def start(netdef: Any, paths: NetworkPaths, *, write: bool = True) -> int:
    """Write the files (unless ``write`` is False) and start dnsmasq; return its pid.

    Raises VirtError: VIR_ERR_INTERNAL_ERROR with dnsmasq's stderr when it fails
    to start (e.g. a port in use), VIR_ERR_OPERATION_TIMEOUT when it hangs, and
    the errors of :func:`write_files`.
    """
    name = netdef.name
    if write:
        write_files(netdef, paths)
    else:
        paths.ensure_dirs()
    pidfile = paths.pidfile(name)
    with contextlib.suppress(FileNotFoundError):
        pidfile.unlink()
    argv = command_line(netdef, paths)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSMASQ_")}
    env["VIR_BRIDGE_NAME"] = str(netdef.bridge)
    env["PYVIRT_STATUS_DIR"] = str(paths.dnsmasq_dir)
    log.debug("starting %s", " ".join(argv))
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as err:
        raise system_error(f"Cannot run {argv[0]}", err, ErrorDomain.NETWORK) from err
    try:
        _, err_out = await asyncio.wait_for(proc.communicate(), START_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        log.error("dnsmasq for network %s did not start in %ss", name, START_TIMEOUT)
        raise VirtError(68, ErrorDomain.NETWORK, f"dnsmasq for network '{name}' did not start") from None
    stderr = err_out.decode(errors="replace").strip()
    if proc.returncode != 0:
        log.error("dnsmasq for network %s failed: %s", name, stderr)
        msg = f"Child process ({' '.join(argv)}) unexpected exit status {proc.returncode}"
        if stderr:
            msg += f": {stderr}"
        raise internal_error(msg, ErrorDomain.NETWORK)
    conf = paths.conf(name)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        pid = read_pidfile(pidfile)
        if pid and is_running(pid, conf):
            log.debug("dnsmasq for network %s running as pid %d", name, pid)
            return pid
        if time.monotonic() > deadline:
            log.error("dnsmasq for network %s exited after daemonizing: %s", name, stderr)
            raise internal_error(
                f"dnsmasq for network '{name}' is not running (pid file {pidfile}): {stderr}",
                ErrorDomain.NETWORK,
            )
        await asyncio.sleep(0.02)


async def stop(pid: int | None, conf_path: str | Path, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM the dnsmasq ``pid`` (SIGKILL after ``timeout``) if it is still ours.

    Only signals a process that :func:`is_running` identifies as the dnsmasq
    with ``conf_path``; returns True when one was stopped.  Never raises for a
    process that is already gone.
    """
    if not is_running(pid, conf_path):
        return False
    assert pid is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(pid, conf_path):
            return True
        await asyncio.sleep(0.02)
    log.debug("dnsmasq %d ignored SIGTERM, killing it", pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not is_running(pid, conf_path):
            break
        await asyncio.sleep(0.02)
    return True


def reload(pid: int | None, conf_path: str | Path) -> None:
    """SIGHUP dnsmasq so it re-reads the hostsfile and addnhosts (write them first).

    Raises VirtError (VIR_ERR_SYSTEM_ERROR) when ``pid`` is not our running dnsmasq.
    """
    if not is_running(pid, conf_path):
        raise VirtError(
            38,
            ErrorDomain.NETWORK,
            f"Failed to make dnsmasq (PID: {pid}) reload config files.: No such process",
        )
    assert pid is not None
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as err:
        raise system_error(
            f"Failed to make dnsmasq (PID: {pid}) reload config files.", err, ErrorDomain.NETWORK
        ) from err


def _iter_pids() -> Iterable[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def find_pids(conf_path: str | Path) -> list[int]:
    """All running dnsmasq processes started with ``conf_path`` (for reattach/cleanup).

    Daemons come before their children: dnsmasq forks a helper for the lease
    script with the same command line, which ignores SIGTERM and exits when
    its daemon does.
    """
    found = [pid for pid in _iter_pids() if is_running(pid, conf_path)]
    return sorted(found, key=lambda pid: (_ppid(pid) in found, pid))
