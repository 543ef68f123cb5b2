"""virsh's edit loop (``tools/virsh-edit.c``) for ``edit`` and ``net-edit``.

Dump the XML into a temporary file, run ``$VISUAL`` / ``$EDITOR`` / ``vi``
on it, and define the result.  An unchanged file prints "... XML
configuration not changed."; a failed define asks "Failed. Try again?
[y,n,i,f,?]:" when stdin is a terminal and gives up otherwise.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable

from pyvirt.cli.ctl import CommandFailed, Ctl
from pyvirt.errors import VirtError

__all__ = ["edit_loop"]

_REEDIT_HELP = (
    "y - yes, start editor again\n"
    "n - no, throw away my changes\n"
    "i - turn off validation and try to redefine again\n"
    "f - force, try to redefine again\n"
    "? - print this help\n"
)


def _editor() -> str:
    return os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"


def _run_editor(ctl: Ctl, path: str) -> None:
    editor = _editor()
    # Like virsh, the editor string may carry arguments; the file name is quoted.
    command = f"{editor} {shlex.quote(path)}"
    try:
        rc = subprocess.call(["/bin/sh", "-c", command])
    except OSError as err:
        ctl.error(f"Cannot run editor '{editor}': {err.strerror or err}")
        raise CommandFailed from err
    if rc != 0:
        ctl.error(f"{command}: editor exited with status {rc}")
        raise CommandFailed


def _ask_reedit(ctl: Ctl) -> str:
    if not sys.stdin.isatty():
        return "n"
    while True:
        ctl.out.flush()
        try:
            answer = input("Failed. Try again? [y,n,i,f,?]:").strip().lower()
        except EOFError:
            return "n"
        if answer in ("y", "n", "i", "f"):
            return answer
        ctl.print(_REEDIT_HELP)


def edit_loop(
    ctl: Ctl,
    get_xml: Callable[[], str],
    define: Callable[[str, bool], str],
    not_changed: str,
    edited: Callable[[str], str],
) -> bool:
    """Run the edit loop; ``define(xml, validate)`` returns the defined object's name.

    Raises :class:`CommandFailed` or :class:`VirtError` (when the user gives up
    after a failed define, the define's error is raised).
    """
    original = get_xml()
    fd, path = tempfile.mkstemp(prefix="pyvirsh", suffix=".xml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(original)
        validate = True
        while True:
            _run_editor(ctl, path)
            with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                new_xml = fh.read()
            if new_xml == original:
                ctl.extra(not_changed)
                return True
            while True:
                try:
                    name = define(new_xml, validate)
                except VirtError as err:
                    ctl.report(err)
                    answer = _ask_reedit(ctl)
                    if answer == "n":
                        raise CommandFailed from err
                    if answer in ("i", "f"):
                        validate = False
                        continue
                    break  # "y": edit again
                ctl.extra(edited(name))
                return True
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
