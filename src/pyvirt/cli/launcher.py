"""Write a fast start-up launcher for ``pyvirsh``: ``python -m pyvirt.cli.launcher PATH``.

The console script pip generates runs ``import re`` before anything else (its
``sys.argv[0]`` clean-up), and the interpreter runs ``site`` first; together
they are most of a ``pyvirsh`` run's start-up time.  The launcher written here
skips both: its interpreter line passes ``-S`` (and ``-P``: the script's own
directory is not put first on ``sys.path``), and the directories ``site``
would have put on ``sys.path`` for this environment (site-packages, and the
entries of its ``.pth`` files such as an editable install's source directory)
are written into the script, in ``site``'s order.  ``PYTHONPATH`` still works.
It also ends the process through :func:`pyvirt.cli.main.run`, without the
interpreter's teardown.

Run it again whenever the environment changes (``make setup`` does).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["launcher_text", "main", "site_paths"]

# Linux's limit on the ``#!`` line (BINPRM_BUF_SIZE before 5.1).
_SHEBANG_MAX = 127


def site_paths() -> list[str]:
    """The ``sys.path`` entries ``site`` adds for this interpreter, in order.

    Asked of two fresh interpreters (``-E``: no ``PYTHONPATH``), one with and
    one without ``site``, so neither the current directory nor the caller's
    environment leak into the launcher.
    """
    with_site = _child_path([])
    without = set(_child_path(["-S"]))
    out: list[str] = []
    for entry in with_site:
        if entry not in without and entry not in out:
            out.append(entry)
    return out


def _child_path(flags: list[str]) -> list[str]:
    import subprocess

    code = "import sys; print('\\n'.join(sys.path[1:]))"
    result = subprocess.run(
        [sys.executable, *flags, "-E", "-c", code], capture_output=True, text=True, check=True
    )
    return [line for line in result.stdout.splitlines() if line]


def launcher_text(python: str, paths: Sequence[str]) -> str:
    """The launcher script for interpreter ``python`` with ``paths`` appended to ``sys.path``."""
    shebang = f"#!{python} -SP"
    body = (
        "# pyvirsh, written by `python -m pyvirt.cli.launcher`: started without site.py\n"
        "# (-S) and without the `import re` of pip's console script, for a fast start-up.\n"
        "import sys\n"
        f"sys.path += {list(paths)!r}\n"
        "from pyvirt.cli.main import run\n"
        "\n"
        "run()\n"
    )
    if len(shebang) <= _SHEBANG_MAX and " " not in python:
        return shebang + "\n" + body
    # too long (or awkward) for a #! line: the /bin/sh trampoline pip uses too
    quoted = "'" + python.replace("'", "'\"'\"'") + "'"
    return f"#!/bin/sh\n'''exec' {quoted} -SP \"$0\" \"$@\"\n' '''\n" + body


def main(argv: Sequence[str] | None = None) -> int:
    """Write the launcher to the path in ``argv`` (default: ``pyvirsh`` next to the interpreter)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0].startswith("-")):
        sys.stderr.write("usage: python -m pyvirt.cli.launcher [PATH]\n")
        return 2
    python = sys.executable
    dest = args[0] if args else os.path.join(os.path.dirname(python), "pyvirsh")
    text = launcher_text(python, site_paths())
    tmp = f"{dest}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
