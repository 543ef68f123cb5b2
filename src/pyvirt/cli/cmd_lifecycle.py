"""Domain lifecycle commands: define, create, undefine, start, stop, autostart, desc, edit, console.

Split from :mod:`pyvirt.cli.cmd_domain` so that the read-only commands load less code.
"""

from __future__ import annotations

from pyvirt import constants as c
from pyvirt.cli.cmd_domain import exclusive, lookup_by, title_of, unsupported
from pyvirt.cli.ctl import CommandFailed
from pyvirt.errors import VirtError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from pyvirt.cli.ctl import Ctl
    from pyvirt.cli.vsh import Command
    from pyvirt.client import Domain


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
    unsupported(ctl, cmd, "pass-fds")
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
    unsupported(ctl, cmd, "storage", "remove-all-storage", "delete-storage-volume-snapshots", "wipe-storage")
    exclusive(ctl, cmd, "nvram", "keep-nvram")
    exclusive(ctl, cmd, "tpm", "keep-tpm")
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
    unsupported(ctl, cmd, "pass-fds")
    dom = lookup_by(ctl, cmd, by_id=False, by_name=True, by_uuid=True)
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
    exclusive(ctl, cmd, "current", "live")
    exclusive(ctl, cmd, "current", "config")
    unsupported(ctl, cmd, "edit")
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
    text = title_of(dom.XMLDesc(xml_flags), "title" if title else "description")
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

    ctl.resume_gc()
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
