#!/usr/bin/env python3
"""Play the libvirt networking walkthrough with pyvirsh, for real, in a sandbox.

Creates a network namespace and a private root, starts pyvirtd there, runs
the walkthrough's commands (printing each command and its output), then
stops everything it started and removes the namespace and the root.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / ".venv/bin"
GUEST = REPO / "build/guest"
T = TypeVar("T")

PC1_XML = """<domain type='qemu'>
  <name>pc1</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <features>
    <acpi/>
  </features>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{guest}/vmlinuz</kernel>
    <initrd>{guest}/initrd.gz</initrd>
    <cmdline>console=ttyS0 guest.hostname=pc1</cmdline>
  </os>
  <devices>
    <interface type='network'>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'>
      <log file='{root}/var/log/pyvirt/qemu/pc1-serial.log' append='off'/>
    </serial>
    <console type='pty'/>
  </devices>
</domain>
"""

BOLD = "\033[1m" if sys.stdout.isatty() else ""
RESET = "\033[0m" if sys.stdout.isatty() else ""


class Sandbox:
    def __init__(self) -> None:
        self.ns = f"pvdemo-{uuid.uuid4().hex[:6]}"
        self.root = Path(tempfile.mkdtemp(prefix="pvdemo-", dir="/tmp"))
        self.root.chmod(0o755)
        self.daemon: subprocess.Popen[bytes] | None = None
        self.env = dict(
            os.environ, LIBVIRT_DEFAULT_URI=f"qemu+unix:///system?socket={self.root}/run/pyvirt/pyvirt-sock"
        )

    def nsexec(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *argv]

    def start(self) -> None:
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        subprocess.run(self.nsexec("ip", "link", "set", "lo", "up"), check=True)
        log = open(self.root / "pyvirtd.log", "wb")
        self.daemon = subprocess.Popen(
            self.nsexec(str(BIN / "pyvirtd"), "--root", str(self.root)), stdout=log, stderr=subprocess.STDOUT
        )
        sock = self.root / "run/pyvirt/pyvirt-sock"
        deadline = time.monotonic() + 30
        while not sock.exists():
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                sys.exit("pyvirtd did not start:\n" + (self.root / "pyvirtd.log").read_text())
            time.sleep(0.05)

    def show(self, shown: str, argv: list[str], *, grep: str | None = None, check: bool = True) -> str:
        print(f"{BOLD}$ {shown}{RESET}", flush=True)
        p = subprocess.run(self.nsexec(*argv), capture_output=True, text=True, env=self.env, cwd=self.root)
        out = p.stdout
        if grep is not None:
            out = "".join(line + "\n" for line in out.splitlines() if grep in line.lower())
        sys.stdout.write(out)
        sys.stderr.write(p.stderr)
        if check and p.returncode != 0:
            raise SystemExit(f"demo step failed: {shown}")
        return p.stdout

    def virsh(self, *args: str, grep: str | None = None, check: bool = True) -> str:
        shown = "pyvirsh " + " ".join(args) + (f" | grep -i '{grep}'" if grep else "")
        return self.show(shown, [str(BIN / "pyvirsh"), *args], grep=grep, check=check)

    def quiet(self, *args: str) -> str:
        """pyvirsh output, not shown (for polling)."""
        argv = self.nsexec(str(BIN / "pyvirsh"), *args)
        return subprocess.run(argv, capture_output=True, text=True, env=self.env).stdout

    def stop(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(15)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
        # Everything left in the namespace (dnsmasq, QEMU) was started by this demo.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            out = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True).stdout
            for pid in out.split():
                try:
                    os.kill(int(pid), sig)
                except ProcessLookupError:
                    pass
            time.sleep(0.3)
        subprocess.run(["ip", "netns", "del", self.ns], check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def wait(probe: Callable[[], T], timeout: float = 60) -> T | None:
    """Poll ``probe`` until it returns something, or give up after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.5)
    return None


def main() -> int:
    if os.geteuid() != 0:
        print("make demo needs root (it creates a network namespace for its sandbox)", file=sys.stderr)
        return 1
    box = Sandbox()
    print(f"sandbox: network namespace {box.ns}, private root {box.root}")
    try:
        box.start()
        (box.root / "pc1.xml").write_text(PC1_XML.format(guest=GUEST, root=box.root))
        box.virsh("net-list")
        box.virsh("net-start", "default")
        box.virsh("net-list")
        box.show("ip -br link", ["ip", "-br", "link"])
        box.virsh("define", "pc1.xml")
        box.virsh("list")
        box.virsh("list", "--all")
        box.virsh("dumpxml", "pc1", grep="network=")
        box.virsh("start", "pc1")
        box.virsh("list")
        box.show("ip -br link", ["ip", "-br", "link"])
        print("(waiting for pc1's DHCP lease)", flush=True)
        lease_ip = wait(
            lambda: next((w for w in box.quiet("-q", "domifaddr", "pc1").split() if "/" in w), "")
        )
        box.virsh("net-dhcp-leases", "default")
        box.virsh("domifaddr", "pc1")
        if lease_ip:
            ip = lease_ip.split("/")[0]
            box.show(f"curl http://{ip}/", ["curl", "-s", "-m", "10", f"http://{ip}/"], check=False)
        box.virsh("shutdown", "pc1")
        wait(lambda: "shut off" in box.quiet("domstate", "pc1") or None)
        box.virsh("domstate", "pc1", "--reason")
        box.virsh("list", "--all")
        box.virsh("net-destroy", "default")
        box.show("ip -br link", ["ip", "-br", "link"])
    finally:
        box.stop()
        print("sandbox removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
