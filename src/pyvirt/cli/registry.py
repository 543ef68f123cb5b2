"""pyvirsh's command table: virsh's definitions plus pyvirsh's extensions, and handlers.

Handlers are named as ``"module:function"`` and imported only when their
command runs, so parsing a command line imports nothing heavy.
"""

from __future__ import annotations

import sys

from pyvirt.cli.defs import COMMANDS as _VIRSH_COMMANDS
from pyvirt.cli.defs import GROUPS as _VIRSH_GROUPS
from pyvirt.cli.vsh import CmdDef, OptDef, OptType

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyvirt.cli.ctl import Ctl
    from pyvirt.cli.vsh import Command

    Handler = Callable[[Ctl, Command], bool | None]

__all__ = ["ALIASES", "COMMANDS", "GROUPS", "handler_for"]

_JSON = OptDef("json", OptType.BOOL, False, "print the result as a JSON document (pyvirsh extension)")

# Options pyvirsh adds to virsh's commands.
_EXTRA_OPTS: dict[str, tuple[OptDef, ...]] = {
    "list": (_JSON,),
    "net-list": (OptDef("title", OptType.BOOL, False, "show network title"), _JSON),
    "dominfo": (_JSON,),
    "net-info": (_JSON,),
    "net-dhcp-leases": (_JSON,),
    "domifaddr": (_JSON,),
    "domiflist": (_JSON,),
    "nodeinfo": (_JSON,),
}

_NEW_COMMANDS: dict[str, CmdDef] = {
    "net-port-forwards": CmdDef(
        "net-port-forwards",
        "list a network's port forwards",
        "Lists the port forwards of a network (pyvirt's <portForward> elements under <forward>).",
        (
            OptDef("network", OptType.DATA, True, "network name or uuid"),
            OptDef("inactive", OptType.BOOL, False, "show the persistent configuration"),
            _JSON,
        ),
    ),
}

_NOCONNECT = frozenset({"help", "quit", "exit", "connect"})


def _build() -> dict[str, CmdDef]:
    table = dict(_VIRSH_COMMANDS)
    # copies only of the definitions that change (this runs at every pyvirsh start)
    for name, extra in _EXTRA_OPTS.items():
        defn = table[name]
        table[name] = defn.replace(opts=defn.opts + extra)
    for name in _NOCONNECT:
        table[name] = table[name].replace(noconnect=True)
    table.update(_NEW_COMMANDS)
    return table


COMMANDS: dict[str, CmdDef] = _build()

GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = tuple(
    (title, keyword, cmds + (("net-port-forwards",) if keyword == "network" else ()))
    for title, keyword, cmds in _VIRSH_GROUPS
)

# virsh 9.0 has no command aliases among the commands pyvirsh implements; the
# table exists for our own (none yet) and is consulted by the parser.
ALIASES: dict[str, str] = {}

_HANDLERS: dict[str, str] = {
    # virsh itself
    "help": "host:cmd_help",
    "quit": "host:cmd_quit",
    "exit": "host:cmd_quit",
    "connect": "host:cmd_connect",
    # host
    "uri": "host:cmd_uri",
    "hostname": "host:cmd_hostname",
    "version": "host:cmd_version",
    "capabilities": "host:cmd_capabilities",
    "nodeinfo": "host:cmd_nodeinfo",
    # domains
    "list": "domain:cmd_list",
    "dominfo": "domain:cmd_dominfo",
    "domstate": "domain:cmd_domstate",
    "domuuid": "domain:cmd_domuuid",
    "domname": "domain:cmd_domname",
    "domid": "domain:cmd_domid",
    "dumpxml": "domain:cmd_dumpxml",
    "define": "lifecycle:cmd_define",
    "create": "lifecycle:cmd_create",
    "undefine": "lifecycle:cmd_undefine",
    "start": "lifecycle:cmd_start",
    "destroy": "lifecycle:cmd_destroy",
    "shutdown": "lifecycle:cmd_shutdown",
    "reboot": "lifecycle:cmd_reboot",
    "reset": "lifecycle:cmd_reset",
    "suspend": "lifecycle:cmd_suspend",
    "resume": "lifecycle:cmd_resume",
    "autostart": "lifecycle:cmd_autostart",
    "desc": "lifecycle:cmd_desc",
    "edit": "lifecycle:cmd_edit",
    "console": "lifecycle:cmd_console",
    "domiflist": "devices:cmd_domiflist",
    "domifaddr": "devices:cmd_domifaddr",
    "domblklist": "devices:cmd_domblklist",
    "attach-interface": "devices:cmd_attach_interface",
    "detach-interface": "devices:cmd_detach_interface",
    "attach-disk": "devices:cmd_attach_disk",
    "detach-disk": "devices:cmd_detach_disk",
    "attach-device": "devices:cmd_attach_device",
    "detach-device": "devices:cmd_detach_device",
    "event": "events:cmd_event",
    # networks
    "net-list": "network:cmd_net_list",
    "net-info": "network:cmd_net_info",
    "net-uuid": "network:cmd_net_uuid",
    "net-name": "network:cmd_net_name",
    "net-dumpxml": "network:cmd_net_dumpxml",
    "net-define": "network:cmd_net_define",
    "net-create": "network:cmd_net_create",
    "net-undefine": "network:cmd_net_undefine",
    "net-start": "network:cmd_net_start",
    "net-destroy": "network:cmd_net_destroy",
    "net-autostart": "network:cmd_net_autostart",
    "net-edit": "network:cmd_net_edit",
    "net-dhcp-leases": "network:cmd_net_dhcp_leases",
    "net-update": "network:cmd_net_update",
    "net-port-forwards": "network:cmd_net_port_forwards",
    "net-event": "events:cmd_net_event",
}


def handler_for(name: str) -> Handler:
    """The handler function of command ``name`` (imports its module).  Raises KeyError."""
    module, func = _HANDLERS[name].split(":")
    modname = f"pyvirt.cli.cmd_{module}"
    # __import__ rather than importlib.import_module: importlib pulls in
    # ``warnings`` and costs pyvirsh start-up time.
    __import__(modname)
    handler: Handler = getattr(sys.modules[modname], func)
    return handler
