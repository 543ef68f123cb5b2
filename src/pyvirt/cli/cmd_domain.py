"""Domain commands (``tools/virsh-domain.c``, ``virsh-domain-monitor.c``)."""

from __future__ import annotations

from pyvirt import constants as c
from pyvirt.cli.ctl import CommandFailed
from pyvirt.errors import ErrorNumber, VirtError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from collections.abc import Callable
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


def _exclusive(ctl: Ctl, cmd: Command, a: str, b: str) -> None:
    if cmd.has(a) and cmd.has(b):
        ctl.error(f"Options --{a} and --{b} are mutually exclusive")
        raise CommandFailed


def _unsupported(ctl: Ctl, cmd: Command, *names: str) -> None:
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


def _title_of(xml: str, element: str = "title") -> str:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return ""
    node = root.find(element)
    return node.text or "" if node is not None else ""


def cmd_list(ctl: Ctl, cmd: Command) -> bool:
    for other in ("name", "uuid", "id"):
        _exclusive(ctl, cmd, "table", other)
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
                entry["title"] = _title_of(dom.XMLDesc(c.VIR_DOMAIN_XML_INACTIVE))
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
            title = _title_of(dom.XMLDesc(c.VIR_DOMAIN_XML_INACTIVE))
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
    dom = _lookup_by(ctl, cmd, by_id=True, by_name=True, by_uuid=False)
    ctl.print(dom.UUIDString() + "\n")
    return True


def cmd_domid(ctl: Ctl, cmd: Command) -> bool:
    dom = _lookup_by(ctl, cmd, by_id=False, by_name=True, by_uuid=True)
    ctl.print((str(dom.ID()) if dom.ID() != -1 else "-") + "\n")
    return True


def cmd_domname(ctl: Ctl, cmd: Command) -> bool:
    dom = _lookup_by(ctl, cmd, by_id=True, by_name=False, by_uuid=True)
    ctl.print(dom.name() + "\n")
    return True


def _lookup_by(ctl: Ctl, cmd: Command, by_id: bool, by_name: bool, by_uuid: bool) -> Domain:
    """virshLookupDomainBy with a restricted set of lookups (domid/domname/domuuid/start)."""
    import re

    name = cmd.get("domain") or ""
    conn = ctl.conn
    dom: Domain | None = None
    if by_id and re.match(r"^\s*[+-]?\d+$", name) and 0 <= int(name) <= 0x7FFFFFFF:
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


# ---------------------------------------------------------------------------
# define / create / undefine


def cmd_define(ctl: Ctl, cmd: Command) -> bool:
    path = cmd.get("file") or ""
    xml = ctl.read_file(path)
    try:
        if cmd.flag("validate"):
            dom = ctl.conn.defineXMLFlags(xml, c.VIR_DOMAIN_DEFINE_VALIDATE)
        else:
            dom = ctl.conn.defineXML(xml)
    except VirtError:
        ctl.error(f"Failed to define domain from {path}")
        raise
    ctl.extra(f"Domain '{dom.name()}' defined from {path}\n")
    return True


def cmd_create(ctl: Ctl, cmd: Command) -> bool:
    _unsupported(ctl, cmd, "pass-fds")
    path = cmd.get("file") or ""
    xml = ctl.read_file(path)
    flags = 0
    for opt, bit in (
        ("paused", c.VIR_DOMAIN_START_PAUSED),
        ("autodestroy", c.VIR_DOMAIN_START_AUTODESTROY),
        ("validate", c.VIR_DOMAIN_START_VALIDATE),
        ("reset-nvram", c.VIR_DOMAIN_START_RESET_NVRAM),
    ):
        if cmd.flag(opt):
            flags |= bit
    try:
        dom = ctl.conn.createXML(xml, flags)
    except VirtError:
        ctl.error(f"Failed to create domain from {path}")
        raise
    ctl.extra(f"Domain '{dom.name()}' created from {path}\n")
    if cmd.flag("console"):
        return run_console(ctl, dom, None, False)
    return True


def cmd_undefine(ctl: Ctl, cmd: Command) -> bool:
    _unsupported(ctl, cmd, "storage", "remove-all-storage", "delete-storage-volume-snapshots", "wipe-storage")
    _exclusive(ctl, cmd, "nvram", "keep-nvram")
    _exclusive(ctl, cmd, "tpm", "keep-tpm")
    dom = ctl.lookup_domain(cmd)
    flags = 0
    for opt, bit in (
        ("managed-save", c.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE),
        ("snapshots-metadata", c.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA),
        ("checkpoints-metadata", c.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA),
        ("nvram", c.VIR_DOMAIN_UNDEFINE_NVRAM),
        ("keep-nvram", c.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM),
        ("tpm", c.VIR_DOMAIN_UNDEFINE_TPM),
        ("keep-tpm", c.VIR_DOMAIN_UNDEFINE_KEEP_TPM),
    ):
        if cmd.flag(opt):
            flags |= bit
    try:
        dom.undefineFlags(flags)
    except VirtError:
        ctl.error(f"Failed to undefine domain '{dom.name()}'")
        raise
    ctl.extra(f"Domain '{dom.name()}' has been undefined\n")
    return True


# ---------------------------------------------------------------------------
# lifecycle


def cmd_start(ctl: Ctl, cmd: Command) -> bool:
    _unsupported(ctl, cmd, "pass-fds")
    dom = _lookup_by(ctl, cmd, by_id=False, by_name=True, by_uuid=True)
    if dom.ID() != -1:
        ctl.error("Domain is already active")
        raise CommandFailed
    flags = 0
    for opt, bit in (
        ("paused", c.VIR_DOMAIN_START_PAUSED),
        ("autodestroy", c.VIR_DOMAIN_START_AUTODESTROY),
        ("bypass-cache", c.VIR_DOMAIN_START_BYPASS_CACHE),
        ("force-boot", c.VIR_DOMAIN_START_FORCE_BOOT),
        ("reset-nvram", c.VIR_DOMAIN_START_RESET_NVRAM),
    ):
        if cmd.flag(opt):
            flags |= bit
    try:
        if flags:
            dom.createWithFlags(flags)
        else:
            dom.create()
    except VirtError:
        ctl.error(f"Failed to start domain '{dom.name()}'")
        raise
    ctl.extra(f"Domain '{dom.name()}' started\n")
    if cmd.flag("console"):
        return run_console(ctl, dom, None, False)
    return True


def cmd_destroy(ctl: Ctl, cmd: Command) -> bool:
    dom = ctl.lookup_domain(cmd)
    flags = 0
    if cmd.flag("graceful"):
        flags |= c.VIR_DOMAIN_DESTROY_GRACEFUL
    if cmd.flag("remove-logs"):
        flags |= c.VIR_DOMAIN_DESTROY_REMOVE_LOGS
    try:
        if flags:
            dom.destroyFlags(flags)
        else:
            dom.destroy()
    except VirtError:
        ctl.error(f"Failed to destroy domain '{dom.name()}'")
        raise
    ctl.extra(f"Domain '{dom.name()}' destroyed\n")
    return True


_MODES = {
    "acpi": c.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN,
    "agent": c.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT,
    "initctl": c.VIR_DOMAIN_SHUTDOWN_INITCTL,
    "signal": c.VIR_DOMAIN_SHUTDOWN_SIGNAL,
    "paravirt": c.VIR_DOMAIN_SHUTDOWN_PARAVIRT,
}


def _mode_flags(ctl: Ctl, cmd: Command) -> int:
    flags = 0
    mode = cmd.get("mode")
    if mode is None:
        return 0
    for item in mode.split(","):
        bit = _MODES.get(item)
        if bit is None:
            ctl.error(
                f"Unknown mode {item} value, expecting 'acpi', 'agent', 'initctl', 'signal', or 'paravirt'"
            )
            raise CommandFailed
        flags |= bit
    return flags


def cmd_shutdown(ctl: Ctl, cmd: Command) -> bool:
    flags = _mode_flags(ctl, cmd)
    dom = ctl.lookup_domain(cmd)
    try:
        if flags:
            dom.shutdownFlags(flags)
        else:
            dom.shutdown()
    except VirtError:
        ctl.error(f"Failed to shutdown domain '{dom.name()}'")
        raise
    ctl.extra(f"Domain '{dom.name()}' is being shutdown\n")
    return True


def cmd_reboot(ctl: Ctl, cmd: Command) -> bool:
    flags = _mode_flags(ctl, cmd)
    dom = ctl.lookup_domain(cmd)
    try:
        dom.reboot(flags)
    except VirtError:
        ctl.error(f"Failed to reboot domain '{dom.name()}'")
        raise
    ctl.extra(f"Domain '{dom.name()}' is being rebooted\n")
    return True


def _simple(ctl: Ctl, cmd: Command, action: str, done: str, verb: str) -> bool:
    dom = ctl.lookup_domain(cmd)
    try:
        getattr(dom, action)()
    except VirtError:
        ctl.error(f"Failed to {verb} domain '{dom.name()}'")
        raise
    ctl.extra(f"Domain '{dom.name()}' {done}\n")
    return True


def cmd_reset(ctl: Ctl, cmd: Command) -> bool:
    return _simple(ctl, cmd, "reset", "was reset", "reset")


def cmd_suspend(ctl: Ctl, cmd: Command) -> bool:
    return _simple(ctl, cmd, "suspend", "suspended", "suspend")


def cmd_resume(ctl: Ctl, cmd: Command) -> bool:
    return _simple(ctl, cmd, "resume", "resumed", "resume")


def cmd_autostart(ctl: Ctl, cmd: Command) -> bool:
    dom = ctl.lookup_domain(cmd)
    enable = not cmd.flag("disable")
    try:
        dom.setAutostart(1 if enable else 0)
    except VirtError:
        if enable:
            ctl.error(f"Failed to mark domain '{dom.name()}' as autostarted")
        else:
            ctl.error(f"Failed to unmark domain '{dom.name()}' as autostarted")
        raise
    if enable:
        ctl.extra(f"Domain '{dom.name()}' marked as autostarted\n")
    else:
        ctl.extra(f"Domain '{dom.name()}' unmarked as autostarted\n")
    return True


def cmd_desc(ctl: Ctl, cmd: Command) -> bool:
    _exclusive(ctl, cmd, "current", "live")
    _exclusive(ctl, cmd, "current", "config")
    _unsupported(ctl, cmd, "edit")
    dom = ctl.lookup_domain(cmd)
    title = cmd.flag("title")
    what = "title" if title else "description"
    flags = 0
    if cmd.flag("live"):
        flags |= c.VIR_DOMAIN_AFFECT_LIVE
    if cmd.flag("config"):
        flags |= c.VIR_DOMAIN_AFFECT_CONFIG
    words = cmd.argv("new-desc")
    if words:
        text = " ".join(words)
        kind = c.VIR_DOMAIN_METADATA_TITLE if title else c.VIR_DOMAIN_METADATA_DESCRIPTION
        try:
            dom.setMetadata(kind, text, None, None, flags)
        except VirtError:
            ctl.error(f"Failed to set new domain {what}")
            raise
        ctl.extra(f"Domain {what} updated successfully")
        return True
    xml_flags = c.VIR_DOMAIN_XML_INACTIVE if cmd.flag("config") else 0
    text = _title_of(dom.XMLDesc(xml_flags), "title" if title else "description")
    if text:
        ctl.print(text)
    else:
        ctl.extra(f"No {what} for domain: {dom.name()}")
    return True


def cmd_edit(ctl: Ctl, cmd: Command) -> bool:
    from pyvirt.cli.edit import edit_loop

    dom = ctl.lookup_domain(cmd)
    conn = ctl.conn
    skip_validate = cmd.flag("skip-validate")

    def define(xml: str, validate: bool) -> str:
        flags = c.VIR_DOMAIN_DEFINE_VALIDATE if validate and not skip_validate else 0
        return conn.defineXMLFlags(xml, flags).name()

    return edit_loop(
        ctl,
        lambda: dom.XMLDesc(c.VIR_DOMAIN_XML_INACTIVE | c.VIR_DOMAIN_XML_SECURE),
        define,
        f"Domain '{dom.name()}' XML configuration not changed.\n",
        lambda name: f"Domain '{name}' XML configuration edited.\n",
    )


ESCAPE_CHAR = 0x1D  # Ctrl+], virsh's default escape


def cmd_console(ctl: Ctl, cmd: Command) -> bool:
    """Attach the terminal to the guest's serial console until Ctrl+] or the guest's end."""
    return run_console(ctl, ctl.lookup_domain(cmd), cmd.get("devname"), cmd.flag("force"))


def run_console(ctl: Ctl, dom: Domain, devname: str | None, force: bool) -> bool:
    """The console session of ``console``, ``start --console`` and ``create --console``."""
    import os
    import select
    import sys
    import termios
    import tty

    if dom.state()[0] != c.VIR_DOMAIN_RUNNING:
        ctl.error("The domain is not running")
        raise CommandFailed
    try:
        stdin = sys.stdin.fileno()
    except (OSError, ValueError):  # io.UnsupportedOperation: no real stdin
        stdin = -1
    if stdin < 0 or not os.isatty(stdin):
        ctl.error("Cannot run interactive console without a controlling TTY")
        raise CommandFailed
    ctl.extra(f"Connected to domain '{dom.name()}'\nEscape character is ^] (Ctrl + ])\n")
    sys.stdout.flush()
    console = dom.openConsole(devname, 1 if force else 0)
    saved = termios.tcgetattr(stdin)
    out = sys.stdout.buffer
    try:
        tty.setraw(stdin)
        while not console.eof:
            data = console.recv(0.001)
            if data:
                out.write(data)
                out.flush()
                continue
            ready, _, _ = select.select([stdin, console.fileno()], [], [], 1.0)
            if stdin in ready:
                keys = os.read(stdin, 1024)
                if not keys:
                    break
                if ESCAPE_CHAR in keys:
                    before = keys[: keys.index(ESCAPE_CHAR)]
                    if before:
                        console.send(before)
                    break
                console.send(keys)
    finally:
        termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        try:
            console.finish()
        except VirtError:
            pass
    ctl.print("\n")
    return True


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
    _exclusive(ctl, cmd, "persistent", "current")
    _exclusive(ctl, cmd, "current", "live")
    _exclusive(ctl, cmd, "current", "config")
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
    _unsupported(ctl, cmd, "inbound", "outbound", "managed")
    dom = ctl.lookup_domain(cmd)
    flags, current = _modify_flags(ctl, cmd, dom)
    xml = interface_xml(cmd)
    if xml is None:
        ctl.error(f"No support for {cmd.get('type')} in command 'attach-interface'")
        raise CommandFailed
    if cmd.flag("print-xml"):
        ctl.print(xml)
        return True
    try:
        _attach(dom, xml, flags, current)
    except VirtError:
        ctl.error("Failed to attach interface")
        raise
    ctl.extra("Interface attached successfully\n")
    return True


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
    _unsupported(
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
    if cmd.flag("print-xml"):
        ctl.print(xml)
        return True
    try:
        _attach(dom, xml, flags, current)
    except VirtError:
        ctl.error("Failed to attach disk")
        raise
    ctl.extra("Disk attached successfully\n")
    return True


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
