"""``pyvirsh``: virsh-compatible command line for pyvirt.

Global options as virsh 9.0 (getopt with ``+``: options stop at the first
command word).  With no command, an interactive shell reads commands from
stdin (prompt ``pyvirsh # `` / ``pyvirsh > ``).  Exit status: 0 when the last
command succeeded, 1 otherwise (parse errors included).
"""

from __future__ import annotations

import sys

from pyvirt.cli.ctl import CommandFailed, Ctl
from pyvirt.cli.vsh import ParseError, parse_argv, parse_string
from pyvirt.errors import VirtError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pyvirt.cli.vsh import Command

__all__ = ["main", "run", "run_commands", "run_line"]

PROG = "pyvirsh"

_SHORT_WITH_ARG = {
    "c": "connect",
    "d": "debug",
    "e": "escape",
    "k": "keepalive-interval",
    "K": "keepalive-count",
    "l": "log",
}
_SHORT_FLAGS = {
    "h": "help",
    "q": "quiet",
    "r": "readonly",
    "t": "timing",
    "v": "version",
    "V": "version-long",
}
_LONG = {
    "connect": True,
    "debug": True,
    "escape": True,
    "help": False,
    "keepalive-interval": True,
    "keepalive-count": True,
    "log": True,
    "quiet": False,
    "readonly": False,
    "timing": False,
    "version": None,  # optional argument
}


class _Usage(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _version() -> str:
    from pyvirt import __version__

    return __version__


def _usage_text() -> str:
    from pyvirt.cli.registry import COMMANDS, GROUPS

    lines = [
        "",
        f"{PROG} [options]... [<command_string>]",
        f"{PROG} [options]... <command> [args...]",
        "",
        "  options:",
        "    -c | --connect=URI      hypervisor connection URI",
        "    -d | --debug=NUM        debug level [0-4]",
        "    -e | --escape <char>    set escape sequence for console",
        "    -h | --help             this help",
        "    -k | --keepalive-interval=NUM",
        "                            keepalive interval in seconds, 0 for disable",
        "    -K | --keepalive-count=NUM",
        "                            number of possible missed keepalive messages",
        "    -l | --log=FILE         output logging to file",
        "    -q | --quiet            quiet mode",
        "    -r | --readonly         connect readonly",
        "    -t | --timing           print timing information",
        "    -v                      short version",
        "    -V                      long version",
        "         --version[=TYPE]   version, TYPE is short or long (default short)",
        "  commands (non interactive mode):",
        "",
    ]
    for title, keyword, names in GROUPS:
        lines.append(f" {title} (help keyword '{keyword}')")
        for name in names:
            lines.append(f"    {name:<30} {COMMANDS[name].help}")
        lines.append("")
    lines += [
        "",
        "  (specify help <group> for details about the commands in the group)",
        "",
        "  (specify help <command> for details about the command)",
        "",
    ]
    return "\n".join(lines) + "\n"


def _long_version() -> str:
    return (
        f"{PROG} command line tool of pyvirt {_version()}\n"
        "See https://libvirt.org/ for the libvirt commands it follows.\n\n"
        "Compiled with support for:\n"
        " Hypervisors: QEMU\n"
        " Networking: Remote Network Bridging\n"
    )


def _parse_global(argv: Sequence[str], ctl: Ctl) -> tuple[list[str], str | None]:
    """Consume global options; returns (remaining args, action) where action is a
    text to print and exit with (help/version), or None.  Raises :class:`_Usage`."""
    i = 0
    args = list(argv)
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            matches = [n for n in _LONG if n.startswith(name)]
            if name in _LONG:
                matches = [name]
            if len(matches) != 1:
                kind = "ambiguous" if matches else "unsupported"
                raise _Usage(f"{kind} option '{arg}'. See --help.")
            name = matches[0]
            takes = _LONG[name]
            if takes is True and not eq:
                if i + 1 >= len(args):
                    short = next((k for k, v in _SHORT_WITH_ARG.items() if v == name), name[0])
                    raise _Usage(f"option '-{short}'/'--{name}' requires an argument")
                value = args[i + 1]
                i += 1
            elif takes is False and eq:
                raise _Usage(f"unsupported option '{arg}'. See --help.")
            i += 1
            action = _apply(ctl, name, value if (takes is not False) else None, bool(eq))
            if action is not None:
                return [], action
            continue
        if arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                ch = arg[j]
                if ch in _SHORT_WITH_ARG:
                    name = _SHORT_WITH_ARG[ch]
                    value = arg[j + 1 :]
                    if not value:
                        if i + 1 >= len(args):
                            raise _Usage(f"option '-{ch}'/'--{name}' requires an argument")
                        value = args[i + 1]
                        i += 1
                    action = _apply(ctl, name, value, True)
                    if action is not None:
                        return [], action
                    break
                if ch in _SHORT_FLAGS:
                    action = _apply(ctl, _SHORT_FLAGS[ch], None, False)
                    if action is not None:
                        return [], action
                    j += 1
                    continue
                raise _Usage(f"unsupported option '-{ch}'. See --help.")
            i += 1
            continue
        break
    return args[i:], None


def _apply(ctl: Ctl, name: str, value: str | None, has_value: bool) -> str | None:
    if name == "connect":
        ctl.uri = value
    elif name == "quiet":
        ctl.quiet = True
    elif name == "readonly":
        ctl.readonly = True
    elif name == "timing":
        ctl.timing = True
    elif name == "help":
        return _usage_text()
    elif name == "version":
        if has_value and value not in (None, "short"):
            if value == "long":
                return _long_version()
            raise _Usage(f"unknown version type '{value}'")
        return _version() + "\n"
    elif name == "version-long":
        return _long_version()
    elif name == "debug":
        if value is None or not value.isdigit() or int(value) > 4:
            raise _Usage(f"ignoring debug level {value} - out of range [0-4]")
    elif name in ("keepalive-interval", "keepalive-count"):
        try:
            number = int(value or "")
        except ValueError:
            number = -1
        if number < 0:
            if name == "keepalive-interval":
                raise _Usage("Invalid value for option -k")
            raise _Usage("option -K requires a positive integer argument")
    elif name == "escape":
        text = value or ""
        if not (len(text) == 1 or (len(text) == 2 and text[0] == "^")):
            raise _Usage(f"Invalid string '{text}' for escape sequence")
        ctl.escape = text
    return None


def run_commands(ctl: Ctl, cmds: Sequence[Command]) -> tuple[bool, bool]:
    """Run parsed commands like vshCommandRun; returns (last ok, quit requested)."""
    ok = True
    for cmd in cmds:
        ok = _run_one(ctl, cmd)
        if cmd.name in ("quit", "exit"):
            return ok, True
        if ctl.timing:
            ctl.print(f"\n(Time: {ctl.last_ms:.3f} ms)\n\n")
        else:
            ctl.extra("\n")
    return ok, False


def _run_one(ctl: Ctl, cmd: Command) -> bool:
    import time

    from pyvirt.cli.registry import handler_for

    start = time.perf_counter()
    try:
        if not cmd.defn.noconnect:
            _ = ctl.conn
        result = handler_for(cmd.name)(ctl, cmd)
        return result is not False
    except VirtError as err:
        ctl.report(err)
        return False
    except CommandFailed:
        return False
    finally:
        ctl.last_ms = (time.perf_counter() - start) * 1000.0
        ctl.out.flush()


def run_line(ctl: Ctl, line: str) -> tuple[bool, bool]:
    """Parse and run one command string (interactive line).  Returns (ok, quit)."""
    from pyvirt.cli.registry import ALIASES, COMMANDS

    try:
        cmds = parse_string(line, COMMANDS, ALIASES)
    except ParseError as err:
        for message in err.messages:
            ctl.error(message)
        return False, False
    return run_commands(ctl, cmds)


def _prompt(ctl: Ctl) -> str:
    return f"{PROG} # " if not ctl.readonly and ctl.is_root() else f"{PROG} > "


def _interactive(ctl: Ctl) -> int:
    ctl.interactive = True
    ctl.resume_gc()
    ctl.extra(
        f"Welcome to {PROG}, the virtualization interactive terminal.\n\n"
        "Type:  'help' for help with commands\n"
        "       'quit' to quit\n\n"
    )
    tty = sys.stdin.isatty()
    if tty:
        try:
            import readline  # noqa: F401 - line editing for input()
        except ImportError:
            pass
    while True:
        prompt = _prompt(ctl)
        if tty:
            try:
                line = input(prompt)
            except EOFError:
                ctl.print("\n")
                break
            except KeyboardInterrupt:
                ctl.print("\n")
                continue
        else:
            ctl.print(prompt)
            ctl.out.flush()
            raw = sys.stdin.readline()
            if not raw:
                ctl.print("\n")
                break
            line = raw.rstrip("\n")
            ctl.print(line + "\n")
        if not line.strip():
            continue
        _, quit_requested = run_line(ctl, line)
        if quit_requested:
            ctl.print("\n")
            break
    return 0


def main(argv: Sequence[str] | None = None, ctl: Ctl | None = None) -> int:
    """Entry point of ``pyvirsh``; returns the exit status (tests may pass their own ``ctl``)."""
    import gc

    # A one-shot run leaves no garbage cycles worth collecting, but the cyclic
    # collector would run several times while the modules load (~2 ms of
    # start-up).  Long-lived modes turn it back on (Ctl.resume_gc), and so
    # does returning from here.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _main(argv, ctl, paused)
    finally:
        if paused:
            gc.enable()


def _main(argv: Sequence[str] | None, ctl: Ctl | None, gc_paused: bool) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if ctl is None:
        ctl = Ctl()
    ctl.gc_paused = gc_paused
    try:
        rest, action = _parse_global(args, ctl)
    except _Usage as err:
        ctl.error(err.message)
        return 1
    if action is not None:
        ctl.print(action)
        return 0
    try:
        if not rest:
            return _interactive(ctl)
        from pyvirt.cli.registry import ALIASES, COMMANDS

        try:
            if len(rest) == 1:
                cmds = parse_string(rest[0], COMMANDS, ALIASES)
            else:
                cmds = parse_argv(rest, COMMANDS, ALIASES)
        except ParseError as err:
            for message in err.messages:
                ctl.error(message)
            return 1
        ok, _ = run_commands(ctl, cmds)
        return 0 if ok else 1
    except BrokenPipeError:
        # the reader went away (``pyvirsh list | head -1``): exit quietly
        import os

        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except KeyboardInterrupt:
        return 1
    finally:
        try:
            ctl.out.flush()
        except (BrokenPipeError, ValueError):
            pass
        ctl.close()


def run() -> None:
    """Run ``pyvirsh`` and end the process: the entry point for launchers.

    Exits without the interpreter's teardown (freeing every module and
    object), a few milliseconds of a one-shot run, once stdout and stderr are
    flushed.  When flushing fails, or something registered ``atexit`` work or
    started threads, the normal ``sys.exit`` path runs instead, with its
    usual reporting.
    """
    status = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        sys.exit(status)
    # atexit work is registered through the atexit module (logging does), so
    # with that module never imported there is none
    atexit = sys.modules.get("atexit")
    pending = atexit is not None and getattr(atexit, "_ncallbacks", lambda: 1)()
    if pending or "threading" in sys.modules:
        sys.exit(status)
    import posix

    posix._exit(status)


if __name__ == "__main__":
    sys.exit(main())
