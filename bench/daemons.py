"""The two daemons under test, each in a network namespace the harness creates.

Host safety (see ``docs`` and ``RUNNING-LIBVIRT.md``):

* every daemon runs inside its own network namespace (``ip netns add``), so
  bridges, taps, firewall rules and dnsmasq live there only;
* teardown kills exactly the processes inside the harness's namespaces, by
  pid, then deletes the namespaces and the temporary roots;
* libvirtd uses the host's ``/etc/libvirt``, ``/var/lib/libvirt`` and
  ``/run/libvirt``; the harness undefines every domain and network it
  defined (all named ``pvbench…``) and removes the files libvirt made for
  them, so those directories are left as they were found.  ``qemu.conf`` is
  not edited: a copy with ``namespaces = []`` is bind-mounted over it inside
  the daemon's own mount namespace (``ip netns exec`` gives it one), and
  ``/dev/kvm`` is hidden there the same way.

Clients (virsh, pyvirsh, API workers) run in the host's network namespace:
they only talk to the daemons' Unix sockets, which are plain files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PYVIRTD = VENV_BIN / "pyvirtd"
PYVIRSH = VENV_BIN / "pyvirsh"
WORKER = Path(__file__).resolve().parent / "worker.py"
SYSTEM_PYTHON = "/usr/bin/python3"

LIBVIRT_SOCK = Path("/run/libvirt/libvirt-sock")
LIBVIRT_PIDFILE = Path("/run/libvirtd.pid")
LIBVIRT_ETC = Path("/etc/libvirt")
LIBVIRT_STATE_DIRS = (
    Path("/etc/libvirt/qemu"),
    Path("/etc/libvirt/qemu/networks"),
    Path("/var/lib/libvirt/dnsmasq"),
    Path("/var/lib/libvirt/qemu"),
    Path("/var/log/libvirt/qemu"),
    Path("/run/libvirt/qemu"),
    Path("/run/libvirt/network"),
)

#: Every object the harness defines is named with this prefix.
PREFIX = "pvbench"


#: Bytecode cache of every Python process the harness starts (kept between runs; build/ is ignored by git).
PYCACHE = REPO / "build/bench/pycache"


def process_env() -> dict[str, str]:
    """The environment of every process the harness starts (daemons, workers, CLI runs).

    Python bytecode is cached, as for an installed package, but in :data:`PYCACHE`
    (``PYTHONPYCACHEPREFIX``) so nothing is written into the source tree; an inherited
    ``PYTHONDONTWRITEBYTECODE`` would otherwise make every pyvirsh run compile its
    modules again.  No default URI leaks in, and messages are in the C locale.
    """
    drop = {
        "PYTHONDONTWRITEBYTECODE",
        "LIBVIRT_DEFAULT_URI",
        "PYVIRT_DEFAULT_URI",
        "VIRSH_DEFAULT_CONNECT_URI",
    }
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env["LC_ALL"] = "C"
    return env


class HarnessError(RuntimeError):
    """A daemon could not be started or driven."""


class NetNS:
    """A network namespace owned by the harness; ``destroy`` kills what runs in it."""

    def __init__(self, prefix: str) -> None:
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.alive = True
        subprocess.run(["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"], check=True)

    def cmd(self, *argv: str) -> list[str]:
        """``argv`` run inside this namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def pids(self) -> list[int]:
        """Processes running inside this namespace (all started by the harness)."""
        out = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def destroy(self) -> None:
        """SIGTERM then SIGKILL every process inside, by pid; delete the namespace."""
        if not self.alive:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 10
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.05)
        subprocess.run(["ip", "netns", "del", self.name], check=False)
        self.alive = False


def rss_mib(pid: int) -> float:
    """VmRSS of ``pid`` in MiB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise HarnessError(f"no VmRSS for pid {pid}")


def _socket_accepts(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


# The remote protocol, spelled out here so that the harness does not time a
# daemon through the code under test (libvirt's remote_protocol.x).
_REMOTE_PROGRAM = 0x20008086
_PROC_CONNECT_OPEN = 1
_PROC_AUTH_LIST = 66
_PROC_AUTH_POLKIT = 70
_PROC_CONNECT_LIST_ALL_DOMAINS = 273
_AUTH_POLKIT = 2


def _rpc_call(sock: socket.socket, proc: int, serial: int, body: bytes) -> bytes:
    """Send one call and read its reply; its body, or HarnessError unless it is a success."""
    header = struct.pack(">IIIiII", _REMOTE_PROGRAM, 1, proc, 0, serial, 0)
    sock.sendall(struct.pack(">I", 4 + len(header) + len(body)) + header + body)
    reply = b""
    need = 4
    while len(reply) < need:
        chunk = sock.recv(65536)
        if not chunk:
            raise HarnessError(f"the daemon closed the connection during call {proc}")
        reply += chunk
        if len(reply) >= 4:
            need = struct.unpack(">I", reply[:4])[0]
    _, _, rproc, rtype, rserial, status = struct.unpack(">IIIiII", reply[4:28])
    if (rproc, rtype, rserial, status) != (proc, 1, serial, 0):
        raise HarnessError(f"call {proc} failed: type {rtype}, serial {rserial}, status {status}")
    return reply[28:need]


def first_call_answered(path: Path, timeout: float) -> None:
    """Connect to the daemon's socket, open ``qemu:///system`` and list all domains.

    The calls libvirt-python makes for ``libvirt.open(uri).listAllDomains()``,
    with polkit authentication when the daemon asks for it (libvirtd's default
    on Debian; root is allowed).  This is the first thing any client does; it
    waits for whatever the daemon does before it serves calls (a daemon may
    listen before it is ready).
    """
    uri = b"qemu:///system"
    open_args = struct.pack(">II", 1, len(uri)) + uri + b"\0" * (-len(uri) % 4) + struct.pack(">I", 0)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        auth = _rpc_call(s, _PROC_AUTH_LIST, 1, b"")
        count = struct.unpack(">I", auth[:4])[0]
        if _AUTH_POLKIT in struct.unpack(f">{count}i", auth[4 : 4 + 4 * count]):
            _rpc_call(s, _PROC_AUTH_POLKIT, 2, b"")
        _rpc_call(s, _PROC_CONNECT_OPEN, 3, open_args)
        _rpc_call(s, _PROC_CONNECT_LIST_ALL_DOMAINS, 4, struct.pack(">iI", 1, 0))


def file_rewrite_seconds(directory: Path, count: int) -> list[float]:
    """Seconds per file to write ``count`` new 1.5 KiB files in ``directory`` the way both daemons
    store a definition (create a temp file, write, fsync, close, rename), then delete them.

    No daemon is involved: this is the file system's share of a define in that directory.
    """
    data = b"x" * 1536
    times: list[float] = []
    names = [directory / f"{PREFIX}-fs{i}.bench" for i in range(count)]  # no daemon reads *.bench
    try:
        for path in names:
            t0 = time.perf_counter()
            tmp = path.with_name(path.name + ".new")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            times.append(time.perf_counter() - t0)
    finally:
        for path in names:
            path.unlink(missing_ok=True)
    return times


class WorkerClient:
    """A running ``bench/worker.py`` process (one API connection) and its request channel."""

    def __init__(
        self, python: str, api: str, uri: str, label: str, env: dict[str, str] | None = None
    ) -> None:
        self.label = label
        self.proc = subprocess.Popen(
            [python, str(WORKER), "--api", api, "--uri", uri],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(REPO),
            start_new_session=True,  # a Ctrl-C on the terminal must not kill it before cleanup
            env=env,
        )
        hello = self._read()
        if not hello.get("ok"):
            self.close()
            raise HarnessError(f"{label}: {hello.get('error')}")

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise HarnessError(f"{self.label}: worker exited: {err.strip()[-2000:]}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        """Run ``op`` in the worker; raise :class:`HarnessError` with the worker's message on failure."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if not reply.get("ok"):
            raise HarnessError(str(reply.get("error")))
        return reply

    def close(self) -> None:
        """Stop the worker (closing stdin ends it; killed by pid if it lingers)."""
        if self.proc.poll() is None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
                self.proc.wait(10)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                self.proc.kill()
                self.proc.wait(5)


class Target:
    """A daemon under test: its namespace, its pid, the URI clients use."""

    key = ""
    label = ""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ns: NetNS | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_seconds: float | None = None  # start → the socket accepts a connection
        self.answered_seconds: float | None = None  # start → the first call is answered
        self.log = workdir / f"{self.key}.log"

    @property
    def uri(self) -> str:
        raise NotImplementedError

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss(self) -> float:
        """The daemon's resident memory now, MiB."""
        return rss_mib(self.pid)

    def start(self) -> None:
        raise NotImplementedError

    @property
    def namespace(self) -> str | None:
        """The name of this daemon's network namespace, once started."""
        return self.ns.name if self.ns else None

    @property
    def config_dir(self) -> Path:
        """Where the daemon writes domain definitions."""
        raise NotImplementedError

    def cleanup_objects(self) -> None:
        """Remove every domain and network the harness defined (before the daemon stops)."""

    def stop(self) -> None:
        """Kill everything in the namespace, by pid, and remove the namespace."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the daemon first, so it can shut down in order
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
        if self.ns is not None:
            self.ns.destroy()
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def _wait_ready(self, sock: Path, t0: float, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while not (sock.exists() and _socket_accepts(sock)):
            if self.proc.poll() is not None:
                raise HarnessError(f"{self.label} exited early:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise HarnessError(f"{self.label} did not start in {timeout:.0f} s")
            time.sleep(0.002)  # the daemons listen after 60-90 ms: a fine step
        self.ready_seconds = time.perf_counter() - t0
        first_call_answered(sock, max(deadline - time.monotonic(), 1.0))
        self.answered_seconds = time.perf_counter() - t0

    def worker(self, python: str, api: str) -> WorkerClient:
        """A new API client process connected to this daemon."""
        return WorkerClient(python, api, self.uri, f"{api} client of {self.label}", process_env())


class PyvirtTarget(Target):
    """pyvirtd with a private ``--root`` in its own namespace."""

    key = "pyvirt"
    label = "pyvirtd"

    def __init__(self, workdir: Path, profile: Path | None = None) -> None:
        super().__init__(workdir)
        self.root = workdir / "pyvirt-root"
        self.profile = profile

    @property
    def sock(self) -> Path:
        return self.root / "run/pyvirt/pyvirt-sock"

    @property
    def config_dir(self) -> Path:
        return self.root / "etc/pyvirt/qemu"

    @property
    def definition_cache(self) -> Path:
        """The stored definitions as pyvirtd last parsed them (see ``pyvirt.qemu.defcache``)."""
        return self.root / "var/cache/pyvirt/qemu/definitions"

    @property
    def uri(self) -> str:
        return f"qemu+unix:///system?socket={self.sock}"

    def start(self) -> None:
        """Start pyvirtd; ``ready_seconds`` is the time until its socket accepts."""
        self.root.mkdir(mode=0o755, exist_ok=True)
        self.ns = NetNS("pvb-py")
        with open(self.log, "ab") as logf:
            t0 = time.perf_counter()
            # --profile: cProfile writes its stats when pyvirtd exits on the SIGTERM of stop()
            prof = [sys.executable, "-m", "cProfile", "-o", str(self.profile)] if self.profile else []
            self.proc = subprocess.Popen(
                self.ns.cmd(*prof, str(PYVIRTD), "--root", str(self.root)),
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=process_env(),
                start_new_session=True,
            )
        self._wait_ready(self.sock, t0, 60)


class LibvirtTarget(Target):
    """The real libvirtd 9.0 (Debian 12's monolithic daemon) in its own namespace."""

    key = "libvirt"
    label = "libvirtd"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self._before: dict[Path, set[str]] = {}

    @staticmethod
    def available() -> str | None:
        """Why libvirtd cannot be benchmarked here, or None when it can."""
        for tool in ("libvirtd", "virtlogd"):
            if shutil.which(tool) is None:
                return f"{tool} is not installed (make bench installs libvirt-daemon-system)"
        if not Path(SYSTEM_PYTHON).exists():
            return f"{SYSTEM_PYTHON} is missing"
        if LIBVIRT_PIDFILE.exists():
            try:
                pid = int(LIBVIRT_PIDFILE.read_text().split()[0])
                os.kill(pid, 0)
                return f"another libvirtd (pid {pid}) is running; it shares /run/libvirt"
            except (ValueError, IndexError, ProcessLookupError, PermissionError):
                pass
        return None

    @property
    def uri(self) -> str:
        return f"qemu+unix:///system?socket={LIBVIRT_SOCK}"

    def _snapshot(self) -> None:
        for d in LIBVIRT_STATE_DIRS:
            self._before[d] = set(os.listdir(d)) if d.is_dir() else set()

    def start(self) -> None:
        """Start virtlogd and libvirtd inside the namespace, hiding /dev/kvm and overriding qemu.conf."""
        why = self.available()
        if why:
            raise HarnessError(why)
        self._snapshot()
        nokvm = self.workdir / "nokvm"
        nokvm.touch(mode=0o600)
        qemu_conf = self.workdir / "qemu.conf"
        original = LIBVIRT_ETC / "qemu.conf"
        text = original.read_text() if original.exists() else ""
        qemu_conf.write_text(
            text + "\n# pyvirt bench: no private /dev (see RUNNING-LIBVIRT.md)\nnamespaces = []\n"
        )
        qemu_conf.chmod(0o600)
        # libvirtd's own /etc/libvirt/qemu (domain and network definitions) is a directory of the
        # workdir, beside pyvirtd's --root: the host's definitions are never touched, and creating
        # files costs the same for both daemons (on ext4 that cost depends on where a directory
        # lies: 0.03-1.5 ms per file here, between /var/tmp, /tmp and /etc/libvirt).
        configs = self.config_dir
        configs.mkdir(mode=0o700, exist_ok=True)
        etc_qemu = LIBVIRT_ETC / "qemu"
        # `ip netns exec` runs the command in a new mount namespace (slave of the host's), so these
        # bind mounts are seen by virtlogd, libvirtd and their QEMUs only.
        script = (
            f"mount --bind {nokvm} /dev/kvm && "
            + (f"mount --bind {qemu_conf} {original} && " if original.exists() else "")
            + (f"mount --bind {configs} {etc_qemu} && " if etc_qemu.is_dir() else "")
            + "virtlogd -d && exec libvirtd"
        )
        self.ns = NetNS("pvb-lv")
        with open(self.log, "ab") as logf:
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(
                self.ns.cmd("sh", "-c", script),
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(LIBVIRT_SOCK, t0, 120)

    @property
    def config_dir(self) -> Path:
        return self.workdir / "libvirt-etc-qemu"  # bind-mounted on /etc/libvirt/qemu for libvirtd

    def cleanup_objects(self) -> None:
        """Undefine every ``pvbench`` domain and network; delete files libvirt made for them."""
        if self.proc is None or self.proc.poll() is not None:
            return
        worker = self.worker(SYSTEM_PYTHON, "libvirt")
        try:
            worker.call("undefine_prefix", prefix=PREFIX)
            worker.call("net_cleanup", name=f"{PREFIX}")
        finally:
            worker.close()

    def remove_leftover_files(self) -> None:
        """Delete new files named after our objects (lease status, logs) in libvirt's directories."""
        for d, before in self._before.items():
            if not d.is_dir():
                continue
            for name in set(os.listdir(d)) - before:
                if PREFIX in name:
                    p = d / name
                    if p.is_dir() and not p.is_symlink():
                        shutil.rmtree(p, ignore_errors=True)
                    else:
                        p.unlink(missing_ok=True)

    def stop(self) -> None:
        """Stop everything in the namespace; the stale socket and pid file are libvirtd's own."""
        super().stop()
        self.remove_leftover_files()


def make_workdir() -> Path:
    """A short private temp directory (Unix socket paths are limited to 108 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="pvb-", dir="/tmp"))
    d.chmod(0o755)
    return d
