"""virsh's command-line machinery: option definitions, the parser and help texts.

Behaviour follows libvirt 9.0's ``tools/vsh.c``:

* a command line is a sequence of commands; in string mode (one argument, or
  the interactive shell) they are separated by ``;`` or newlines, tokens are
  split on blanks with shell-like quoting, ``#`` starts a comment;
* ``--name value``, ``--name=value`` and bare ``--flag``; any other token
  fills the next not-yet-seen non-boolean option in declaration order;
  ``--`` makes every later token data;
* ``--help`` anywhere turns the command into ``help <command>``;
* the whole line is parsed before anything runs, and any error discards it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = [
    "CmdDef",
    "Command",
    "OptDef",
    "OptType",
    "ParseError",
    "format_command_help",
    "parse_argv",
    "parse_string",
    "tokenize",
]


class OptType:
    """vsh option types (plain string constants: an Enum would cost pyvirsh start-up time)."""

    BOOL = "bool"
    STRING = "string"  # optional, value may also come positionally
    INT = "number"
    DATA = "data"  # required, positional
    ARGV = "argv"  # remaining data, may repeat


class OptDef:
    """One option of a command (``positional=False`` is VSH_OFLAG_REQ_OPT: only ``--name value``)."""

    __slots__ = ("help", "name", "positional", "required", "type")

    def __init__(self, name: str, type: str, required: bool, help: str, positional: bool = True) -> None:
        self.name = name
        self.type = type
        self.required = required
        self.help = help
        self.positional = positional

    def __repr__(self) -> str:
        return f"OptDef({self.name!r}, {self.type}, {self.required})"


class CmdDef:
    """A command: virsh's name, one-line help, description and options."""

    __slots__ = ("desc", "help", "name", "noconnect", "opts")

    def __init__(
        self, name: str, help: str, desc: str | None, opts: tuple[OptDef, ...] = (), noconnect: bool = False
    ) -> None:
        self.name = name
        self.help = help
        self.desc = desc
        self.opts = opts
        self.noconnect = noconnect

    def replace(self, **changes: object) -> CmdDef:
        """A copy with some fields changed."""
        fields: dict[str, object] = {k: getattr(self, k) for k in self.__slots__}
        fields.update(changes)
        return CmdDef(**fields)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"CmdDef({self.name!r})"

    def option(self, name: str) -> OptDef | None:
        for opt in self.opts:
            if opt.name == name:
                return opt
        return None


class Command:
    """A parsed command: its definition and the option values given."""

    __slots__ = ("defn", "values")

    def __init__(self, defn: CmdDef, values: dict[str, str | bool | list[str]] | None = None) -> None:
        self.defn = defn
        self.values: dict[str, str | bool | list[str]] = values if values is not None else {}

    def __repr__(self) -> str:
        return f"Command({self.defn.name!r}, {self.values!r})"

    @property
    def name(self) -> str:
        return self.defn.name

    def has(self, name: str) -> bool:
        """True when the option was given (boolean flags and data alike)."""
        return name in self.values

    def flag(self, name: str) -> bool:
        return bool(self.values.get(name, False))

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None or isinstance(value, bool):
            return None
        if isinstance(value, list):
            return " ".join(value)
        return value

    def argv(self, name: str) -> list[str]:
        value = self.values.get(name)
        if isinstance(value, list):
            return list(value)
        if isinstance(value, str):
            return [value]
        return []


class ParseError(Exception):
    """A command line that virsh would refuse; ``messages`` are the ``error:`` lines."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages = list(messages)
        super().__init__("; ".join(self.messages))


# Token kinds for the string tokenizer.
_END_SUBCMD = object()


def tokenize(line: str) -> Iterator[str | object]:
    """Split ``line`` like vsh's string parser: yields tokens and a separator marker.

    Raises :class:`ParseError` for a dangling backslash or an unclosed double quote.
    """
    i, n = 0, len(line)
    while True:
        while i < n and (line[i] in " \t" or (line[i] == "\\" and i + 1 < n and line[i + 1] == "\n")):
            i += 2 if line[i] == "\\" else 1
        if i >= n:
            return
        ch = line[i]
        if ch in ";\n":
            i += 1
            yield _END_SUBCMD
            continue
        if ch == "#":
            while i < n and line[i] != "\n":
                i += 1
            i += 1
            yield _END_SUBCMD
            continue
        out: list[str] = []
        single = double = False
        while i < n:
            ch = line[i]
            if not single and not double and ch in " \t;\n":
                break
            if not double and ch == "'":
                single = not single
                i += 1
                continue
            if not single and ch == "\\":
                i += 1
                if i >= n:
                    raise ParseError(["dangling \\"])
                if line[i] == "\n":
                    i += 1
                    continue
            elif not single and ch == '"':
                double = not double
                i += 1
                continue
            out.append(line[i])
            i += 1
        if double:
            raise ParseError(['missing "'])
        yield "".join(out)


def _split_commands(line: str) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    for tok in tokenize(line):
        if tok is _END_SUBCMD:
            groups.append([])
        else:
            assert isinstance(tok, str)
            groups[-1].append(tok)
    return [g for g in groups if g]


def parse_string(
    line: str, commands: dict[str, CmdDef], aliases: dict[str, str] | None = None
) -> list[Command]:
    """Parse a command string (interactive line, or a single argv argument).

    Raises :class:`ParseError`.
    """
    result: list[Command] = []
    for words in _split_commands(line):
        result.append(_parse_one(words, commands, aliases or {}))
    return result


def parse_argv(
    args: Sequence[str], commands: dict[str, CmdDef], aliases: dict[str, str] | None = None
) -> list[Command]:
    """Parse one command given as separate arguments (no ``;`` splitting).

    Raises :class:`ParseError`.
    """
    if not args or args[0].startswith("#"):
        return []
    return [_parse_one(list(args), commands, aliases or {})]


def _parse_one(words: list[str], commands: dict[str, CmdDef], aliases: dict[str, str]) -> Command:
    name = words[0]
    defn = commands.get(aliases.get(name, name))
    if defn is None:
        raise ParseError([f"unknown command: '{name}'"])
    is_help = defn.name == "help"
    values: dict[str, str | bool | list[str]] = {}
    seen: set[str] = set()
    need_arg = [o for o in defn.opts if o.type != OptType.BOOL and o.positional]
    data_only = False
    i = 1
    wants_help = False
    while i < len(words):
        tok = words[i]
        i += 1
        if not data_only and len(tok) > 2 and tok.startswith("--") and tok[2].isalnum():
            oname, eq, optval = tok[2:].partition("=")
            if oname == "help":
                if eq:
                    raise ParseError([f"invalid '=' after option --{oname}"])
                wants_help = True
                continue
            opt = defn.option(oname)
            if opt is None:
                if is_help:
                    continue
                raise ParseError([f"command '{defn.name}' doesn't support option --{oname}"])
            if oname in seen and opt.type != OptType.ARGV:
                raise ParseError([f"option --{oname} already seen"])
            seen.add(oname)
            if opt.type == OptType.BOOL:
                if eq:
                    raise ParseError([f"invalid '=' after option --{oname}"])
                values[oname] = True
                continue
            if not eq:
                if i >= len(words):
                    kind = "number" if opt.type == OptType.INT else "string"
                    raise ParseError([f"expected syntax: --{oname} <{kind}>"])
                optval = words[i]
                i += 1
            _store(values, opt, optval)
            if opt.type != OptType.ARGV and opt in need_arg:
                need_arg.remove(opt)
            continue
        if not data_only and tok == "--":
            data_only = True
            continue
        if not need_arg:
            if is_help:
                continue
            raise ParseError([f"unexpected data '{tok}'"])
        opt = need_arg[0]
        if opt.type != OptType.ARGV:
            need_arg.pop(0)
        seen.add(opt.name)
        _store(values, opt, tok)
    if wants_help:
        return Command(commands["help"], {"command": defn.name})
    missing = [
        f"command '{defn.name}' requires <{o.name}> option"
        if o.type in (OptType.DATA, OptType.ARGV)
        else f"command '{defn.name}' requires --{o.name} option"
        for o in defn.opts
        if o.required and o.name not in seen
    ]
    if missing:
        raise ParseError(missing)
    return Command(defn, values)


def _store(values: dict[str, str | bool | list[str]], opt: OptDef, value: str) -> None:
    if opt.type == OptType.ARGV:
        current = values.setdefault(opt.name, [])
        assert isinstance(current, list)
        current.append(value)
    else:
        values[opt.name] = value


def format_command_help(defn: CmdDef) -> str:
    """The text of ``virsh help <command>`` (without virsh's trailing blank line)."""
    out = ["  NAME\n", f"    {defn.name} - {defn.help}\n", "\n  SYNOPSIS\n", f"    {defn.name}"]
    shortopt = False
    for opt in defn.opts:
        if opt.type == OptType.BOOL:
            text = f"[--{opt.name}]"
        elif opt.type == OptType.INT:
            text = f"<{opt.name}>" if opt.required else f"[--{opt.name} <number>]"
            shortopt = shortopt or opt.positional
        elif opt.type == OptType.STRING:
            text = f"[--{opt.name} <string>]"
            shortopt = shortopt or opt.positional
        elif opt.type == OptType.DATA:
            text = f"<{opt.name}>" if opt.required else f"[<{opt.name}>]"
            shortopt = shortopt or opt.positional
        elif shortopt:
            text = f"{{[--{opt.name}] <string>}}..." if opt.required else f"[[--{opt.name}] <string>]..."
        else:
            text = f"<{opt.name}>..." if opt.required else f"[<{opt.name}>]..."
        out.append(" " + text)
    out.append("\n")
    if defn.desc:
        out.append("\n  DESCRIPTION\n")
        out.append(f"    {defn.desc}\n")
    if defn.opts:
        out.append("\n  OPTIONS\n")
        for opt in defn.opts:
            if opt.type == OptType.BOOL:
                buf = f"--{opt.name}"
            elif opt.type == OptType.INT:
                buf = f"[--{opt.name}] <number>" if opt.required else f"--{opt.name} <number>"
            elif opt.type == OptType.STRING:
                buf = f"--{opt.name} <string>"
            elif opt.type == OptType.DATA:
                buf = f"[--{opt.name}] <string>"
            else:
                buf = f"[--{opt.name}] <string>" if shortopt else f"<{opt.name}>"
            out.append(f"    {buf:<15}  {opt.help}\n")
    out.append("\n")
    return "".join(out)
