"""Domain device commands: interfaces, addresses, attach / detach, disks.

Split from :mod:`pyvirt.cli.cmd_domain` so that the read-only commands load less code.
"""

from __future__ import annotations

from pyvirt import constants as c
from pyvirt.cli.cmd_domain import exclusive, unsupported
from pyvirt.cli.ctl import CommandFailed
from pyvirt.errors import VirtError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyvirt.cli.ctl import Ctl
    from pyvirt.cli.vsh import Command
    from pyvirt.client import Domain


# ---------------------------------------------------------------------------
# interfaces


_SOURCE_ATTRS = ("bridge", "dev", "network", "name", "path")


def domain_interfaces(xml: str) -> list[dict[str, str | None]]:
    """The rows of ``domiflist`` from a domain XML (ElementTree; no lxml)."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    rows: list[dict[str, str | None]] = []
    for iface in root.findall("./devices/interface"):
        target = iface.find("target")
        source = iface.find("source")
        model = iface.find("model")
        mac = iface.find("mac")
        src: str | None = None
        if source is not None:
            for key, value in source.attrib.items():
                if key in _SOURCE_ATTRS:
                    src = value
                    break
        rows.append(
            {
                "interface": target.get("dev") if target is not None else None,
                "type": iface.get("type"),
                "source": src,
                "model": model.get("type") if model is not None else None,
                "mac": mac.get("address") if mac is not None else None,
            }
        )
    return rows


def cmd_domiflist(ctl: Ctl, cmd: Command) -> bool:
    dom = ctl.lookup_domain(cmd)
    xml = dom.XMLDesc(c.VIR_DOMAIN_XML_INACTIVE if cmd.flag("inactive") else 0)
    rows = domain_interfaces(xml)
    if cmd.flag("json"):
        ctl.json(rows)
        return True
    from pyvirt.cli.table import Table

    table = Table("Interface", "Type", "Source", "Model", "MAC")
    for row in rows:
        table.add_row(*(row[k] or "-" for k in ("interface", "type", "source", "model", "mac")))
    ctl.print(table.render(header=not ctl.quiet))
    return True


_ADDR_SOURCES = {
    "lease": c.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
    "agent": c.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT,
    "arp": c.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP,
}


def cmd_domifaddr(ctl: Ctl, cmd: Command) -> bool:
    dom = ctl.lookup_domain(cmd)
    source_name = cmd.get("source")
    source = c.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE
    if source_name is not None:
        if source_name not in _ADDR_SOURCES:
            ctl.error(f"Unknown data source '{source_name}'")
            raise CommandFailed
        source = _ADDR_SOURCES[source_name]
    try:
        ifaces = dom.interfaceAddressList(source)
    except VirtError:
        ctl.error("Failed to query for interfaces addresses")
        raise
    wanted = cmd.get("interface")
    ifaces = [i for i in ifaces if wanted is None or i["name"] == wanted]
    if cmd.flag("json"):
        ctl.json(
            [
                {
                    "name": i["name"],
                    "mac": i["hwaddr"],
                    "addresses": [
                        {
                            "protocol": "ipv6" if a["type"] == c.VIR_IP_ADDR_TYPE_IPV6 else "ipv4",
                            "address": a["addr"],
                            "prefix": a["prefix"],
                        }
                        for a in i["addrs"]
                    ],
                }
                for i in ifaces
            ]
        )
        return True
    full = cmd.flag("full")
    out = [f" {'Name':<10} {'MAC address':<20} {'Protocol':<8}     {'Address'}\n", "-" * 79 + "\n"]
    if ctl.quiet:
        out = []
    for iface in ifaces:
        hwaddr = iface["hwaddr"] or "N/A"
        if not iface["addrs"]:
            out.append(f" {iface['name']:<10} {hwaddr:<17}    {'N/A':<12} {'N/A'}\n")
            continue
        for index, addr in enumerate(iface["addrs"]):
            proto = "ipv6" if addr["type"] == c.VIR_IP_ADDR_TYPE_IPV6 else "ipv4"
            text = f"{proto:<12} {addr['addr']}/{addr['prefix']}"
            if index > 0 and not full:
                out.append(f" {'-':<10} {'-':<17}    {text}\n")
            else:
                out.append(f" {iface['name']:<10} {hwaddr:<17}    {text}\n")
    ctl.print("".join(out))
    return True


# ---------------------------------------------------------------------------
# devices: attach-/detach-interface, -disk, -device (virsh-domain.c), domblklist


def _modify_flags(ctl: Ctl, cmd: Command, dom: Domain) -> tuple[int, bool]:
    """virsh's --persistent/--config/--live/--current: (flags, current given).

    --persistent is --config, plus --live when the domain runs.
    """
    exclusive(ctl, cmd, "persistent", "current")
    exclusive(ctl, cmd, "current", "live")
    exclusive(ctl, cmd, "current", "config")
    flags = 0
    if cmd.flag("config") or cmd.flag("persistent"):
        flags |= c.VIR_DOMAIN_AFFECT_CONFIG
    if cmd.flag("live"):
        flags |= c.VIR_DOMAIN_AFFECT_LIVE
    if cmd.flag("persistent") and dom.isActive() == 1:
        flags |= c.VIR_DOMAIN_AFFECT_LIVE
    return flags, cmd.flag("current")


def _attach(dom: Domain, xml: str, flags: int, current: bool) -> None:
    """virDomainAttachDeviceFlags when flags or --current were given, else virDomainAttachDevice."""
    if flags or current:
        dom.attachDeviceFlags(xml, flags)
    else:
        dom.attachDevice(xml)


def _attach_or_print(ctl: Ctl, cmd: Command, dom: Domain, xml: str, how: tuple[int, bool], what: str) -> bool:
    """The end of attach-disk/attach-interface: print the XML (--print-xml) or attach it."""
    if cmd.flag("print-xml"):
        ctl.print(xml)
        return True
    try:
        _attach(dom, xml, *how)
    except VirtError:
        ctl.error(f"Failed to attach {what}")
        raise
    ctl.extra(f"{what.capitalize()} attached successfully\n")
    return True


def _detach(dom: Domain, xml: str, flags: int, current: bool) -> None:
    if flags or current:
        dom.detachDeviceFlags(xml, flags)
    else:
        dom.detachDevice(xml)


def _attr(value: str) -> str:
    """An attribute value in single quotes, escaped as virBufferEscapeString does."""
    from xml.sax.saxutils import escape

    return "'" + escape(value, {"'": "&apos;", '"': "&quot;"}) + "'"


_IFACE_TYPES = ("network", "bridge", "ethernet", "direct", "user", "vhostuser", "vdpa", "hostdev", "mcast")


def interface_xml(cmd: Command) -> str | None:
    """The ``<interface>`` virsh's attach-interface builds, None for a type it does not know."""
    itype = cmd.get("type") or ""
    source = cmd.get("source") or ""
    if itype not in _IFACE_TYPES:
        return None
    lines = [f"<interface type={_attr(itype)}>"]
    if itype == "network":
        lines.append(f"  <source network={_attr(source)}/>")
    elif itype == "bridge":
        lines.append(f"  <source bridge={_attr(source)}/>")
    elif itype == "direct":
        mode = cmd.get("source-mode")
        extra = f" mode={_attr(mode)}" if mode else ""
        lines.append(f"  <source dev={_attr(source)}{extra}/>")
    elif itype in ("ethernet", "user") and source:
        lines.append(f"  <source dev={_attr(source)}/>")
    for opt, fmt in (
        ("target", "  <target dev={}/>"),
        ("mac", "  <mac address={}/>"),
        ("script", "  <script path={}/>"),
        ("model", "  <model type={}/>"),
        ("alias", "  <alias name={}/>"),
    ):
        value = cmd.get(opt)
        if value:
            lines.append(fmt.format(_attr(value)))
    lines.append("</interface>")
    return "\n".join(lines) + "\n"


def cmd_attach_interface(ctl: Ctl, cmd: Command) -> bool:
    unsupported(ctl, cmd, "inbound", "outbound", "managed")
    dom = ctl.lookup_domain(cmd)
    flags, current = _modify_flags(ctl, cmd, dom)
    xml = interface_xml(cmd)
    if xml is None:
        ctl.error(f"No support for {cmd.get('type')} in command 'attach-interface'")
        raise CommandFailed
    return _attach_or_print(ctl, cmd, dom, xml, (flags, current), "interface")


def _find_interface(ctl: Ctl, xml: str, itype: str, mac: str | None) -> str:
    """The ``<interface>`` element detach-interface sends, as text; errors like virsh."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    found = [i for i in root.findall("./devices/interface") if i.get("type") == itype]
    if not found:
        ctl.error(f"No interface found whose type is {itype}")
        raise CommandFailed
    if mac is None:
        if len(found) > 1:
            ctl.error(f"Domain has {len(found)} interfaces. Please specify which one to detach using --mac")
            raise CommandFailed
        match = found[0]
    else:
        matches = [
            i
            for i in found
            if (m := i.find("mac")) is not None and (m.get("address") or "").lower() == mac.lower()
        ]
        if not matches:
            ctl.error(f"No interface with MAC address {mac} was found")
            raise CommandFailed
        match = matches[0]
    match.tail = None
    return ET.tostring(match, encoding="unicode")


def cmd_detach_interface(ctl: Ctl, cmd: Command) -> bool:
    dom = ctl.lookup_domain(cmd)
    flags, current = _modify_flags(ctl, cmd, dom)
    inactive = c.VIR_DOMAIN_XML_INACTIVE if flags & c.VIR_DOMAIN_AFFECT_CONFIG else 0
    try:
        xml = _find_interface(ctl, dom.XMLDesc(inactive), cmd.get("type") or "", cmd.get("mac"))
        if cmd.flag("print-xml"):
            ctl.print(xml + "\n")
            return True
        _detach(dom, xml, flags, current)
    except (VirtError, CommandFailed):
        ctl.error("Failed to detach interface")
        raise
    ctl.extra("Interface detached successfully\n")
    return True


def disk_xml(cmd: Command) -> str:
    """The ``<disk>`` virsh's attach-disk builds for a local file or block device."""
    import os
    import stat

    source = cmd.get("source") or ""
    sourcetype = cmd.get("sourcetype")
    if not sourcetype:
        try:
            sourcetype = "block" if stat.S_ISBLK(os.stat(source).st_mode) else "file"
        except OSError:
            sourcetype = "file"
    device = cmd.get("type") or "disk"
    lines = [f"<disk type={_attr(sourcetype)} device={_attr(device)}>"]
    driver_attrs = ""
    for opt, attr in (
        ("driver", "name"),
        ("subdriver", "type"),
        ("iothread", "iothread"),
        ("cache", "cache"),
    ):
        value = cmd.get(opt)
        if value:
            driver_attrs += f" {attr}={_attr(value)}"
    if cmd.get("io"):
        driver_attrs += f" io={_attr(cmd.get('io') or '')}"
    if driver_attrs:
        lines.append(f"  <driver{driver_attrs}/>")
    key = "dev" if sourcetype == "block" else "file"
    lines.append(f"  <source {key}={_attr(source)}/>")
    bus = cmd.get("targetbus")
    bus_attr = f" bus={_attr(bus)}" if bus else ""
    lines.append(f"  <target dev={_attr(cmd.get('target') or '')}{bus_attr}/>")
    mode = cmd.get("mode")
    if mode == "readonly":
        lines.append("  <readonly/>")
    elif mode == "shareable":
        lines.append("  <shareable/>")
    if cmd.get("serial"):
        lines.append(f"  <serial>{cmd.get('serial')}</serial>")
    if cmd.get("alias"):
        lines.append(f"  <alias name={_attr(cmd.get('alias') or '')}/>")
    lines.append("</disk>")
    return "\n".join(lines) + "\n"


def cmd_attach_disk(ctl: Ctl, cmd: Command) -> bool:
    unsupported(
        ctl, cmd, "wwn", "rawio", "address", "multifunction", "source-protocol", "source-host-name",
        "source-host-transport", "source-host-socket",
    )  # fmt: skip
    dom = ctl.lookup_domain(cmd)
    flags, current = _modify_flags(ctl, cmd, dom)
    mode = cmd.get("mode")
    if mode and mode not in ("readonly", "shareable"):
        ctl.error(f"No support for {mode} in command 'attach-disk'")
        raise CommandFailed
    xml = disk_xml(cmd)
    return _attach_or_print(ctl, cmd, dom, xml, (flags, current), "disk")


def _disk_rows(xml: str) -> list[dict[str, str]]:
    import xml.etree.ElementTree as ET

    rows = []
    for disk in ET.fromstring(xml).findall("./devices/disk"):
        target = disk.find("target")
        source = disk.find("source")
        src = "-"
        if source is not None:
            for key in ("file", "dev", "dir", "name", "volume"):
                if source.get(key):
                    src = str(source.get(key))
                    break
        rows.append(
            {
                "type": disk.get("type") or "-",
                "device": disk.get("device") or "-",
                "target": (target.get("dev") if target is not None else None) or "-",
                "source": src,
            }
        )
    return rows


def cmd_detach_disk(ctl: Ctl, cmd: Command) -> bool:
    import xml.etree.ElementTree as ET

    dom = ctl.lookup_domain(cmd)
    flags, current = _modify_flags(ctl, cmd, dom)
    target = cmd.get("target") or ""
    inactive = c.VIR_DOMAIN_XML_INACTIVE if flags == c.VIR_DOMAIN_AFFECT_CONFIG else 0
    root = ET.fromstring(dom.XMLDesc(inactive))
    match = None
    for disk in root.findall("./devices/disk"):
        tgt = disk.find("target")
        src = disk.find("source")
        paths = [src.get(k) for k in ("file", "dev", "dir", "name")] if src is not None else []
        if (tgt is not None and tgt.get("dev") == target) or target in paths:
            match = disk
            break
    if match is None:
        ctl.error(f"No disk found whose source path or target is {target}")
        raise CommandFailed
    match.tail = None
    xml = ET.tostring(match, encoding="unicode")
    if cmd.flag("print-xml"):
        ctl.print(xml + "\n")
        return True
    try:
        _detach(dom, xml, flags, current)
    except VirtError:
        ctl.error("Failed to detach disk")
        raise
    ctl.extra("Disk detached successfully\n")
    return True


def cmd_attach_device(ctl: Ctl, cmd: Command) -> bool:
    return _device_from_file(ctl, cmd, _attach, "attach", "attached")


def cmd_detach_device(ctl: Ctl, cmd: Command) -> bool:
    return _device_from_file(ctl, cmd, _detach, "detach", "detached")


def _device_from_file(
    ctl: Ctl, cmd: Command, action: Callable[[Domain, str, int, bool], None], verb: str, done: str
) -> bool:
    """``attach-device`` / ``detach-device FILE``: virsh's messages around ``action``."""
    dom = ctl.lookup_domain(cmd)
    flags, current = _modify_flags(ctl, cmd, dom)
    path = cmd.get("file") or ""
    xml = ctl.read_file(path)
    try:
        action(dom, xml, flags, current)
    except VirtError:
        ctl.error(f"Failed to {verb} device from {path}")
        raise
    ctl.extra(f"Device {done} successfully\n")
    return True


def cmd_domblklist(ctl: Ctl, cmd: Command) -> bool:
    from pyvirt.cli.table import Table

    dom = ctl.lookup_domain(cmd)
    rows = _disk_rows(dom.XMLDesc(c.VIR_DOMAIN_XML_INACTIVE if cmd.flag("inactive") else 0))
    details = cmd.flag("details")
    table = Table("Type", "Device", "Target", "Source") if details else Table("Target", "Source")
    for row in rows:
        keys = ("type", "device", "target", "source") if details else ("target", "source")
        table.add_row(*(row[k] for k in keys))
    ctl.print(table.render(header=not ctl.quiet))
    return True
