"""Domain commands (``tools/virsh-domain.c``, ``virsh-domain-monitor.c``): listing and information.

The commands every script runs (``list``, ``dominfo``, ``domstate``,
``dumpxml``, ...) live here, small, so that they load fast; lifecycle and
device commands are in :mod:`pyvirt.cli.cmd_lifecycle` and
:mod:`pyvirt.cli.cmd_devices`.
"""

from __future__ import annotations

from pyvirt import constants as c
from pyvirt.cli.ctl import CommandFailed, looks_like_int
from pyvirt.errors import ErrorNumber, VirtError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from typing import Any

    from pyvirt.cli.ctl import Ctl
    from pyvirt.cli.vsh import Command
    from pyvirt.client import Domain

STATE_NAMES = ("no state", "running", "idle", "paused", "in shutdown", "shut off", "crashed", "pmsuspended")

_REASONS: dict[int, tuple[str, ...]] = {
    c.VIR_DOMAIN_RUNNING: (
        "unknown",
        "booted",
        "migrated",
        "restored",
        "from snapshot",
        "unpaused",
        "migration canceled",
        "save canceled",
        "event wakeup",
        "crashed",
        "post-copy",
        "post-copy failed",
    ),
    c.VIR_DOMAIN_PAUSED: (
        "unknown",
        "user",
        "migrating",
        "saving",
        "dumping",
        "I/O error",
        "watchdog",
        "from snapshot",
        "shutting down",
        "creating snapshot",
        "crashed",
        "starting up",
        "post-copy",
        "post-copy failed",
        "api error",
    ),
    c.VIR_DOMAIN_SHUTDOWN: ("unknown", "user"),
    c.VIR_DOMAIN_SHUTOFF: (
        "unknown",
        "shutdown",
        "destroyed",
        "crashed",
        "migrated",
        "saved",
        "failed",
        "from snapshot",
        "daemon",
    ),
    c.VIR_DOMAIN_CRASHED: ("unknown", "panicked"),
}


def state_name(state: int) -> str:
    return STATE_NAMES[state] if 0 <= state < len(STATE_NAMES) else "no state"


def reason_name(state: int, reason: int) -> str:
    names = _REASONS.get(state, ("unknown",))
    return names[reason] if 0 <= reason < len(names) else "unknown"


def exclusive(ctl: Ctl, cmd: Command, a: str, b: str) -> None:
    if cmd.has(a) and cmd.has(b):
        ctl.error(f"Options --{a} and --{b} are mutually exclusive")
        raise CommandFailed


def unsupported(ctl: Ctl, cmd: Command, *names: str) -> None:
    for name in names:
        if cmd.has(name):
            ctl.error(f"option --{name} of '{cmd.name}' is not supported by pyvirsh")
            raise CommandFailed


# ---------------------------------------------------------------------------
# list


def _list_flags(cmd: Command) -> int:
    flags = c.VIR_CONNECT_LIST_DOMAINS_ACTIVE
    if cmd.flag("inactive") or cmd.flag("state-shutoff"):
        flags = c.VIR_CONNECT_LIST_DOMAINS_INACTIVE
    if cmd.flag("all"):
        flags = c.VIR_CONNECT_LIST_DOMAINS_ACTIVE | c.VIR_CONNECT_LIST_DOMAINS_INACTIVE
    for opt, bit in (
        ("persistent", c.VIR_CONNECT_LIST_DOMAINS_PERSISTENT),
        ("transient", c.VIR_CONNECT_LIST_DOMAINS_TRANSIENT),
        ("with-managed-save", c.VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE),
        ("without-managed-save", c.VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE),
        ("autostart", c.VIR_CONNECT_LIST_DOMAINS_AUTOSTART),
        ("no-autostart", c.VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART),
        ("with-snapshot", c.VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT),
        ("without-snapshot", c.VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT),
        ("with-checkpoint", c.VIR_CONNECT_LIST_DOMAINS_HAS_CHECKPOINT),
        ("without-checkpoint", c.VIR_CONNECT_LIST_DOMAINS_NO_CHECKPOINT),
        ("state-running", c.VIR_CONNECT_LIST_DOMAINS_RUNNING),
        ("state-paused", c.VIR_CONNECT_LIST_DOMAINS_PAUSED),
        ("state-shutoff", c.VIR_CONNECT_LIST_DOMAINS_SHUTOFF),
        ("state-other", c.VIR_CONNECT_LIST_DOMAINS_OTHER),
    ):
        if cmd.flag(opt):
            flags |= bit
    return flags


def sort_domains(rows: list[Any], key: Any = None) -> list[Any]:
    """virshDomainSorter: active domains by id, then inactive ones by name ignoring case."""

    def order(item: Any) -> tuple[int, int, str]:
        dom = key(item) if key else item
        ident = dom.ID()
        if ident != -1:
            return (0, ident, "")
        return (1, 0, dom.name().lower())

    return sorted(rows, key=order)


def title_of(xml: str, element: str = "title") -> str:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return ""
    node = root.find(element)
    return node.text or "" if node is not None else ""


def cmd_list(ctl: Ctl, cmd: Command) -> bool:
    for other in ("name", "uuid", "id"):
        exclusive(ctl, cmd, "table", other)
    flags = _list_flags(cmd)
    rows = sort_domains(ctl.conn.listAllDomainsWithState(flags), key=lambda r: r[0])
    opt_name, opt_uuid, opt_id = cmd.flag("name"), cmd.flag("uuid"), cmd.flag("id")
    want_title = cmd.flag("title")

    def shown_state(dom: Domain, state: int) -> str:
        if cmd.flag("managed-save") and state == c.VIR_DOMAIN_SHUTOFF:
            try:
                if dom.hasManagedSaveImage():
                    return "saved"
            except VirtError:
                pass
        return state_name(state)

    if cmd.flag("json"):
        doc = []
        for dom, state, reason in rows:
            entry: dict[str, Any] = {
                "id": dom.ID() if dom.ID() != -1 else None,
                "name": dom.name(),
                "uuid": dom.UUIDString(),
                "state": shown_state(dom, state),
                "state_code": state,
                "reason": reason_name(state, reason),
            }
            if want_title:
                entry["title"] = title_of(dom.XMLDesc(c.VIR_DOMAIN_XML_INACTIVE))
            doc.append(entry)
        ctl.json(doc)
        return True
    if opt_name or opt_uuid or opt_id:
        lines = []
        for dom, _state, _reason in rows:
            ident = dom.ID()
            if opt_id and not (opt_name or opt_uuid) and ident == -1:
                continue
            parts = []
            if opt_uuid:
                parts.append(dom.UUIDString())
            if opt_id:
                parts.append(str(ident) if ident != -1 else "-")
            if opt_name:
                parts.append(dom.name())
            lines.append(" ".join(parts) + "\n")
        ctl.print("".join(lines))
        return True
    from pyvirt.cli.table import Table

    table = Table("Id", "Name", "State", "Title") if want_title else Table("Id", "Name", "State")
    for dom, state, _reason in rows:
        ident = str(dom.ID()) if dom.ID() != -1 else "-"
        if want_title:
            title = title_of(dom.XMLDesc(c.VIR_DOMAIN_XML_INACTIVE))
            table.add_row(ident, dom.name(), shown_state(dom, state), title)
        else:
            table.add_row(ident, dom.name(), shown_state(dom, state))
    ctl.print(table.render(header=not ctl.quiet))
    return True


# ---------------------------------------------------------------------------
# information


def cmd_dominfo(ctl: Ctl, cmd: Command) -> bool:
    dom = ctl.lookup_domain(cmd)
    conn = ctl.conn
    ok = True
    info: dict[str, Any] = {
        "id": dom.ID() if dom.ID() != -1 else None,
        "name": dom.name(),
        "uuid": dom.UUIDString(),
    }
    lines = [
        ("Id:", str(dom.ID()) if dom.ID() != -1 else "-"),
        ("Name:", dom.name()),
        ("UUID:", dom.UUIDString()),
    ]
    try:
        os_type = dom.OSType()
        lines.append(("OS Type:", os_type))
        info["os_type"] = os_type
    except VirtError:
        pass
    try:
        state, max_mem, memory, ncpus, cputime = dom.info()
    except VirtError:
        ok = False
    else:
        lines.append(("State:", state_name(state)))
        lines.append(("CPU(s):", str(ncpus)))
        if cputime != 0:
            lines.append(("CPU time:", f"{cputime / 1e9:.1f}s"))
        lines.append(("Max memory:", f"{max_mem} KiB" if max_mem != 0xFFFFFFFF else "no limit"))
        lines.append(("Used memory:", f"{memory} KiB"))
        info.update(
            state=state_name(state),
            cpus=ncpus,
            cpu_time_s=round(cputime / 1e9, 3),
            max_memory_kib=max_mem,
            used_memory_kib=memory,
        )
    try:
        persistent = "yes" if dom.isPersistent() else "no"
    except VirtError:
        persistent = "unknown"
    lines.append(("Persistent:", persistent))
    info["persistent"] = {"yes": True, "no": False}.get(persistent)
    try:
        autostart = dom.autostart()
        lines.append(("Autostart:", "enable" if autostart else "disable"))
        info["autostart"] = bool(autostart)
    except VirtError:
        pass
    try:
        managed = "yes" if dom.hasManagedSaveImage() else "no"
    except VirtError:
        managed = "unknown"
    lines.append(("Managed save:", managed))
    info["managed_save"] = {"yes": True, "no": False}.get(managed)
    error: VirtError | None = None
    try:
        model, doi = conn.getSecurityModel()
    except VirtError as err:
        if err.code != ErrorNumber.NO_SUPPORT:
            error = err
        model = doi = ""
    if model:
        lines.append(("Security model:", model))
        lines.append(("Security DOI:", doi))
        info["security_model"] = model
        info["security_doi"] = doi
        try:
            label, enforcing = dom.securityLabel()
        except VirtError as err:
            error = err
        else:
            if label:
                mode = "enforcing" if enforcing else "permissive"
                lines.append(("Security label:", f"{label} ({mode})"))
                info["security_label"] = label
                info["security_enforcing"] = bool(enforcing)
    messages: list[str] = []
    if error is None:
        try:
            messages = dom.getMessages()
        except (VirtError, KeyError):
            messages = []
    for index, message in enumerate(messages):
        lines.append(("Messages:" if index == 0 else "", message))
    info["messages"] = messages
    if cmd.flag("json"):
        ctl.json(info)
    else:
        ctl.print("".join(f"{k:<15} {v}\n" for k, v in lines))
    if error is not None:
        raise error
    return ok


def cmd_domstate(ctl: Ctl, cmd: Command) -> bool:
    dom = ctl.lookup_domain(cmd)
    state, reason = dom.state()
    if cmd.flag("reason"):
        ctl.print(f"{state_name(state)} ({reason_name(state, reason)})\n")
    else:
        ctl.print(f"{state_name(state)}\n")
    return True


def cmd_domuuid(ctl: Ctl, cmd: Command) -> bool:
    dom = lookup_by(ctl, cmd, by_id=True, by_name=True, by_uuid=False)
    ctl.print(dom.UUIDString() + "\n")
    return True


def cmd_domid(ctl: Ctl, cmd: Command) -> bool:
    dom = lookup_by(ctl, cmd, by_id=False, by_name=True, by_uuid=True)
    ctl.print((str(dom.ID()) if dom.ID() != -1 else "-") + "\n")
    return True


def cmd_domname(ctl: Ctl, cmd: Command) -> bool:
    dom = lookup_by(ctl, cmd, by_id=True, by_name=False, by_uuid=True)
    ctl.print(dom.name() + "\n")
    return True


def lookup_by(ctl: Ctl, cmd: Command, by_id: bool, by_name: bool, by_uuid: bool) -> Domain:
    """virshLookupDomainBy with a restricted set of lookups (domid/domname/domuuid/start)."""
    name = cmd.get("domain") or ""
    conn = ctl.conn
    dom: Domain | None = None
    if by_id and looks_like_int(name) and 0 <= int(name) <= 0x7FFFFFFF:
        try:
            dom = conn.lookupByID(int(name))
        except VirtError:
            dom = None
    if dom is None and by_uuid and len(name) == 36:
        try:
            dom = conn.lookupByUUIDString(name)
        except VirtError:
            dom = None
    if dom is None and by_name:
        try:
            dom = conn.lookupByName(name)
        except VirtError:
            dom = None
    if dom is None:
        ctl.error(f"failed to get domain '{name}'")
        raise CommandFailed
    return dom


def cmd_dumpxml(ctl: Ctl, cmd: Command) -> bool:
    dom = ctl.lookup_domain(cmd)
    flags = 0
    if cmd.flag("inactive"):
        flags |= c.VIR_DOMAIN_XML_INACTIVE
    if cmd.flag("security-info"):
        flags |= c.VIR_DOMAIN_XML_SECURE
    if cmd.flag("update-cpu"):
        flags |= c.VIR_DOMAIN_XML_UPDATE_CPU
    if cmd.flag("migratable"):
        flags |= c.VIR_DOMAIN_XML_MIGRATABLE
    xml = dom.XMLDesc(flags)
    expr = cmd.get("xpath")
    if expr is not None:
        from pyvirt.cli.xpath import xpath_output

        ctl.print(xpath_output(ctl, xml, expr, cmd.flag("wrap")))
    else:
        ctl.print(xml)
    return True
