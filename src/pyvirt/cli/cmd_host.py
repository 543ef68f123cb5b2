"""Host commands (uri, hostname, version, capabilities, nodeinfo) and virsh's own (help, quit, connect)."""

from __future__ import annotations

from pyvirt.cli.ctl import CommandFailed

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from pyvirt.cli.ctl import Ctl
    from pyvirt.cli.vsh import Command


def _fmt_version(value: int) -> str:
    return f"{value // 1000000}.{(value % 1000000) // 1000}.{value % 1000}"


def cmd_help(ctl: Ctl, cmd: Command) -> bool:
    from pyvirt.cli.registry import COMMANDS, GROUPS
    from pyvirt.cli.vsh import format_command_help

    name = cmd.get("command")
    if name is None:
        ctl.print("Grouped commands:\n\n")
        for title, keyword, names in GROUPS:
            ctl.print(_group_help(title, keyword, names, COMMANDS) + "\n")
        return True
    if name in COMMANDS:
        ctl.print(format_command_help(COMMANDS[name]))
        return True
    for title, keyword, names in GROUPS:
        if name in (title, keyword):
            ctl.print(_group_help(title, keyword, names, COMMANDS))
            return True
    ctl.error(f"command or command group '{name}' doesn't exist")
    raise CommandFailed


def _group_help(title: str, keyword: str, names: tuple[str, ...], commands: dict) -> str:  # type: ignore[type-arg]
    lines = [f" {title} (help keyword '{keyword}'):\n"]
    lines += [f"    {n:<30} {commands[n].help}\n" for n in names]
    return "".join(lines)


def cmd_quit(ctl: Ctl, cmd: Command) -> bool:
    return True


def cmd_connect(ctl: Ctl, cmd: Command) -> bool:
    ctl.connect(cmd.get("name"), cmd.flag("readonly"))
    return True


def cmd_uri(ctl: Ctl, cmd: Command) -> bool:
    ctl.print(ctl.conn.getURI() + "\n")
    return True


def cmd_hostname(ctl: Ctl, cmd: Command) -> bool:
    ctl.print(ctl.conn.getHostname() + "\n")
    return True


def cmd_capabilities(ctl: Ctl, cmd: Command) -> bool:
    ctl.print(ctl.conn.getCapabilities() + "\n")
    return True


def cmd_version(ctl: Ctl, cmd: Command) -> bool:
    conn = ctl.conn
    hv_type = conn.getType()
    lib = _fmt_version(conn.getLibVersion())
    ctl.print(f"Compiled against library: libvirt {lib}\n")
    ctl.print(f"Using library: libvirt {lib}\n")
    ctl.print(f"Using API: {hv_type} {lib}\n")
    ctl.print(f"Running hypervisor: {hv_type} {_fmt_version(conn.getVersion())}\n")
    if cmd.flag("daemon"):
        ctl.print(f"Running against daemon: {lib}\n")
    return True


def cmd_nodeinfo(ctl: Ctl, cmd: Command) -> bool:
    info = ctl.conn.nodeInfo()
    if cmd.flag("json"):
        ctl.json(
            {
                "cpu_model": info["model"],
                "cpus": info["cpus"],
                "cpu_mhz": info["mhz"],
                "cpu_sockets": info["sockets"],
                "cores_per_socket": info["cores"],
                "threads_per_core": info["threads"],
                "numa_cells": info["nodes"],
                "memory_kib": info["memory"],
            }
        )
        return True
    rows = [
        ("CPU model:", info["model"]),
        ("CPU(s):", info["cpus"]),
        ("CPU frequency:", f"{info['mhz']} MHz"),
        ("CPU socket(s):", info["sockets"]),
        ("Core(s) per socket:", info["cores"]),
        ("Thread(s) per core:", info["threads"]),
        ("NUMA cell(s):", info["nodes"]),
        ("Memory size:", f"{info['memory']} KiB"),
    ]
    ctl.print("".join(f"{k:<20} {v}\n" for k, v in rows))
    return True
