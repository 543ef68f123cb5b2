"""Write fast start-up launchers for pyvirt's programs: ``python -m pyvirt.launcher [DIR]``.

The console scripts pip generates run ``import re`` before anything else (their
``sys.argv[0]`` clean-up), and the interpreter runs ``site`` first; together
they are most of a ``pyvirsh`` run's start-up time, and a few milliseconds of
the daemon's.  The launchers written here skip both: their interpreter line
passes ``-S`` (and ``-P``: the script's own directory is not put first on
``sys.path``), and the directories ``site`` would have put on ``sys.path`` for
this environment (site-packages, and the entries of its ``.pth`` files such as
an editable install's source directory) are written into the script, in
``site``'s order.  ``PYTHONPATH`` still works.
``pyvirsh`` also ends the process through :func:`pyvirt.cli.main.run`,
without the interpreter's teardown.

Run it again whenever the environment changes (``make setup`` does).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["PROGRAMS", "launcher_text", "main", "site_paths"]

# program -> the lines that run it
PROGRAMS = {
    "pyvirsh": "from pyvirt.cli.main import run\n\nrun()\n",
    # the collector is off for start-up (see pyvirt.pyvirtd.main), from the first import on
    "pyvirtd": "import gc\n\ngc.disable()\n\nfrom pyvirt.pyvirtd import main\n\nsys.exit(main())\n",
    # dnsmasq waits for it on every lease event
    "pyvirt-leaseshelper": "from pyvirt.network.leaseshelper import main\n\nmain()\n",
}

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


def launcher_text(python: str, paths: Sequence[str], program: str = "pyvirsh") -> str:
    """The launcher of ``program`` (a key of :data:`PROGRAMS`) for interpreter ``python``.

    ``paths`` are appended to ``sys.path``.  Raises KeyError for an unknown program.
    """
    shebang = f"#!{python} -SP"
    body = (
        f"# {program}, written by `python -m pyvirt.launcher`: started without site.py\n"
        "# (-S) and without the `import re` of pip's console script, for a fast start-up.\n"
        "import sys\n"
        f"sys.path += {list(paths)!r}\n" + PROGRAMS[program]
    )
    if len(shebang) <= _SHEBANG_MAX and " " not in python:
        return shebang + "\n" + body
    # too long (or awkward) for a #! line: the /bin/sh trampoline pip uses too
    quoted = "'" + python.replace("'", "'\"'\"'") + "'"
    return f"#!/bin/sh\n'''exec' {quoted} -SP \"$0\" \"$@\"\n' '''\n" + body


def main(argv: Sequence[str] | None = None) -> int:
    """Write every launcher into the directory in ``argv`` (default: the interpreter's own)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0].startswith("-")):
        sys.stderr.write("usage: python -m pyvirt.launcher [DIR]\n")
        return 2
    python = sys.executable
    folder = args[0] if args else os.path.dirname(python)
    paths = site_paths()
    for program in PROGRAMS:
        dest = os.path.join(folder, program)
        tmp = f"{dest}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(launcher_text(python, paths, program))
        os.chmod(tmp, 0o755)
        os.replace(tmp, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
