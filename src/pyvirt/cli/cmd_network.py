"""Network commands (``tools/virsh-network.c``) and pyvirsh's ``net-port-forwards``."""

from __future__ import annotations

from pyvirt import constants as c
from pyvirt.cli.ctl import CommandFailed
from pyvirt.errors import VirtError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from typing import Any

    from pyvirt.cli.ctl import Ctl
    from pyvirt.cli.vsh import Command
    from pyvirt.client import Network

UPDATE_COMMANDS = {
    "modify": c.VIR_NETWORK_UPDATE_COMMAND_MODIFY,
    "delete": c.VIR_NETWORK_UPDATE_COMMAND_DELETE,
    "add-last": c.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
    "add": c.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
    "add-first": c.VIR_NETWORK_UPDATE_COMMAND_ADD_FIRST,
}

#: virsh's section names, plus pyvirt's ``port-forward`` (section 1000, see docs/port-forwards.md).
UPDATE_SECTIONS = {
    "bridge": c.VIR_NETWORK_SECTION_BRIDGE,
    "domain": c.VIR_NETWORK_SECTION_DOMAIN,
    "ip": c.VIR_NETWORK_SECTION_IP,
    "ip-dhcp-host": c.VIR_NETWORK_SECTION_IP_DHCP_HOST,
    "ip-dhcp-range": c.VIR_NETWORK_SECTION_IP_DHCP_RANGE,
    "forward": c.VIR_NETWORK_SECTION_FORWARD,
    "forward-interface": c.VIR_NETWORK_SECTION_FORWARD_INTERFACE,
    "forward-pf": c.VIR_NETWORK_SECTION_FORWARD_PF,
    "portgroup": c.VIR_NETWORK_SECTION_PORTGROUP,
    "dns-host": c.VIR_NETWORK_SECTION_DNS_HOST,
    "dns-txt": c.VIR_NETWORK_SECTION_DNS_TXT,
    "dns-srv": c.VIR_NETWORK_SECTION_DNS_SRV,
    "port-forward": 1000,
}


def _lookup(ctl: Ctl, cmd: Command, by_uuid: bool = True, by_name: bool = True) -> Network:
    """virshCommandOptNetworkBy: uuid (36 chars) then name; two error lines on failure."""
    if by_uuid and by_name:
        return ctl.lookup_network(cmd)
    name = cmd.get("network") or ""
    last: VirtError | None = None
    if by_uuid and len(name) == 36:
        try:
            return ctl.conn.networkLookupByUUIDString(name)
        except VirtError as err:
            last = err
    if by_name:
        try:
            return ctl.conn.networkLookupByName(name)
        except VirtError as err:
            last = err
    ctl.error(f"failed to get network '{name}'")
    if last is not None:
        raise last
    raise CommandFailed


def _title_of(xml: str) -> str:
    import xml.etree.ElementTree as ET

    try:
        node = ET.fromstring(xml).find("title")
    except ET.ParseError:
        return ""
    return (node.text or "") if node is not None else ""


def cmd_net_list(ctl: Ctl, cmd: Command) -> bool:
    if sum(1 for o in ("table", "name", "uuid") if cmd.flag(o)) > 1:
        ctl.error("Only one argument from --table, --name and --uuid may be specified.")
        raise CommandFailed
    flags = c.VIR_CONNECT_LIST_NETWORKS_ACTIVE
    if cmd.flag("inactive"):
        flags = c.VIR_CONNECT_LIST_NETWORKS_INACTIVE
    if cmd.flag("all"):
        flags = c.VIR_CONNECT_LIST_NETWORKS_ACTIVE | c.VIR_CONNECT_LIST_NETWORKS_INACTIVE
    for opt, bit in (
        ("persistent", c.VIR_CONNECT_LIST_NETWORKS_PERSISTENT),
        ("transient", c.VIR_CONNECT_LIST_NETWORKS_TRANSIENT),
        ("autostart", c.VIR_CONNECT_LIST_NETWORKS_AUTOSTART),
        ("no-autostart", c.VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART),
    ):
        if cmd.flag(opt):
            flags |= bit
    nets = sorted(ctl.conn.listAllNetworks(flags), key=lambda n: n.name().lower())
    if cmd.flag("name") and not cmd.flag("json"):
        ctl.print("".join(n.name() + "\n" for n in nets))
        return True
    if cmd.flag("uuid") and not cmd.flag("json"):
        ctl.print("".join(n.UUIDString() + "\n" for n in nets))
        return True
    want_title = cmd.flag("title")
    rows: list[dict[str, Any]] = []
    for net in nets:
        # virsh's per-row order: autostart, persistent, active
        try:
            autostart: str = "yes" if net.autostart() else "no"
        except VirtError:
            autostart = "no autostart"
        persistent = "yes" if net.isPersistent() else "no"
        state = "active" if net.isActive() else "inactive"
        row: dict[str, Any] = {
            "name": net.name(),
            "uuid": net.UUIDString(),
            "state": state,
            "autostart": autostart,
            "persistent": persistent,
        }
        if want_title:
            row["title"] = _title_of(net.XMLDesc(c.VIR_NETWORK_XML_INACTIVE))
        rows.append(row)
    if cmd.flag("json"):
        ctl.json(
            [
                {
                    "name": r["name"],
                    "uuid": r["uuid"],
                    "active": r["state"] == "active",
                    "autostart": {"yes": True, "no": False}.get(r["autostart"]),
                    "persistent": r["persistent"] == "yes",
                    **({"title": r["title"]} if want_title else {}),
                }
                for r in rows
            ]
        )
        return True
    from pyvirt.cli.table import Table

    header = ["Name", "State", "Autostart", "Persistent"] + (["Title"] if want_title else [])
    table = Table(*header)
    for r in rows:
        cells = [r["name"], r["state"], r["autostart"], r["persistent"]]
        if want_title:
            cells.append(r["title"])
        table.add_row(*cells)
    ctl.print(table.render(header=not ctl.quiet))
    return True


def cmd_net_info(ctl: Ctl, cmd: Command) -> bool:
    net = ctl.lookup_network(cmd)
    lines = [("Name:", net.name()), ("UUID:", net.UUIDString())]
    info: dict[str, Any] = {"name": net.name(), "uuid": net.UUIDString()}
    try:
        active = net.isActive()
        lines.append(("Active:", "yes" if active else "no"))
        info["active"] = bool(active)
    except VirtError:
        pass
    try:
        persistent = "yes" if net.isPersistent() else "no"
    except VirtError:
        persistent = "unknown"
    lines.append(("Persistent:", persistent))
    info["persistent"] = {"yes": True, "no": False}.get(persistent)
    try:
        autostart = "yes" if net.autostart() else "no"
    except VirtError:
        autostart = "no autostart"
    lines.append(("Autostart:", autostart))
    info["autostart"] = {"yes": True, "no": False}.get(autostart)
    try:
        bridge = net.bridgeName()
        lines.append(("Bridge:", bridge))
        info["bridge"] = bridge
    except VirtError:
        info["bridge"] = None
    if cmd.flag("json"):
        ctl.json(info)
    else:
        ctl.print("".join(f"{k:<15} {v}\n" for k, v in lines))
    return True


def cmd_net_uuid(ctl: Ctl, cmd: Command) -> bool:
    net = _lookup(ctl, cmd, by_uuid=False, by_name=True)
    ctl.print(net.UUIDString() + "\n")
    return True


def cmd_net_name(ctl: Ctl, cmd: Command) -> bool:
    net = _lookup(ctl, cmd, by_uuid=True, by_name=False)
    ctl.print(net.name() + "\n")
    return True


def cmd_net_dumpxml(ctl: Ctl, cmd: Command) -> bool:
    net = ctl.lookup_network(cmd)
    xml = net.XMLDesc(c.VIR_NETWORK_XML_INACTIVE if cmd.flag("inactive") else 0)
    expr = cmd.get("xpath")
    if expr is not None:
        from pyvirt.cli.xpath import xpath_output

        ctl.print(xpath_output(ctl, xml, expr, cmd.flag("wrap")))
    else:
        ctl.print(xml)
    return True


def cmd_net_define(ctl: Ctl, cmd: Command) -> bool:
    path = cmd.get("file") or ""
    xml = ctl.read_file(path)
    try:
        if cmd.flag("validate"):
            net = ctl.conn.networkDefineXMLFlags(xml, c.VIR_NETWORK_DEFINE_VALIDATE)
        else:
            net = ctl.conn.networkDefineXML(xml)
    except VirtError:
        ctl.error(f"Failed to define network from {path}")
        raise
    ctl.extra(f"Network {net.name()} defined from {path}\n")
    return True


def cmd_net_create(ctl: Ctl, cmd: Command) -> bool:
    path = cmd.get("file") or ""
    xml = ctl.read_file(path)
    try:
        if cmd.flag("validate"):
            net = ctl.conn.networkCreateXMLFlags(xml, c.VIR_NETWORK_CREATE_VALIDATE)
        else:
            net = ctl.conn.networkCreateXML(xml)
    except VirtError:
        ctl.error(f"Failed to create network from {path}")
        raise
    ctl.extra(f"Network {net.name()} created from {path}\n")
    return True


def _simple(ctl: Ctl, cmd: Command, action: str, done: str, verb: str) -> bool:
    net = ctl.lookup_network(cmd)
    try:
        getattr(net, action)()
    except VirtError:
        ctl.error(f"Failed to {verb} network {net.name()}")
        raise
    ctl.extra(f"Network {net.name()} {done}\n")
    return True


def cmd_net_undefine(ctl: Ctl, cmd: Command) -> bool:
    return _simple(ctl, cmd, "undefine", "has been undefined", "undefine")


def cmd_net_start(ctl: Ctl, cmd: Command) -> bool:
    return _simple(ctl, cmd, "create", "started", "start")


def cmd_net_destroy(ctl: Ctl, cmd: Command) -> bool:
    return _simple(ctl, cmd, "destroy", "destroyed", "destroy")


def cmd_net_autostart(ctl: Ctl, cmd: Command) -> bool:
    net = ctl.lookup_network(cmd)
    enable = not cmd.flag("disable")
    try:
        net.setAutostart(1 if enable else 0)
    except VirtError:
        ctl.error(f"failed to {'mark' if enable else 'unmark'} network {net.name()} as autostarted")
        raise
    ctl.extra(f"Network {net.name()} {'marked' if enable else 'unmarked'} as autostarted\n")
    return True


def cmd_net_edit(ctl: Ctl, cmd: Command) -> bool:
    from pyvirt.cli.edit import edit_loop

    net = ctl.lookup_network(cmd)
    conn = ctl.conn
    return edit_loop(
        ctl,
        lambda: net.XMLDesc(c.VIR_NETWORK_XML_INACTIVE),
        lambda xml, _validate: conn.networkDefineXML(xml).name(),
        f"Network {net.name()} XML configuration not changed.\n",
        lambda name: f"Network {name} XML configuration edited.\n",
    )


def format_expiry(expirytime: int) -> str:
    """Local time as virsh prints lease expiry (``%Y-%m-%d %H:%M:%S``)."""
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(expirytime))


def cmd_net_dhcp_leases(ctl: Ctl, cmd: Command) -> bool:
    net = ctl.lookup_network(cmd)
    mac = cmd.get("mac")
    try:
        leases = net.DHCPLeases(mac)
    except VirtError:
        ctl.error(f"Failed to get leases info for {net.name()}")
        raise
    leases.sort(key=lambda lease: (lease.get("mac") or "").lower())
    if cmd.flag("json"):
        ctl.json(
            [
                {
                    "expiry_time": lease["expirytime"],
                    "expiry": format_expiry(int(lease["expirytime"])),
                    "mac": lease["mac"],
                    "protocol": "ipv6" if lease["type"] == c.VIR_IP_ADDR_TYPE_IPV6 else "ipv4",
                    "ip_address": lease["ipaddr"],
                    "prefix": lease["prefix"],
                    "hostname": lease["hostname"],
                    "client_id": lease["clientid"],
                    "iaid": lease["iaid"],
                    "interface": lease["iface"],
                }
                for lease in leases
            ]
        )
        return True
    from pyvirt.cli.table import Table

    table = Table("Expiry Time", "MAC address", "Protocol", "IP address", "Hostname", "Client ID or DUID")
    for lease in leases:
        table.add_row(
            format_expiry(int(lease["expirytime"])),
            lease["mac"] or "",
            "ipv6" if lease["type"] == c.VIR_IP_ADDR_TYPE_IPV6 else "ipv4",
            f"{lease['ipaddr']}/{lease['prefix']}",
            lease["hostname"] or "-",
            lease["clientid"] or "-",
        )
    ctl.print(table.render(header=not ctl.quiet))
    return True


def cmd_net_update(ctl: Ctl, cmd: Command) -> bool:
    for opt in ("live", "config"):
        if cmd.flag("current") and cmd.flag(opt):
            ctl.error(f"Options --current and --{opt} are mutually exclusive")
            raise CommandFailed
    net = ctl.lookup_network(cmd)
    command_name = cmd.get("command") or ""
    section_name = cmd.get("section") or ""
    if command_name not in UPDATE_COMMANDS:
        ctl.error(f"unrecognized command name '{command_name}'")
        raise CommandFailed
    section = UPDATE_SECTIONS.get(section_name)
    if section is None and section_name.isdigit():
        section = int(section_name)
    if section is None:
        ctl.error(f"unrecognized section name '{section_name}'")
        raise CommandFailed
    parent = -1
    parent_text = cmd.get("parent-index")
    if parent_text is not None:
        try:
            parent = int(parent_text, 10)
        except ValueError:
            ctl.error(f"Numeric value '{parent_text}' for <parent-index> option is malformed or out of range")
            raise CommandFailed from None
    xml = cmd.get("xml") or ""
    if not xml.startswith("<"):
        xml = ctl.read_file(xml)
    flags = 0
    live, config = cmd.flag("live"), cmd.flag("config")
    if live:
        flags |= c.VIR_NETWORK_UPDATE_AFFECT_LIVE
    if config:
        flags |= c.VIR_NETWORK_UPDATE_AFFECT_CONFIG
    try:
        net.update(UPDATE_COMMANDS[command_name], section, parent, xml, flags)
    except VirtError:
        ctl.error(f"Failed to update network {net.name()}")
        raise
    name = net.name()
    if config:
        what = "persistent config and live state" if live else "persistent config"
    elif live:
        what = "live state"
    else:
        try:
            what = "live state" if net.isActive() else "persistent config"
        except VirtError:
            what = "persistent config"
    ctl.extra(f"Updated network {name} {what}")
    return True


def port_forwards(xml: str) -> list[dict[str, Any]]:
    """The ``<portForward>`` rules under ``<forward>`` of a network XML, in document order."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    out: list[dict[str, Any]] = []
    for node in root.findall("./forward/portForward"):
        port = int(node.get("port", "0"))
        port_end = int(node.get("portEnd", str(port)))
        to_port = int(node.get("toPort", str(port)))
        out.append(
            {
                "proto": node.get("proto"),
                "address": node.get("address"),
                "port": port,
                "port_end": port_end,
                "to": node.get("to"),
                "to_port": to_port,
                "to_port_end": to_port + port_end - port,
            }
        )
    return out


def _ports(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


def cmd_net_port_forwards(ctl: Ctl, cmd: Command) -> bool:
    net = ctl.lookup_network(cmd)
    rules = port_forwards(net.XMLDesc(c.VIR_NETWORK_XML_INACTIVE if cmd.flag("inactive") else 0))
    if cmd.flag("json"):
        ctl.json(rules)
        return True
    from pyvirt.cli.table import Table

    table = Table("Protocol", "Host address", "Host port", "Guest address", "Guest port")
    for r in rules:
        table.add_row(
            r["proto"],
            r["address"] or "*",
            _ports(r["port"], r["port_end"]),
            r["to"],
            _ports(r["to_port"], r["to_port_end"]),
        )
    ctl.print(table.render(header=not ctl.quiet))
    return True
