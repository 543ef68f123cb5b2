"""Real QEMU through pyvirt.qemu.process + monitor: boot, power button, destroy, crash, reattach.

The guests use ``-netdev user`` (slirp, inside QEMU) or no NIC: nothing
touches the host's network.  Every QEMU started here is killed by pid in a
``finally``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import subprocess
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.qemu import process
from pyvirt.qemu.monitor import MonitorClosedError, QemuMonitor

pytestmark = pytest.mark.qemu

GUEST = Path(__file__).resolve().parents[2] / "build" / "guest"
QEMU = "/usr/bin/qemu-system-x86_64"

if not (Path(QEMU).exists() and (GUEST / "vmlinuz").exists() and (GUEST / "initrd.gz").exists()):
    pytest.skip("needs qemu-system-x86_64 and build/guest (make guest)", allow_module_level=True)


def domain(tmp: Path, name: str, *, acpi: bool = True, net: bool = True, **kw: Any) -> Any:
    values: dict[str, Any] = dict(
        name=name,
        uuid=str(uuidlib.uuid4()),
        virt_type="qemu",
        memory_kib=262144,
        current_memory_kib=262144,
        vcpus=1,
        machine="pc-i440fx-7.2",
        kernel=str(GUEST / "vmlinuz"),
        initrd=str(GUEST / "initrd.gz"),
        cmdline="console=ttyS0",
        boot_devs=["hd"],
        acpi=acpi,
        emulator=QEMU,
        disks=[],
        interfaces=(
            [NS(type="user", mac="52:54:00:12:34:56", model="virtio", alias=None, address=None)]
            if net
            else []
        ),
        serials=[NS(type="pty", log_file=str(tmp / f"{name}-serial.log"), log_append=False, port=0)],
        graphics=[],
        rngs=[],
    )
    values.update(kw)
    return NS(**values)


class Guest:
    """One started QEMU plus what the test observed."""

    def __init__(self, tmp: Path, domdef: Any) -> None:
        self.tmp = tmp
        self.domdef = domdef
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.eof = asyncio.Event()
        self.exited: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.record: process.QemuProcess | None = None
        self.monitor: QemuMonitor | None = None
        self.watcher: process.ExitWatcher | None = None

    @property
    def serial_log(self) -> Path:
        return Path(self.domdef.serials[0].log_file)

    def on_event(self, name: str, data: dict[str, Any], _ts: float) -> None:
        self.events.append((name, data))

    def on_exit(self, status: int | None) -> None:
        if not self.exited.done():
            self.exited.set_result(status)

    async def start(self) -> None:
        self.record, self.monitor = await process.start_qemu(
            self.domdef,
            root=self.tmp / "root",
            dom_id=1,
            on_event=self.on_event,
            on_eof=self.eof.set,
        )
        self.watcher = process.watch_exit(self.record, self.on_exit)

    async def wait_serial(self, text: str, timeout: float = 60.0) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.serial_log.exists() and text in self.serial_log.read_text(errors="replace"):
                return time.monotonic() - t0
            if self.exited.done():
                break
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"{text!r} not seen on the serial console:\n{self.serial_log.read_text()[-3000:]}"
        )

    async def wait_event(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            for ev, data in self.events:
                if ev == name:
                    return data
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {name} event; got {self.events}")

    async def cleanup(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel()
        if self.monitor is not None:
            await self.monitor.close()
        if self.record is not None:
            await process.stop_qemu(self.record, term_timeout=3.0)
            process.cleanup_files(self.record)


def run(tmp_path: Path, domdef: Any, body: Callable[[Guest], Awaitable[None]]) -> None:
    async def main() -> None:
        guest = Guest(tmp_path, domdef)
        try:
            await body(guest)
        finally:
            await guest.cleanup()

    asyncio.run(main())


def qemus_with_uuid(uuid: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if uuid.encode() in args:
                pids.append(int(entry))
    return pids


# --------------------------------------------------------------------------


def test_boot_then_acpi_powerdown(tmp_path: Path) -> None:
    """Guest boots (DHCP from slirp), power button -> SHUTDOWN -> we SIGTERM QEMU, as libvirt does."""

    async def body(g: Guest) -> None:
        t0 = time.monotonic()
        await g.start()
        t_started = time.monotonic() - t0
        assert g.record is not None and g.monitor is not None
        assert await g.monitor.query_status() == ("prelaunch", False)
        pty = g.record.pty_paths["serial0"]
        assert stat.S_ISCHR(os.stat(pty).st_mode)
        await g.monitor.cont()
        assert await g.monitor.query_status() == ("running", True)
        await g.wait_event("RESUME")
        t_ip = await g.wait_serial("GUEST-IP 10.0.2.15")
        await g.wait_serial("GUEST-ACPI-WATCH")
        t_boot = time.monotonic() - t0
        assert process.cpu_time_ns(g.record.pid) > 0

        await g.monitor.system_powerdown()
        data = await g.wait_event("SHUTDOWN")
        assert data == {"guest": True, "reason": "guest-shutdown"}
        # -no-shutdown keeps QEMU alive, stopped, until we end it
        assert await g.monitor.query_status() == ("shutdown", False)
        assert process.is_alive(g.record)
        assert process.kill_nowait(g.record)
        status = await asyncio.wait_for(g.exited, 10)
        assert status == 0  # QEMU exits cleanly on SIGTERM
        await asyncio.wait_for(g.eof.wait(), 5)
        process.log_shutdown(g.record.log_path, "shutdown")
        t_total = time.monotonic() - t0
        log = Path(g.record.log_path).read_text()
        assert "starting up pyvirt version" in log
        assert "char device redirected to /dev/pts/" in log
        assert "terminating on signal 15" in log
        assert log.endswith(": shutting down, reason=shutdown\n")
        assert not process.is_alive(g.record)
        print(
            f"\nQEMU up+monitor {t_started:.2f}s, GUEST-IP {t_ip:.2f}s after start, "
            f"ACPI watch at {t_boot:.2f}s, powered off at {t_total:.2f}s"
        )

    run(tmp_path, domain(tmp_path, "pv-acpi"), body)


def test_destroy_kills_by_pid(tmp_path: Path) -> None:
    async def body(g: Guest) -> None:
        await g.start()
        assert g.record is not None and g.monitor is not None
        await g.monitor.cont()
        assert await process.stop_qemu(g.record)
        assert await asyncio.wait_for(g.exited, 5) == 0  # QEMU exits cleanly on SIGTERM
        assert not process.is_alive(g.record)
        assert qemus_with_uuid(g.domdef.uuid) == []
        with pytest.raises(MonitorClosedError) as exc:
            await g.monitor.query_status()
        assert exc.value.code == ErrorNumber.OPERATION_FAILED
        assert exc.value.domain == ErrorDomain.QEMU
        assert exc.value.message == "operation failed: domain is no longer running"
        # stopping again is a no-op
        assert await process.stop_qemu(g.record)

    run(tmp_path, domain(tmp_path, "pv-destroy", acpi=False, net=False), body)


def test_graceful_stop_gives_up_without_sigkill(tmp_path: Path) -> None:
    async def body(g: Guest) -> None:
        await g.start()
        assert g.record is not None
        # A stopped (SIGSTOP) QEMU cannot act on SIGTERM: graceful returns False, force kills.
        os.kill(g.record.pid, signal.SIGSTOP)
        try:
            assert not await process.stop_qemu(g.record, graceful=True, term_timeout=0.5)
            assert process.is_alive(g.record)
        finally:
            os.kill(g.record.pid, signal.SIGCONT)

    run(tmp_path, domain(tmp_path, "pv-graceful", net=False), body)


def test_kill9_is_noticed_by_the_pidfd_watcher(tmp_path: Path) -> None:
    async def body(g: Guest) -> None:
        await g.start()
        assert g.record is not None and g.monitor is not None
        await g.monitor.cont()
        os.kill(g.record.pid, signal.SIGKILL)
        assert await asyncio.wait_for(g.exited, 5) == -signal.SIGKILL
        await asyncio.wait_for(g.eof.wait(), 5)
        assert not g.monitor.connected
        assert not process.is_alive(g.record)

    run(tmp_path, domain(tmp_path, "pv-kill9", net=False), body)


def test_start_failure_reports_qemu_error_and_leaves_nothing(tmp_path: Path) -> None:
    bad = "/nonexistent/a,b.img"
    domdef = domain(
        tmp_path,
        "pv-fail",
        net=False,
        disks=[
            NS(
                type="file",
                device="disk",
                driver_type="raw",
                source=bad,
                target="vda",
                bus="virtio",
                readonly=False,
            )
        ],
    )

    async def body(g: Guest) -> None:
        with pytest.raises(VirtError) as exc:
            await g.start()
        err = exc.value
        assert err.code == ErrorNumber.INTERNAL_ERROR
        assert err.message is not None
        assert err.message.startswith("internal error: process exited while connecting to monitor: ")
        # the whole path reached QEMU as one value: the comma injected nothing
        assert f"Could not open '{bad}'" in err.message
        assert qemus_with_uuid(domdef.uuid) == []
        root = tmp_path / "root"
        assert not (root / "run/pyvirt/qemu/pv-fail.monitor").exists()
        assert (
            (root / "var/log/pyvirt/qemu/pv-fail.log")
            .read_text()
            .endswith(": shutting down, reason=failed\n")
        )

    run(tmp_path, domdef, body)


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")
def test_disk_boot_from_qcow2_overlay(tmp_path: Path) -> None:
    if not (GUEST / "disk.img").exists():
        pytest.skip("no build/guest/disk.img")
    overlay = tmp_path / "root.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(GUEST / "disk.img"), str(overlay)],
        check=True,
    )
    domdef = domain(
        tmp_path,
        "pv-disk",
        net=False,
        cmdline="root=/dev/vda console=ttyS0",
        disks=[
            NS(
                type="file",
                device="disk",
                driver_type="qcow2",
                source=str(overlay),
                target="vda",
                bus="virtio",
                readonly=False,
            )
        ],
    )

    async def body(g: Guest) -> None:
        await g.start()
        assert g.monitor is not None
        await g.monitor.cont()
        await g.wait_serial("GUEST-BOOT root=/dev/vda")
        await g.wait_serial("GUEST-LONG-RUNNING")

    run(tmp_path, domdef, body)


def test_reattach_after_daemon_restart(tmp_path: Path) -> None:
    """A new monitor and watcher from the saved record, as a restarted pyvirtd would build them."""

    async def body(g: Guest) -> None:
        await g.start()
        assert g.record is not None and g.monitor is not None and g.watcher is not None
        await g.monitor.cont()
        g.watcher.cancel()
        await g.monitor.close()
        saved = g.record.to_dict()
        # forget that QEMU is our child, as after a restart (keep the Popen to reap it ourselves)
        popen = process._children.pop(g.record.pid)
        try:
            rec = process.QemuProcess.from_dict(saved)
            assert process.is_alive(rec)
            events: list[str] = []
            mon = QemuMonitor(rec.monitor_path, name=rec.name, on_event=lambda n, d, t: events.append(n))
            g.monitor = mon
            await mon.connect(timeout=5)
            assert await mon.query_status() == ("running", True)
            assert (await mon.pty_paths()) == rec.pty_paths
            done: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
            process.watch_exit(rec, done.set_result)
            await mon.stop()
            assert await mon.query_status() == ("paused", False)
            assert "STOP" in events or await asyncio.sleep(0.2) is None
            await mon.quit()
            assert await asyncio.wait_for(done, 10) is None  # not our child: no status
        finally:
            popen.wait(10)

    run(tmp_path, domain(tmp_path, "pv-reattach", net=False), body)


def test_parsed_domain_boots(tmp_path: Path) -> None:
    """The real conf/domain.py definition (pc2-like: acpi, user NIC, logged pty serial) boots."""
    domain_mod = pytest.importorskip("pyvirt.conf.domain")
    domdef = domain_mod.parse_domain(
        f"""<domain type='qemu'>
  <name>pv-parsed</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <features><acpi/></features>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{GUEST / "vmlinuz"}</kernel>
    <initrd>{GUEST / "initrd.gz"}</initrd>
    <cmdline>console=ttyS0</cmdline>
  </os>
  <devices>
    <interface type='user'><model type='virtio'/></interface>
    <serial type='pty'><log file='{tmp_path}/pv-parsed-serial.log' append='off'/></serial>
    <console type='pty'/>
  </devices>
</domain>"""
    )

    async def body(g: Guest) -> None:
        await g.start()
        assert g.record is not None and g.monitor is not None
        await g.monitor.cont()
        await g.wait_serial("GUEST-IP 10.0.2.15")
        assert await process.stop_qemu(g.record)
        await asyncio.wait_for(g.exited, 5)

    run(tmp_path, domdef, body)
