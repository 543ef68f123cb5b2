"""Boot the test guest built by scripts/build-guest.sh in plain QEMU (TCG).

No libvirt/pyvirt involved: this checks the guest image itself, i.e. that the
kernel, the initramfs and the ext4 disk image boot, get an address by DHCP,
serve HTTP and power off on the ACPI power button. Networking is QEMU's user
mode (slirp) inside the QEMU process: DHCP gives 10.0.2.15, the host's
networking is not touched (the HTTP check uses a hostfwd port on 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUEST_DIR = Path(os.environ.get("PYVIRT_GUEST_DIR", REPO / "build" / "guest"))
VMLINUZ = GUEST_DIR / "vmlinuz"
INITRD = GUEST_DIR / "initrd.gz"
DISK = GUEST_DIR / "disk.img"
QEMU = shutil.which("qemu-system-x86_64")
QEMU_IMG = shutil.which("qemu-img")

BOOT_TIMEOUT = 90.0  # TCG on a loaded machine; a boot takes ~3-5 s normally

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(
        not VMLINUZ.exists(),
        reason=f"{VMLINUZ} missing: build the guest with `scripts/build-guest.sh {GUEST_DIR}`",
    ),
    pytest.mark.skipif(
        QEMU is None, reason="qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
    ),
]


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Guest:
    """One QEMU process with its serial log and QMP socket in a temp dir."""

    def __init__(
        self,
        workdir: Path,
        *,
        append: str,
        machine: str = "pc,accel=tcg",
        extra: list[str] | None = None,
        http_port: int | None = None,
    ) -> None:
        self.log = workdir / "serial.log"
        self.qmp_path = workdir / "qmp.sock"
        netdev = "user,id=n0"
        if http_port is not None:
            netdev += f",hostfwd=tcp:127.0.0.1:{http_port}-:80"
        self.argv = [
            str(QEMU),
            "-machine",
            machine,
            "-m",
            "256",
            "-nographic",
            "-nodefaults",
            "-serial",
            f"file:{self.log}",
            "-kernel",
            str(VMLINUZ),
            "-initrd",
            str(INITRD),
            "-append",
            append,
            "-netdev",
            netdev,
            "-device",
            "virtio-net-pci,netdev=n0",
            "-qmp",
            f"unix:{self.qmp_path},server,nowait",
            "-no-reboot",
            *(extra or []),
        ]
        self.stderr = workdir / "qemu.stderr"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> None:
        with open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
            )
        self.started = time.monotonic()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # by pid: only our own QEMU
            self.proc.wait(timeout=10)

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _diag(self) -> str:
        err = self.stderr.read_text(errors="replace") if self.stderr.exists() else ""
        return f"\n--- qemu stderr ---\n{err}\n--- serial log tail ---\n{self.text()[-4000:]}"

    def wait_for(self, pattern: str, timeout: float = BOOT_TIMEOUT) -> tuple[re.Match[str], float]:
        """Wait for a regex on the serial console; return it and seconds since start."""
        assert self.proc is not None
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.text())
            if m:
                return m, time.monotonic() - self.started
            if self.proc.poll() is not None:
                pytest.fail(f"QEMU exited ({self.proc.returncode}) before {pattern!r}{self._diag()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {pattern!r} on the guest console within {timeout:.0f} s{self._diag()}")
            time.sleep(0.05)

    def qmp(self, command: str) -> dict[str, object]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(self.qmp_path))
            f = s.makefile("rw", encoding="utf-8")

            def call(cmd: str) -> dict[str, object]:
                f.write(json.dumps({"execute": cmd}) + "\n")
                f.flush()
                while True:  # skip asynchronous events
                    reply = json.loads(f.readline())
                    if "return" in reply or "error" in reply:
                        return reply

            json.loads(f.readline())  # greeting
            assert "return" in call("qmp_capabilities")
            return call(command)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"QEMU still running {timeout:.0f} s after the request{self._diag()}")


@pytest.fixture
def workdir() -> Iterator[Path]:
    # short path: the QMP unix socket path must fit in sun_path
    with tempfile.TemporaryDirectory(prefix="pyvirt-guest-") as d:
        yield Path(d)


@pytest.fixture
def guests() -> Iterator[list[Guest]]:
    started: list[Guest] = []
    try:
        yield started
    finally:
        for g in started:
            g.kill()


def _boot(guests: list[Guest], workdir: Path, **kw: object) -> Guest:
    g = Guest(workdir, **kw)  # type: ignore[arg-type]
    guests.append(g)
    g.start()
    return g


def _http_get(port: int, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_initramfs_guest_dhcp_http_ping_and_acpi_poweroff(guests: list[Guest], workdir: Path) -> None:
    port = _free_tcp_port()
    g = _boot(guests, workdir, append="console=ttyS0 guest.ping=gateway", http_port=port)

    _, t_ip = g.wait_for(r"^GUEST-IP 10\.0\.2\.15$")
    print(f"initramfs boot: GUEST-IP after {t_ip:.2f} s")
    g.wait_for(r"^GUEST-BOOT root=initramfs$")
    g.wait_for(r"^GUEST-PING-OK 10\.0\.2\.2$")
    g.wait_for(r"^GUEST-ACPI-WATCH event\d+$")
    g.wait_for(r"^GUEST-LONG-RUNNING$")

    assert _http_get(port) == "guest-hello\n"

    assert "return" in g.qmp("system_powerdown")
    assert g.wait_exit(timeout=30) == 0
    assert "GUEST-ACPI-POWEROFF" in g.text()
    assert "reboot: Power down" in g.text()
    assert "Unknown symbol" not in g.text(), "module load order is wrong"


@pytest.mark.skipif(QEMU_IMG is None, reason="qemu-img not installed (apt-get install qemu-utils)")
def test_disk_guest_boots_from_ext4_overlay(guests: list[Guest], workdir: Path) -> None:
    assert DISK.exists(), f"{DISK} missing"
    overlay = workdir / "overlay.qcow2"
    subprocess.run(
        [str(QEMU_IMG), "create", "-q", "-f", "qcow2", "-b", str(DISK), "-F", "raw", str(overlay)], check=True
    )
    g = _boot(
        guests,
        workdir,
        append="root=/dev/vda console=ttyS0 guest.hostname=diskguest",
        extra=["-drive", f"file={overlay},if=virtio"],
    )

    _, t_ip = g.wait_for(r"^GUEST-IP 10\.0\.2\.15$")
    print(f"disk boot: GUEST-IP after {t_ip:.2f} s")
    g.wait_for(r"^GUEST-BOOT root=/dev/vda$")
    assert re.search(r"EXT4-fs \(vda\): mounted filesystem", g.text())
    g.wait_for(r"^GUEST-ACPI-WATCH event\d+$")
    g.wait_for(r"^GUEST-LONG-RUNNING$")

    assert "return" in g.qmp("system_powerdown")
    assert g.wait_exit(timeout=30) == 0
    assert "GUEST-ACPI-POWEROFF" in g.text()


def test_guest_without_acpi_keeps_running(guests: list[Guest], workdir: Path) -> None:
    # like libvirt's pc1 (no <acpi/>): no power button, so nothing to watch
    g = _boot(guests, workdir, append="console=ttyS0", machine="pc,accel=tcg,acpi=off")
    g.wait_for(r"^GUEST-IP 10\.0\.2\.15$")
    g.wait_for(r"^GUEST-ACPI-NONE$")
    g.wait_for(r"^GUEST-LONG-RUNNING$")
    assert g.proc is not None and g.proc.poll() is None
