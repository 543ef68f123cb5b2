"""pyvirsh's command table: virsh's definitions plus pyvirsh's extensions, and handlers.

Handlers are named as ``"module:function"`` and imported only when their
command runs, so parsing a command line imports nothing heavy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from pyvirt.cli.defs import COMMANDS as _VIRSH_COMMANDS
from pyvirt.cli.defs import GROUPS as _VIRSH_GROUPS
from pyvirt.cli.vsh import CmdDef, OptDef, OptType

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from pyvirt.cli.ctl import Ctl
    from pyvirt.cli.vsh import Command

Handler = Callable[["Ctl", "Command"], "bool | None"]

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
    table: dict[str, CmdDef] = {}
    for name, defn in _VIRSH_COMMANDS.items():
        extra = _EXTRA_OPTS.get(name, ())
        table[name] = defn.replace(opts=defn.opts + extra, noconnect=name in _NOCONNECT)
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
    "define": "domain:cmd_define",
    "create": "domain:cmd_create",
    "undefine": "domain:cmd_undefine",
    "start": "domain:cmd_start",
    "destroy": "domain:cmd_destroy",
    "shutdown": "domain:cmd_shutdown",
    "reboot": "domain:cmd_reboot",
    "reset": "domain:cmd_reset",
    "suspend": "domain:cmd_suspend",
    "resume": "domain:cmd_resume",
    "autostart": "domain:cmd_autostart",
    "desc": "domain:cmd_desc",
    "edit": "domain:cmd_edit",
    "console": "domain:cmd_console",
    "domiflist": "domain:cmd_domiflist",
    "domifaddr": "domain:cmd_domifaddr",
    "domblklist": "domain:cmd_domblklist",
    "attach-interface": "domain:cmd_attach_interface",
    "detach-interface": "domain:cmd_detach_interface",
    "attach-disk": "domain:cmd_attach_disk",
    "detach-disk": "domain:cmd_detach_disk",
    "attach-device": "domain:cmd_attach_device",
    "detach-device": "domain:cmd_detach_device",
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
    mod = importlib.import_module(f"pyvirt.cli.cmd_{module}")
    handler: Handler = getattr(mod, func)
    return handler
