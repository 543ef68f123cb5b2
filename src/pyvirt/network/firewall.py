"""nftables rules for virtual networks, in private tables, applied atomically.

Layout (per family ``ip`` and, for networks with IPv6, ``ip6``), all in table
``pyvirt_network`` so no other table is ever touched::

    chain forward           { type filter hook forward priority 0; policy accept; }
        jump guest_cross ; jump guest_input ; jump guest_output   (libvirt's order)
    chain guest_output / guest_input / guest_cross                (regular chains)
    chain guest_nat         { type nat hook postrouting priority 100; policy accept; }
    chain guest_dnat        { type nat hook prerouting priority -100; policy accept; }
    chain guest_dnat_local  { type nat hook output priority -100; policy accept; }

Each network N owns regular chains ``pv_N_out``, ``pv_N_in``, ``pv_N_cross``,
``pv_N_nat`` (nat mode) and ``pv_N_dnat`` (port forwards), holding exactly the
rules libvirt's nftables backend would insert into the shared chains, and one
``jump`` to each from the matching shared chain.  So the evaluation order is
libvirt's (all networks' cross rules, then input, then output) and a network's
rules are removed exactly by deleting its jumps and chains.  Every operation
is one ``nft -f -`` transaction: it applies completely or not at all.  The
table is deleted with the last network.

Port forwards (our extension, nat mode): DNAT in ``pv_N_dnat`` (reached from
prerouting and from output, for connections the host itself makes to its own
address), an accept in ``pv_N_in`` ahead of the reject, and a hairpin
masquerade in ``pv_N_nat`` so guests can use the host address too.

Limitation (like libvirt's nftables backend): the tables hold no input rules.
An ``accept`` in our table cannot override a ``drop`` by another table on the
same hook (a packet must pass every base chain), so a host firewall that drops
input must itself allow udp 67 and udp/tcp 53 on the bridges, e.g.
``iifname "virbr*" udp dport { 53, 67 } accept; iifname "virbr*" tcp dport 53 accept``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import shutil
from typing import Any

from pyvirt.errors import ErrorDomain, config_unsupported, internal_error
from pyvirt.lazydataclass import dataclass, field

log = logging.getLogger(__name__)

TABLE = "pyvirt_network"
FAMILIES = ("ip", "ip6")
BASE_CHAINS: dict[str, str | None] = {
    "forward": "type filter hook forward priority 0; policy accept;",
    "guest_output": None,
    "guest_input": None,
    "guest_cross": None,
    "guest_nat": "type nat hook postrouting priority 100; policy accept;",
    "guest_dnat": "type nat hook prerouting priority -100; policy accept;",
    "guest_dnat_local": "type nat hook output priority -100; policy accept;",
}
FORWARD_JUMPS = ("guest_cross", "guest_input", "guest_output")
# per-network chain suffix -> the shared chains that jump to it
CHAIN_PARENTS: dict[str, tuple[str, ...]] = {
    "out": ("guest_output",),
    "in": ("guest_input",),
    "cross": ("guest_cross",),
    "nat": ("guest_nat",),
    "dnat": ("guest_dnat", "guest_dnat_local"),
}
DEFAULT_NAT_PORTS = (1024, 65535)
MAX_PORT_MAP = 256


# ---------------------------------------------------------------- model


@dataclass(frozen=True)
class PortForward:
    """One forwarded port range: ``proto`` host[:start-end] -> to_address[:to_start-to_end]."""

    proto: str
    start: int
    end: int
    to_address: str
    to_start: int
    to_end: int
    address: str | None = None


@dataclass
class NetworkRules:
    """The rendered rules of one network: per family, chain -> rule texts (in order)."""

    name: str
    prefix: str
    chains: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def chain_names(self, family: str) -> list[str]:
        return list(self.chains.get(family, {}))

    def jumps(self, family: str) -> list[tuple[str, str]]:
        """(shared chain, network chain) pairs for ``family``."""
        out = []
        for chain in self.chains.get(family, {}):
            suffix = chain[len(self.prefix) + 1 :]
            for parent in CHAIN_PARENTS.get(suffix, ()):
                out.append((parent, chain))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "prefix": self.prefix, "chains": self.chains}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkRules:
        return cls(
            name=str(data["name"]),
            prefix=str(data["prefix"]),
            chains={f: {c: list(r) for c, r in ch.items()} for f, ch in data.get("chains", {}).items()},
        )


def chain_prefix(name: str) -> str:
    """``pv_NAME`` made safe as an nft identifier (a hash suffix keeps mangled names unique)."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", name)[:64]
    if safe != name:
        import hashlib  # rare; loading it at start-up maps OpenSSL into the daemon

        safe += "_" + hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"pv_{safe}"


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        value = getattr(obj, n, None) if not isinstance(obj, dict) else obj.get(n)
        if value is not None:
            return value
    return default


def _port_range(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, str):
        a, _, b = value.partition("-")
        return (int(a), int(b or a))
    seq = list(value)
    return (int(seq[0]), int(seq[-1] if seq[-1] is not None else seq[0]))


def port_forwards(netdef: Any) -> list[PortForward]:
    """Normalise ``netdef.port_forwards`` into :class:`PortForward` objects.

    Accepted attribute names per entry: ``proto``/``protocol``;
    ``address``/``host_address``; ``port``/``ports`` (int, "a-b" or (a, b)) or
    ``start``+``end``; ``to_address``/``target``/``to``; ``to_port``/``to_ports``
    or ``to_start``+``to_end`` (default: the host ports).

    Raises VirtError (VIR_ERR_CONFIG_UNSUPPORTED) for an incomplete entry.
    """
    out = []
    for pf in getattr(netdef, "port_forwards", None) or ():
        if isinstance(pf, PortForward):
            out.append(pf)
            continue
        proto = str(_get(pf, "proto", "protocol", default="tcp"))
        ports = _port_range(_get(pf, "ports", "port"))
        if ports is None and _get(pf, "start") is not None:
            ports = (int(_get(pf, "start")), int(_get(pf, "end", "start")))
        to_addr = _get(pf, "to_address", "target", "to", "target_address")
        to_ports = _port_range(_get(pf, "to_ports", "to_port", "target_ports", "target_port"))
        if to_ports is None and _get(pf, "to_start") is not None:
            to_ports = (int(_get(pf, "to_start")), int(_get(pf, "to_end", "to_start")))
        if ports is None or not to_addr:
            raise config_unsupported("port forward needs a port and a target address", ErrorDomain.NETWORK)
        to_ports = to_ports or ports
        host = _get(pf, "address", "host_address", "host")
        out.append(
            PortForward(
                proto=proto,
                start=ports[0],
                end=ports[1],
                to_address=str(to_addr),
                to_start=to_ports[0],
                to_end=to_ports[1],
                address=str(host) if host else None,
            )
        )
    return out


# ---------------------------------------------------------------- rendering


def _ports(a: int, b: int) -> str:
    return str(a) if a == b else f"{a}-{b}"


def _nat_target(netdef: Any) -> tuple[str | None, tuple[int, int]]:
    addr = getattr(netdef, "nat_address", None)
    if isinstance(addr, tuple | list):
        start, end = (str(addr[0]), str(addr[-1]) if addr[-1] else str(addr[0]))
        addr_text: str | None = start if start == end else f"{start}-{end}"
    elif addr:
        addr_text = str(addr)
    else:
        addr_text = None
    ports = getattr(netdef, "nat_port", None) or DEFAULT_NAT_PORTS
    return addr_text, (int(ports[0]), int(ports[1]))


def _dnat_rules(pf: PortForward, bridge: str, nets: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(dnat rules, forward-accept rules, hairpin rules) for one port forward."""
    proto = pf.proto
    if proto not in ("tcp", "udp", "sctp"):
        raise config_unsupported(f"unsupported port forward protocol '{proto}'", ErrorDomain.NETWORK)
    if pf.to_end - pf.to_start != pf.end - pf.start or pf.start > pf.end:
        raise config_unsupported(
            f"port forward {pf.start}-{pf.end} -> {pf.to_start}-{pf.to_end}: ranges differ in size",
            ErrorDomain.NETWORK,
        )
    if pf.address:
        match = f"ip daddr {pf.address}"
    else:
        match = "fib daddr type local ip daddr != 127.0.0.0/8"
    dnat = []
    if pf.start == pf.to_start:
        dnat.append(
            f"{match} meta l4proto {proto} th dport {_ports(pf.start, pf.end)} "
            f"counter dnat to {pf.to_address}"
        )
    elif pf.end - pf.start < MAX_PORT_MAP:
        for off in range(pf.end - pf.start + 1):
            dnat.append(
                f"{match} meta l4proto {proto} th dport {pf.start + off} counter "
                f"dnat to {pf.to_address}:{pf.to_start + off}"
            )
    else:
        raise config_unsupported(
            f"port forward shifting more than {MAX_PORT_MAP} ports is not supported", ErrorDomain.NETWORK
        )
    tports = _ports(pf.to_start, pf.to_end)
    accept = [
        f'oifname "{bridge}" ip daddr {pf.to_address} meta l4proto {proto} th dport {tports} '
        "ct status dnat counter accept"
    ]
    hairpin = [
        f"ip saddr {net} ip daddr {pf.to_address} meta l4proto {proto} th dport {tports} "
        "ct status dnat counter masquerade"
        for net in nets
    ]
    return dnat, accept, hairpin


def render_rules(netdef: Any) -> NetworkRules | None:
    """The rules libvirt's nftables backend would create for ``netdef`` (None for open/bridge modes).

    Raises VirtError (VIR_ERR_CONFIG_UNSUPPORTED) for port forwards we cannot express.
    """
    mode = str(getattr(netdef, "forward_mode", None) or "none")
    if mode not in ("nat", "route", "none"):
        return None
    bridge = str(netdef.bridge)
    br_in, br_out = f'iifname "{bridge}"', f'oifname "{bridge}"'
    dev = getattr(netdef, "forward_dev", None)
    dev_out = f' oifname "{dev}"' if dev else ""
    dev_in = f'iifname "{dev}" ' if dev else ""
    nat_v6 = bool(getattr(netdef, "nat_ipv6", False))
    ips = list(getattr(netdef, "ips", None) or ())
    v4 = [ip for ip in ips if str(getattr(ip, "family", "ipv4")) != "ipv6"]
    v6 = [ip for ip in ips if str(getattr(ip, "family", "ipv4")) == "ipv6"]
    want_v6 = bool(v6) or bool(getattr(netdef, "ipv6", False))
    prefix = chain_prefix(netdef.name)
    rules = NetworkRules(name=netdef.name, prefix=prefix)

    def net_of(ip: Any) -> str:
        network = getattr(ip, "network", None)
        if network is None:
            network = ipaddress.ip_network(f"{ip.address}/{ip.prefix}", strict=False)
        return str(network)

    for family, fam_ips in (("ip", v4), ("ip6", v6)):
        if family == "ip6" and not want_v6:
            continue
        kw = family  # "ip" / "ip6" are also the payload keywords
        out_r: list[str] = []
        in_r: list[str] = []
        nat_r: list[str] = []
        dnat_r: list[str] = []
        if mode in ("nat", "route"):
            for ip in fam_ips:
                net = net_of(ip)
                masq = mode == "nat" and (family == "ip" or nat_v6)
                out_r.append(f"{kw} saddr {net} {br_in}{dev_out} counter accept")
                if masq:
                    in_r.append(
                        f"{dev_in}{br_out} {kw} daddr {net} ct state related,established counter accept"
                    )
                else:
                    in_r.append(f"{dev_in}{br_out} {kw} daddr {net} counter accept")
                if masq:
                    addr, (p1, p2) = _nat_target(netdef)
                    nat_r.append(
                        f"{kw} saddr {net} {kw} daddr {'ff02::/16' if family == 'ip6' else '224.0.0.0/24'}"
                        " counter return"
                    )
                    if family == "ip":
                        nat_r.append(f"{kw} saddr {net} {kw} daddr 255.255.255.255/32 counter return")
                    for proto in ("tcp", "udp"):
                        target = f"snat to {addr}:{p1}-{p2}" if addr else f"masquerade to :{p1}-{p2}"
                        nat_r.append(
                            f"meta l4proto {proto} {kw} saddr {net} {kw} daddr != {net}{dev_out} "
                            f"counter {target}"
                        )
                    target = f"snat to {addr}" if addr else "masquerade"
                    nat_r.append(f"{kw} saddr {net} {kw} daddr != {net}{dev_out} counter {target}")
        if mode == "nat" and family == "ip":
            nets = [net_of(ip) for ip in fam_ips]
            hair: list[str] = []
            pf_accept: list[str] = []
            for pf in port_forwards(netdef):
                if ipaddress.ip_address(pf.to_address).version != 4:
                    continue
                d, a, h = _dnat_rules(pf, bridge, nets)
                dnat_r += d
                pf_accept += a
                hair += h
            in_r = pf_accept + in_r
            nat_r = hair + nat_r
        out_r.append(f"{br_in} counter reject")
        in_r.append(f"{br_out} counter reject")
        chains = {
            f"{prefix}_out": out_r,
            f"{prefix}_in": in_r,
            f"{prefix}_cross": [f"{br_in} {br_out} counter accept"],
        }
        if nat_r:
            chains[f"{prefix}_nat"] = nat_r
        if dnat_r:
            chains[f"{prefix}_dnat"] = dnat_r
        rules.chains[family] = chains
    return rules


# ---------------------------------------------------------------- table state


@dataclass
class TableState:
    """What ``nft -j list table FAMILY pyvirt_network`` showed (exists=False when absent)."""

    exists: bool = False
    chains: set[str] = field(default_factory=set)
    # chain -> [(handle, jump target or None)]
    rules: dict[str, list[tuple[int, str | None]]] = field(default_factory=dict)

    @classmethod
    def parse(cls, listing: dict[str, Any]) -> TableState:
        state = cls(exists=True)
        for item in listing.get("nftables", []):
            if "chain" in item:
                state.chains.add(item["chain"]["name"])
            elif "rule" in item:
                rule = item["rule"]
                target = None
                for expr in rule.get("expr", []):
                    if isinstance(expr, dict) and "jump" in expr:
                        target = expr["jump"].get("target")
                state.rules.setdefault(rule["chain"], []).append((int(rule["handle"]), target))
        return state


def render_add(rules: NetworkRules, states: dict[str, TableState]) -> str:
    """The nft script adding ``rules`` (replacing what is there) given the current ``states``."""
    lines: list[str] = []
    for family, chains in rules.chains.items():
        st = states.get(family) or TableState()
        t = f"{family} {TABLE}"
        lines.append(f"add table {t}")
        for base, spec in BASE_CHAINS.items():
            lines.append(f"add chain {t} {base} {{ {spec} }}" if spec else f"add chain {t} {base}")
        fwd = [target for _, target in st.rules.get("forward", [])]
        if fwd != list(FORWARD_JUMPS):
            if fwd:
                lines.append(f"flush chain {t} forward")
            lines += [f"add rule {t} forward counter jump {j}" for j in FORWARD_JUMPS]
        mine = set(chains)
        for parent in {p for ps in CHAIN_PARENTS.values() for p in ps}:
            for handle, target in st.rules.get(parent, []):
                if target is not None and target.startswith(rules.prefix + "_"):
                    lines.append(f"delete rule {t} {parent} handle {handle}")
        for chain in sorted(c for c in st.chains if c.startswith(rules.prefix + "_") and c not in mine):
            if chain[len(rules.prefix) + 1 :] in CHAIN_PARENTS:
                lines += [f"flush chain {t} {chain}", f"delete chain {t} {chain}"]
        for chain, body in chains.items():
            lines.append(f"add chain {t} {chain}")
            if chain in st.chains:
                lines.append(f"flush chain {t} {chain}")
            lines += [f"add rule {t} {chain} {r}" for r in body]
        for parent, chain in rules.jumps(family):
            lines.append(f"add rule {t} {parent} counter jump {chain}")
    return "".join(line + "\n" for line in lines)


def render_remove(prefix: str, states: dict[str, TableState]) -> str:
    """The nft script removing the chains ``PREFIX_*`` and the jumps to them (the table with the last one)."""
    lines: list[str] = []
    for family in FAMILIES:
        st = states.get(family)
        if st is None or not st.exists:
            continue
        t = f"{family} {TABLE}"
        mine = {c for c in st.chains if c.startswith(prefix + "_") and c[len(prefix) + 1 :] in CHAIN_PARENTS}
        others = {c for c in st.chains if c.startswith("pv_") and c not in mine}
        if not mine:
            continue
        if not others:
            lines.append(f"delete table {t}")
            continue
        for parent in sorted({p for ps in CHAIN_PARENTS.values() for p in ps}):
            for handle, target in st.rules.get(parent, []):
                if target in mine:
                    lines.append(f"delete rule {t} {parent} handle {handle}")
        for chain in sorted(mine):
            lines += [f"flush chain {t} {chain}", f"delete chain {t} {chain}"]
    return "".join(line + "\n" for line in lines)


def rules_match(rules: NetworkRules, states: dict[str, TableState]) -> bool:
    """True when every chain of ``rules`` exists with its rule count and is jumped to once."""
    for family, chains in rules.chains.items():
        st = states.get(family)
        if st is None or not st.exists:
            return False
        if [target for _, target in st.rules.get("forward", [])] != list(FORWARD_JUMPS):
            return False
        for chain, body in chains.items():
            if chain not in st.chains or len(st.rules.get(chain, [])) != len(body):
                return False
        for parent, chain in rules.jumps(family):
            if [target for _, target in st.rules.get(parent, [])].count(chain) != 1:
                return False
    return True


# ---------------------------------------------------------------- nft


def nft_binary() -> str:
    """Path of nft.  Raises VirtError (VIR_ERR_INTERNAL_ERROR) when not installed."""
    found = shutil.which("nft") or shutil.which("nft", path="/usr/sbin:/sbin")
    if not found:
        raise internal_error("Unable to find 'nft' binary in $PATH", ErrorDomain.NETWORK)
    return found


async def _nft(args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        nft_binary(),
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


async def table_states() -> dict[str, TableState]:
    """The current content of our table in each family.  Raises VirtError when nft fails oddly."""
    states: dict[str, TableState] = {}
    for family in FAMILIES:
        rc, out, err = await _nft(["-j", "-a", "list", "table", family, TABLE])
        if rc != 0:
            if "No such file or directory" in err or "does not exist" in err:
                states[family] = TableState()
                continue
            raise internal_error(f"Failed to list nftables table {family} {TABLE}: {err.strip()}")
        states[family] = TableState.parse(json.loads(out))
    return states


async def apply_script(script: str) -> None:
    """Run ``script`` as one nft transaction.  Raises VirtError (VIR_ERR_INTERNAL_ERROR) with nft's error."""
    if not script:
        return
    log.debug("nft -f -:\n%s", script)
    rc, _, err = await _nft(["-f", "-"], script)
    if rc != 0:
        log.error("nft transaction failed: %s", err.strip().splitlines()[0] if err.strip() else rc)
        log.debug("nft error output: %s", err)
        raise internal_error(
            f"Failed to apply firewall rules {nft_binary()} -f -: {err.strip()}", ErrorDomain.NETWORK
        )


async def add_rules(rules: NetworkRules) -> None:
    """Install ``rules`` (replacing any previous rules of that network) in one transaction.

    Raises VirtError when nft refuses; nothing is changed then.
    """
    await apply_script(render_add(rules, await table_states()))


async def remove_rules(prefix_or_rules: str | NetworkRules) -> None:
    """Remove a network's chains and jumps in one transaction; a no-op when they are gone.

    Raises VirtError when nft refuses.
    """
    prefix = prefix_or_rules.prefix if isinstance(prefix_or_rules, NetworkRules) else prefix_or_rules
    await apply_script(render_remove(prefix, await table_states()))


async def rules_present(rules: NetworkRules) -> bool:
    """True when all of the network's rules are installed.  Raises VirtError when nft fails."""
    return rules_match(rules, await table_states())
