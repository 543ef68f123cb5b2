"""Fixtures for tests that run a real pyvirtd.

Host safety: every daemon runs inside a network namespace created here, with
a private ``--root``; teardown kills what runs in that namespace (only
processes started there by the test), deletes the namespace and the root,
pass or fail.
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyvirt.errors import VirtError
from pyvirt.rpc.client import RpcClient
from pyvirt.rpc.remote import Proc

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PYVIRTD = VENV_BIN / "pyvirtd"
PYVIRSH = VENV_BIN / "pyvirsh"
VIRSH = shutil.which("virsh")


def _have_root_netns() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


requires_netns = pytest.mark.skipif(
    not _have_root_netns(), reason="needs root and iproute2 for network namespaces"
)
requires_virsh = pytest.mark.skipif(VIRSH is None, reason="the real virsh (libvirt-clients) is not installed")


class NetNS:
    """A network namespace owned by one test."""

    def __init__(self, prefix: str = "pvt") -> None:
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run("ip", "link", "set", "lo", "up")

    def cmd(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def run(
        self, *argv: str, check: bool = True, timeout: float = 60, **kw: object
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.cmd(*argv),
            check=check,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kw,  # type: ignore[call-overload]
        )

    def pids(self) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def destroy(self) -> None:
        # Everything in this namespace was started by this test.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 5
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.05)
        subprocess.run(["ip", "netns", "del", self.name], check=False)


@pytest.fixture
def netns() -> Iterator[NetNS]:
    if not _have_root_netns():
        pytest.skip("needs root and iproute2 for network namespaces")
    ns = NetNS()
    try:
        yield ns
    finally:
        ns.destroy()


@dataclass
class Result:
    rc: int
    out: str
    err: str


def answers(sock: Path, timeout: float) -> bool:
    """Whether the daemon on ``sock`` answers AUTH_LIST within ``timeout`` seconds."""
    try:
        client = RpcClient(str(sock), timeout=timeout)
    except VirtError:
        return False
    try:
        client.call(Proc.AUTH_LIST)
        return True
    except VirtError:
        return False
    finally:
        client.close()


class Daemon:
    """A pyvirtd running in ``ns`` with a private root."""

    def __init__(self, ns: NetNS, root: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.ns = ns
        self.root = root
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "pyvirtd.log"

    @property
    def sock(self) -> Path:
        return self.root / "run/pyvirt/pyvirt-sock"

    @property
    def sock_ro(self) -> Path:
        return self.root / "run/pyvirt/pyvirt-sock-ro"

    @property
    def uri(self) -> str:
        return f"qemu+unix:///system?socket={self.sock}"

    @property
    def uri_ro(self) -> str:
        return f"qemu+unix:///system?socket={self.sock_ro}"

    def launch(self, wrapper: Sequence[str] = ()) -> None:
        """Start pyvirtd (under ``wrapper``, a command that ends with ``exec "$@"``), not waiting."""
        self.sock.unlink(missing_ok=True)
        argv = [*wrapper, str(PYVIRTD), "--root", str(self.root), "-v", *self.extra_args]
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(self.ns.cmd(*argv), stdout=logf, stderr=subprocess.STDOUT)

    def wait_serving(self, timeout: float = 30) -> None:
        """Wait until pyvirtd answers a call: it listens before it has loaded its state."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while not (self.sock.exists() and answers(self.sock, max(deadline - time.monotonic(), 1))):
            if self.proc.poll() is not None:
                raise RuntimeError(f"pyvirtd exited early:\n{self.log.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"pyvirtd did not start:\n{self.log.read_text()}")
            time.sleep(0.02)

    def start(self, timeout: float = 30) -> None:
        self.launch()
        self.wait_serving(timeout)

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def _run(self, argv: list[str], stdin: str | None = None, timeout: float = 120) -> Result:
        p = subprocess.run(
            self.ns.cmd(*argv), input=stdin, capture_output=True, text=True, timeout=timeout, cwd=self.root
        )
        return Result(p.returncode, p.stdout, p.stderr)

    def virsh(self, *args: str, ro: bool = False, stdin: str | None = None) -> Result:
        assert VIRSH is not None
        return self._run([VIRSH, "-c", self.uri_ro if ro else self.uri, *args], stdin)

    def pyvirsh(self, *args: str, ro: bool = False, stdin: str | None = None) -> Result:
        return self._run([str(PYVIRSH), "-c", self.uri_ro if ro else self.uri, *args], stdin)

    def python_libvirt(self, script: str) -> Result:
        """Run ``script`` with Debian's /usr/bin/python3 and python3-libvirt."""
        return self._run(["/usr/bin/python3", "-c", script])


@pytest.fixture
def root_dir() -> Iterator[Path]:
    # Short paths: unix socket paths are limited to 108 bytes.
    d = Path(tempfile.mkdtemp(prefix="pv-", dir="/tmp"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemon(netns: NetNS, root_dir: Path) -> Iterator[Daemon]:
    d = Daemon(netns, root_dir)
    d.start()
    try:
        yield d
    finally:
        d.stop()
        if os.environ.get("PYVIRT_TEST_SHOW_LOG"):
            print(d.log.read_text())


@pytest.fixture
def write_file(root_dir: Path):  # type: ignore[no-untyped-def]
    def write(name: str, text: str) -> Path:
        p = root_dir / name
        p.write_text(text)
        return p

    return write
