"""Helpers for tests that boot the test guest under a real pyvirtd.

Domain XML built like the walkthrough's ``pc1.xml`` but pointing at
``build/guest``, polling helpers, and virsh's table printer (so outputs whose
column widths depend on run-time values, such as a leased address, can still be
compared byte for byte with libvirt's reference output).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from xml.sax.saxutils import quoteattr

import pytest

from .conftest import VIRSH, Daemon, Result

REPO = Path(__file__).resolve().parents[2]
GUEST = REPO / "build" / "guest"
KERNEL = GUEST / "vmlinuz"
INITRD = GUEST / "initrd.gz"
DISK = GUEST / "disk.img"
QEMU = shutil.which("qemu-system-x86_64")
QEMU_IMG = shutil.which("qemu-img")

REF = REPO / "tests" / "data" / "reference"
OUT = REF / "libvirt-9.0-outputs"

# What the reference outputs were recorded with.
REF_KERNEL = "/var/lib/pyvirt-test/vmlinuz-6.1.0-56-cloud-amd64"
REF_INITRD = "/var/lib/pyvirt-test/guest-initrd-long.gz"

have_guest = KERNEL.exists() and INITRD.exists() and QEMU is not None
requires_guest = pytest.mark.skipif(
    not have_guest, reason="needs qemu-system-x86_64 and the test guest in build/guest (make guest)"
)

# pyvirsh is being finished by another engineer: run its cases only when it is installed.
have_pyvirsh = importlib.util.find_spec("pyvirt.cli.main") is not None
CLIENTS = [
    pytest.param("virsh", marks=pytest.mark.skipif(VIRSH is None, reason="the real virsh is not installed")),
    pytest.param(
        "pyvirsh", marks=pytest.mark.skipif(not have_pyvirsh, reason="pyvirsh (pyvirt.cli.main) missing")
    ),
]

T = TypeVar("T")


def run(daemon: Daemon, client: str, *args: str) -> Result:
    """One command through the real virsh or pyvirsh."""
    return daemon.virsh(*args) if client == "virsh" else daemon.pyvirsh(*args)


def qemu_account() -> tuple[str, str]:
    """The user QEMU runs as under a default pyvirtd and its DAC label (``pyvirt-qemu``, ``+UID:+GID``).

    Without the pyvirt-qemu account pyvirtd falls back to root.
    """
    import pwd

    try:
        pw = pwd.getpwnam("pyvirt-qemu")
    except KeyError:
        return "root", "+0:+0"
    return pw.pw_name, f"+{pw.pw_uid}:+{pw.pw_gid}"


def serial_log(daemon: Daemon, name: str) -> Path:
    return daemon.root / "var/log/pyvirt/qemu" / f"{name}-serial.log"


def domain_xml(
    daemon: Daemon,
    name: str,
    *,
    acpi: bool = False,
    cmdline: str = "console=ttyS0",
    mac: str | None = None,
    uuid: str | None = None,
    network: str | None = "default",
    disk: Path | None = None,
    disk_format: str = "raw",
    kernel: Path = KERNEL,
    initrd: Path | None = INITRD,
    extra: str = "",
) -> str:
    """A domain like the walkthrough's pc1.xml / pc2-acpi.xml, booting build/guest."""
    parts = ["<domain type='qemu'>", f"  <name>{name}</name>"]
    if uuid:
        parts.append(f"  <uuid>{uuid}</uuid>")
    parts += ["  <memory unit='MiB'>256</memory>", "  <vcpu>1</vcpu>"]
    if acpi:
        parts += ["  <features>", "    <acpi/>", "  </features>"]
    parts += ["  <os>", "    <type arch='x86_64'>hvm</type>", f"    <kernel>{kernel}</kernel>"]
    if initrd is not None:
        parts.append(f"    <initrd>{initrd}</initrd>")
    parts += [f"    <cmdline>{cmdline}</cmdline>", "  </os>"]
    if extra:
        parts.append(extra)
    parts.append("  <devices>")
    if disk is not None:
        parts += [
            "    <disk type='file' device='disk'>",
            f"      <driver name='qemu' type='{disk_format}'/>",
            f"      <source file={quoteattr(str(disk))}/>",
            "      <target dev='vda' bus='virtio'/>",
            "    </disk>",
        ]
    if network is not None:
        parts.append("    <interface type='network'>")
        if mac:
            parts.append(f"      <mac address='{mac}'/>")
        parts += [f"      <source network='{network}'/>", "      <model type='virtio'/>", "    </interface>"]
    parts += [
        "    <serial type='pty'>",
        f"      <log file='{serial_log(daemon, name)}' append='off'/>",
        "    </serial>",
        "    <console type='pty'/>",
        "  </devices>",
        "</domain>",
    ]
    return "\n".join(parts) + "\n"


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.2) -> T:
    """Poll ``fn`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def wait_serial(daemon: Daemon, name: str, text: str, timeout: float = 60.0) -> str:
    """Wait for ``text`` on the guest's serial log; returns the log."""
    path = serial_log(daemon, name)

    def seen() -> str | None:
        try:
            log = path.read_text(errors="replace")
        except OSError:
            return None
        return log if text in log else None

    try:
        return wait_for(f"{text!r} on {name}'s console", seen, timeout)
    except AssertionError as err:
        tail = path.read_text(errors="replace")[-2000:] if path.exists() else "(no serial log)"
        raise AssertionError(f"{err}\n{tail}") from None


def guest_ip(daemon: Daemon, name: str, timeout: float = 60.0) -> str:
    """The address the guest reports on its console (``GUEST-IP a.b.c.d``)."""
    log = wait_serial(daemon, name, "GUEST-IP ", timeout)
    m = re.search(r"GUEST-IP (\d+\.\d+\.\d+\.\d+)", log)
    assert m, log[-2000:]
    return m.group(1)


def http_get(daemon: Daemon, ip: str, timeout: float = 30.0) -> str:
    """GET / from the guest, from inside the test's namespace (retried until it answers)."""

    def get() -> str | None:
        p = daemon.ns.run("curl", "-s", "-m", "3", f"http://{ip}/", check=False, timeout=10)
        return p.stdout if p.returncode == 0 and p.stdout else None

    return wait_for(f"HTTP from {ip}", get, timeout, interval=0.5)


def links(daemon: Daemon) -> str:
    return daemon.ns.run("ip", "-br", "link").stdout


def tap_exists(daemon: Daemon, name: str) -> bool:
    return daemon.ns.run("ip", "link", "show", name, check=False).returncode == 0


def reference(name: str, subs: dict[str, str] | None = None) -> Result:
    """A reference output (stdout, stderr, rc) with run-specific values substituted.

    Tables are re-laid out after the substitution, as virsh would print them
    with the new cell widths.
    """
    out = (OUT / f"{name}.txt").read_text()
    err_path = OUT / f"{name}.stderr"
    err = err_path.read_text() if err_path.exists() else ""
    # A vshTable is one that our printer reproduces (domifaddr's printf table is not).
    table = is_table(out) and render_table(*parse_table(out)) == out
    for old, new in (subs or {}).items():
        out = out.replace(old, new)
        err = err.replace(old, new)
    if table:
        out = render_table(*parse_table(out))
    return Result(1 if err else 0, out, err)


def assert_output(got: Result, name: str, subs: dict[str, str] | None = None) -> None:
    want = reference(name, subs)
    assert (got.rc, got.out, got.err) == (want.rc, want.out, want.err), f"differs from {name}"


# ----- virsh's table printer (tools/vsh-table.c) -------------------------------

_SEP = re.compile(r" {2,}")


def is_table(text: str) -> bool:
    lines = text.split("\n")
    return len(lines) >= 2 and lines[1] != "" and set(lines[1]) == {"-"}


def parse_table(text: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a vshTable (cells hold at most single spaces)."""
    lines = text.split("\n")
    header = _SEP.split(lines[0].strip())
    rows = [_SEP.split(line.strip()) for line in lines[2:] if line.strip()]
    return header, rows


def render_table(header: list[str], rows: list[list[str]]) -> str:
    """What virsh prints for this table, its trailing blank line included."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        s = ""
        for i, cell in enumerate(cells):
            s += " " + cell
            if i < len(cells) - 1:
                s += " " * (widths[i] - len(cell) + 2)
        return s + "\n"

    return line(header) + "".join("-" * (w + 3) for w in widths) + "\n" + "".join(map(line, rows)) + "\n"


def lease_rows(out: str) -> list[list[str]]:
    """Rows of ``net-dhcp-leases``: expiry, mac, protocol, ip/prefix, hostname, client id."""
    return parse_table(out)[1] if is_table(out) else []
