"""Start, watch and stop QEMU processes, the way libvirt's qemu_process.c does.

* :func:`start_qemu` creates the per-domain files under the daemon root,
  writes libvirt's log header, launches QEMU in its own session (so it
  outlives pyvirtd), connects the QMP monitor and returns a
  :class:`QemuProcess` record plus the connected :class:`QemuMonitor`.
  QEMU is left paused (``-S``); the driver calls ``monitor.cont()``.
* :func:`stop_qemu` kills by pid (SIGTERM, then SIGKILL unless graceful),
  after checking ``/proc/PID`` is still *our* QEMU for that domain: a
  recycled pid is never signalled.
* :class:`ExitWatcher` notices the exit of a QEMU through a pidfd, which
  works for children and, after a daemon restart, for non-children alike.
* :func:`log_shutdown` writes libvirt's ``shutting down, reason=...`` line.

Files, all under the daemon ``root``::

    run/pyvirt/qemu/NAME.monitor        QMP socket (bound here, fd passed to QEMU)
    run/pyvirt/qemu/NAME.pid            QEMU's pid
    var/log/pyvirt/qemu/NAME.log        QEMU's stdout/stderr, after our header
    var/lib/pyvirt/qemu/domain-ID-NAME/ QEMU's HOME; master-key.aes

QEMU runs as root by default.  ``user=`` runs it as an unprivileged account
(``pyvirt-qemu``) with that account's groups: the monitor socket, the log and
serial log files and the tap devices are handed over as open fds, and the
domain directory and master key are chowned; the files QEMU opens by path
(kernel, initrd, disk images) are handed over beforehand by the driver
through :mod:`pyvirt.qemu.dac`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import pwd
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError, internal_error, system_error
from pyvirt.lazydataclass import dataclass, field
from pyvirt.qemu.command import DEFAULT_EMULATOR, build_argv, serial_alias
from pyvirt.qemu.monitor import EofCallback, EventCallback, QemuMonitor

__all__ = [
    "ExitWatcher",
    "QemuPaths",
    "QemuProcess",
    "cleanup_files",
    "cpu_time_ns",
    "is_alive",
    "kill_nowait",
    "log_shutdown",
    "qemu_version",
    "start_qemu",
    "stop_qemu",
    "watch_exit",
]

log = logging.getLogger(__name__)


@functools.cache
def pyvirt_version() -> str:
    """pyvirt's installed version, for QEMU log headers.

    Looked up on the first domain start: importlib.metadata is slow to import
    and scans site-packages, which the daemon's start-up should not wait for.
    """
    try:
        from importlib.metadata import version as _pkg_version

        return _pkg_version("pyvirt")
    except Exception:  # not installed (running from a source tree)
        return "0.1.0"


_CLK_TCK = os.sysconf("SC_CLK_TCK")

# Children we started in this daemon's lifetime, so their exit can be reaped.
_children: dict[int, subprocess.Popen[bytes]] = {}
_qemu_versions: dict[str, str] = {}


# --------------------------------------------------------------------------
# paths and the record


@dataclass(frozen=True)
class QemuPaths:
    """Where one domain's runtime files live under the daemon root."""

    root: Path
    name: str
    dom_id: int

    @property
    def run_dir(self) -> Path:
        return self.root / "run/pyvirt/qemu"

    @property
    def log_dir(self) -> Path:
        return self.root / "var/log/pyvirt/qemu"

    @property
    def monitor(self) -> Path:
        return self.run_dir / f"{self.name}.monitor"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    @property
    def libdir(self) -> Path:
        return self.root / f"var/lib/pyvirt/qemu/domain-{self.dom_id}-{self.name}"

    @property
    def master_key(self) -> Path:
        return self.libdir / "master-key.aes"


@dataclass
class QemuProcess:
    """What pyvirtd must remember about a running QEMU (saved in the live status file)."""

    pid: int
    name: str
    uuid: str
    dom_id: int
    emulator: str
    monitor_path: str
    log_path: str
    libdir: str
    start_time: float  # time.time() when started
    proc_start_ticks: int  # field 22 of /proc/PID/stat: tells this pid's incarnation apart
    pty_paths: dict[str, str] = field(default_factory=dict)  # alias -> /dev/pts/N
    user: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (for the live status file)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QemuProcess:
        """Rebuild a record written by :meth:`to_dict`; unknown keys are ignored.

        Raises KeyError/TypeError/ValueError on a malformed dict.
        """
        return cls(
            pid=int(data["pid"]),
            name=str(data["name"]),
            uuid=str(data["uuid"]),
            dom_id=int(data["dom_id"]),
            emulator=str(data.get("emulator", DEFAULT_EMULATOR)),
            monitor_path=str(data["monitor_path"]),
            log_path=str(data["log_path"]),
            libdir=str(data.get("libdir", "")),
            start_time=float(data.get("start_time", 0.0)),
            proc_start_ticks=int(data.get("proc_start_ticks", 0)),
            pty_paths={str(k): str(v) for k, v in (data.get("pty_paths") or {}).items()},
            user=data.get("user"),
        )


# --------------------------------------------------------------------------
# /proc helpers


def _read_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from field 3 (state) on, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def _start_ticks(pid: int) -> int | None:
    fields = _read_stat(pid)
    return int(fields[19]) if fields else None


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode("utf-8", "surrogateescape") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _is_our_qemu(pid: int, uuid: str, start_ticks: int | None = None) -> bool:
    """True when PID is alive (not a zombie), runs ``-uuid UUID`` and, if given,
    started at ``start_ticks``."""
    fields = _read_stat(pid)
    if not fields or fields[0] in ("Z", "X"):
        return False
    if start_ticks and int(fields[19]) != start_ticks:
        return False
    args = _cmdline(pid)
    try:
        return args[args.index("-uuid") + 1].lower() == uuid.lower()
    except (ValueError, IndexError):
        return False


def is_alive(record: QemuProcess) -> bool:
    """Whether the QEMU this record describes still runs (same pid incarnation)."""
    _reap(record.pid)
    return _is_our_qemu(record.pid, record.uuid, record.proc_start_ticks)


def cpu_time_ns(pid: int) -> int:
    """User+system CPU time of all threads of PID, in nanoseconds (dominfo "CPU time").

    Returns 0 when the process is gone.
    """
    fields = _read_stat(pid)
    if not fields:
        return 0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks * 1_000_000_000 // _CLK_TCK


def _reap(pid: int) -> int | None:
    """Collect the exit status of a child we started; None while it runs or if not ours."""
    popen = _children.get(pid)
    if popen is None:
        return None
    rc = popen.poll()
    if rc is not None:
        _children.pop(pid, None)
    return rc


# --------------------------------------------------------------------------
# the log file


def _timestamp() -> str:
    """libvirt's log timestamp: ``2026-11-28 01:15:42.844+0000``."""
    now = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S.", time.gmtime(now)) + f"{int(now * 1000) % 1000:03d}+0000"


def qemu_version(emulator: str) -> str:
    """``7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`` from ``EMULATOR --version`` (cached)."""
    cached = _qemu_versions.get(emulator)
    if cached is not None:
        return cached
    try:
        out = subprocess.run(
            [emulator, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
        first = out.splitlines()[0] if out else ""
        ver = first.split("version", 1)[1].strip() if "version" in first else "unknown"
    except (OSError, subprocess.SubprocessError):
        ver = "unknown"
    _qemu_versions[emulator] = ver
    return ver


def _format_command(env: Mapping[str, str], argv: list[str]) -> str:
    """The command as libvirt logs it: ``K=V \\`` lines, then one option per line."""
    import shlex  # only when a guest starts: not in an idle daemon

    lines = [f"{k}={shlex.quote(v)}" for k, v in env.items()]
    lines.append(shlex.quote(argv[0]))
    i = 1
    while i < len(argv):
        arg = shlex.quote(argv[i])
        if argv[i].startswith("-") and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            arg += " " + shlex.quote(argv[i + 1])
            i += 1
        lines.append(arg)
        i += 1
    return " \\\n".join(lines) + "\n"


def _append(path: str | Path, text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError as err:
        log.warning("cannot write %s: %s", path, err)


def log_shutdown(log_path: str | Path, reason: str) -> None:
    """Append ``TIMESTAMP: shutting down, reason=REASON`` (destroyed, shutdown, crashed, failed)."""
    _append(log_path, f"{_timestamp()}: shutting down, reason={reason}\n")


def _log_error_tail(log_path: str | Path, offset: int) -> str:
    """What QEMU wrote to its log since ``offset``, as libvirt quotes it in errors."""
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("char device redirected")]
    return "\n".join(lines[-10:])


# --------------------------------------------------------------------------
# start


def _monitor_listener(path: Path, uid: int | None, gid: int | None) -> socket.socket:
    """Bind and listen on the monitor socket ourselves (libvirt passes QEMU the fd)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        os.chmod(path, 0o600)
        if uid is not None:
            os.chown(path, uid, gid if gid is not None else -1)
        sock.listen(1)
    except OSError:
        sock.close()
        raise
    return sock


def _resolve_user(user: str | None) -> tuple[int | None, int | None, list[int] | None]:
    """uid, gid and supplementary groups of ``user`` (all None for None: stay root).

    Raises:
        VirtError: INTERNAL_ERROR "Failed to parse user 'X'" for an unknown account.
    """
    if user is None:
        return None, None, None
    try:
        pw = pwd.getpwnam(user)
    except KeyError as err:
        raise internal_error(f"Failed to parse user '{user}'", ErrorDomain.QEMU) from err
    try:
        groups = [g for g in os.getgrouplist(pw.pw_name, pw.pw_gid) if g != pw.pw_gid]
    except OSError:
        groups = []
    return pw.pw_uid, pw.pw_gid, groups


def check_emulator(emulator: str) -> None:
    """Fail as libvirt's virQEMUCapsNewForBinaryInternal when ``emulator`` cannot be run.

    Raises:
        VirtError: SYSTEM_ERROR "Cannot check QEMU binary X: <errno>" when it cannot be
            stat'ed (removed since define), "QEMU binary X is not executable: Permission
            denied" when it is not an executable file.
    """
    try:
        st = os.stat(emulator)
    except OSError as err:
        raise system_error(f"Cannot check QEMU binary {emulator}", err, ErrorDomain.QEMU) from err
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o111:
        code = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EACCES
        raise system_error(
            f"QEMU binary {emulator} is not executable", OSError(code, os.strerror(code)), ErrorDomain.QEMU
        )


async def start_qemu(
    domdef: Any,
    *,
    root: str | Path,
    dom_id: int,
    tap_fds: Mapping[str, int] | None = None,
    user: str | None = None,
    emulator: str | None = None,
    vnc_display: int | None = None,
    on_event: EventCallback | None = None,
    on_eof: EofCallback | None = None,
    timeout: float = 30.0,
) -> tuple[QemuProcess, QemuMonitor]:
    """Launch QEMU for ``domdef`` (paused) and connect its monitor.

    ``tap_fds`` maps interface aliases (``net0``) to open tap fds; they are
    inherited by QEMU and stay open in the caller, who closes them once this
    returns (QEMU has its own copies).  ``on_event``/``on_eof`` are handed to
    the :class:`QemuMonitor`.  The record's ``pty_paths`` maps serial aliases
    to their pty.

    On failure nothing is left running: the half-started QEMU is killed.

    Raises :class:`~pyvirt.errors.VirtError`: INTERNAL_ERROR "process exited
    while connecting to monitor: <QEMU's words>" when QEMU fails to start,
    SYSTEM_ERROR when files or the process cannot be created, and the
    errors of :func:`pyvirt.qemu.command.build_argv`.
    """
    name = str(domdef.name)
    uuid = str(domdef.uuid)
    paths = QemuPaths(Path(root), name, dom_id)
    uid, gid, groups = _resolve_user(user)
    emulator = str(emulator or getattr(domdef, "emulator", None) or DEFAULT_EMULATOR)
    check_emulator(emulator)

    opened: list[int] = []
    listener: socket.socket | None = None
    popen: subprocess.Popen[bytes] | None = None
    try:
        try:
            for d in (paths.run_dir, paths.log_dir, paths.libdir):
                d.mkdir(parents=True, exist_ok=True)
            os.chmod(paths.libdir, 0o750)
            if uid is not None:
                os.chown(paths.libdir, uid, gid if gid is not None else -1)
            listener = _monitor_listener(paths.monitor, uid, gid)
            key_fd = os.open(paths.master_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(key_fd, os.urandom(32))
                if uid is not None:
                    os.fchown(key_fd, uid, gid if gid is not None else -1)
            finally:
                os.close(key_fd)
            serial_fds: dict[str, int] = {}
            for i, serial in enumerate(getattr(domdef, "serials", None) or []):
                log_file = getattr(serial, "log_file", None)
                if not log_file:
                    continue
                flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
                flags |= os.O_APPEND if getattr(serial, "log_append", False) else os.O_TRUNC
                Path(log_file).parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(log_file, flags, 0o600)
                opened.append(fd)
                serial_fds[serial_alias(serial, i)] = fd
            log_fd = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            opened.append(log_fd)
        except OSError as err:
            raise system_error(f"cannot prepare files for domain '{name}'", err, ErrorDomain.QEMU) from err

        argv = build_argv(
            domdef,
            monitor_fd=listener.fileno(),
            tap_fds=tap_fds,
            serial_log_fds=serial_fds,
            master_key_path=str(paths.master_key),
            emulator=emulator,
            vnc_display=vnc_display,
        )
        env = {
            "LC_ALL": "C",
            "PATH": os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(paths.libdir),
            "XDG_DATA_HOME": f"{paths.libdir}/.local/share",
            "XDG_CACHE_HOME": f"{paths.libdir}/.cache",
            "XDG_CONFIG_HOME": f"{paths.libdir}/.config",
        }
        version = await asyncio.to_thread(qemu_version, emulator)
        our_version = await asyncio.to_thread(pyvirt_version)
        header = (
            f"{_timestamp()}: starting up pyvirt version: {our_version}, qemu version: {version}, "
            f"kernel: {os.uname().release}, hostname: {os.uname().nodename}\n"
        )
        os.write(log_fd, (header + _format_command(env, argv)).encode())
        log_offset = os.lseek(log_fd, 0, os.SEEK_END)

        pass_fds = [listener.fileno(), *serial_fds.values(), *(tap_fds or {}).values()]
        try:
            popen = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                pass_fds=pass_fds,
                start_new_session=True,
                cwd="/",
                user=uid,
                group=gid,
                extra_groups=groups,
                umask=0o007,
            )
        except OSError as err:
            raise system_error(f"cannot execute binary {emulator}", err, ErrorDomain.QEMU) from err
        _children[popen.pid] = popen
        # QEMU has its copies now: drop ours so its death closes the socket.
        listener.close()
        listener = None
        for fd in opened:
            os.close(fd)
        opened.clear()

        record = QemuProcess(
            pid=popen.pid,
            name=name,
            uuid=uuid,
            dom_id=dom_id,
            emulator=emulator,
            monitor_path=str(paths.monitor),
            log_path=str(paths.log),
            libdir=str(paths.libdir),
            start_time=time.time(),
            proc_start_ticks=_start_ticks(popen.pid) or 0,
            user=user,
        )
        with contextlib.suppress(OSError):
            paths.pidfile.write_text(f"{popen.pid}")

        monitor = QemuMonitor(str(paths.monitor), name=name, on_event=on_event, on_eof=on_eof)
        proc = popen

        def alive() -> bool:
            return proc.poll() is None

        try:
            await monitor.connect(timeout=timeout, alive=alive)
            record.pty_paths = await monitor.pty_paths()
        except VirtError as err:  # MonitorConnectError, MonitorClosedError, ...
            await monitor.close()
            alive_now = alive()
            tail = _log_error_tail(paths.log, log_offset)
            if alive_now:
                detail = f"QEMU did not answer on its monitor: {err.message}"
            else:
                detail = f"process exited while connecting to monitor: {tail}"
            raise VirtError(ErrorNumber.INTERNAL_ERROR, ErrorDomain.QEMU, detail) from err
        log.info("started QEMU for %s: pid %d", name, popen.pid)
        return record, monitor
    except BaseException:
        if popen is not None and popen.poll() is None:
            with contextlib.suppress(OSError):
                popen.kill()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(popen.wait, 5)
        if popen is not None:
            _children.pop(popen.pid, None)
            log_shutdown(paths.log, "failed")
            with contextlib.suppress(OSError):
                paths.pidfile.unlink()
        if listener is not None:
            listener.close()
        for fd in opened:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            paths.monitor.unlink()
        raise


# --------------------------------------------------------------------------
# stop


def _open_pidfd(record: QemuProcess) -> int | None:
    """A pidfd on the record's QEMU, or None when that QEMU no longer runs.

    The identity is checked after the pidfd is open: from then on the pid
    cannot be recycled under us.
    """
    _reap(record.pid)
    if not _is_our_qemu(record.pid, record.uuid, record.proc_start_ticks):
        return None
    try:
        pidfd = os.pidfd_open(record.pid)
    except ProcessLookupError:
        return None
    except OSError as err:
        raise system_error(f"cannot open pidfd for process {record.pid}", err, ErrorDomain.QEMU) from err
    if not _is_our_qemu(record.pid, record.uuid, record.proc_start_ticks):
        os.close(pidfd)
        return None
    return pidfd


async def _wait_pidfd(pidfd: int, timeout: float) -> bool:
    """Wait until the process behind ``pidfd`` has exited; True if it did in time."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    loop.add_reader(pidfd, ready)
    try:
        await asyncio.wait_for(fut, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(pidfd)


async def stop_qemu(
    record: QemuProcess,
    *,
    graceful: bool = False,
    term_timeout: float = 10.0,
    kill_timeout: float = 5.0,
) -> bool:
    """Kill the record's QEMU: SIGTERM, wait ``term_timeout``, then SIGKILL unless ``graceful``.

    Returns True when the process is gone (or was not ours / already gone),
    False when ``graceful`` and it still runs after the SIGTERM wait.
    Signals go through a pidfd opened after verifying the process, so a
    recycled pid is never hit.

    Raises :class:`~pyvirt.errors.VirtError` (SYSTEM_ERROR) when the
    process survives SIGKILL or cannot be signalled.
    """
    pidfd = _open_pidfd(record)
    if pidfd is None:
        return True
    try:
        for sig, wait in ((signal.SIGTERM, term_timeout), (signal.SIGKILL, kill_timeout)):
            if sig == signal.SIGKILL and graceful:
                return False
            try:
                signal.pidfd_send_signal(pidfd, sig)
            except ProcessLookupError:
                return True
            except OSError as err:
                raise system_error(
                    f"Failed to terminate process {record.pid} with {sig.name}", err, ErrorDomain.QEMU
                ) from err
            if await _wait_pidfd(pidfd, wait):
                _reap(record.pid)
                log.info("QEMU %d for %s terminated by %s", record.pid, record.name, sig.name)
                return True
        raise system_error(
            f"Failed to terminate process {record.pid} with SIGKILL",
            OSError(errno.EBUSY, os.strerror(errno.EBUSY)),
            ErrorDomain.QEMU,
        )
    finally:
        os.close(pidfd)


def kill_nowait(record: QemuProcess, sig: int = signal.SIGTERM) -> bool:
    """Send ``sig`` (SIGTERM) to the record's QEMU without waiting; False if it is gone.

    This is what libvirt does on the guest's SHUTDOWN event when
    ``on_poweroff`` is destroy (``qemuProcessKill(vm, NOWAIT)``): QEMU, kept
    alive by ``-no-shutdown``, is terminated and the exit watcher / monitor
    EOF finish the stop with reason ``shutdown``.  Safe to call from an
    event callback.

    Raises :class:`~pyvirt.errors.VirtError` (SYSTEM_ERROR) if the signal
    cannot be sent for another reason than the process being gone.
    """
    pidfd = _open_pidfd(record)
    if pidfd is None:
        return False
    try:
        signal.pidfd_send_signal(pidfd, sig)
        return True
    except ProcessLookupError:
        return False
    except OSError as err:
        raise system_error(f"Failed to kill process {record.pid}", err, ErrorDomain.QEMU) from err
    finally:
        os.close(pidfd)


def cleanup_files(record: QemuProcess) -> None:
    """Remove the monitor socket, pid file and domain directory of a stopped QEMU."""
    for path in (record.monitor_path, str(Path(record.monitor_path).with_suffix(".pid"))):
        with contextlib.suppress(OSError):
            os.unlink(path)
    if record.libdir:
        libdir = Path(record.libdir)
        with contextlib.suppress(OSError):
            (libdir / "master-key.aes").unlink()
        for sub in (".local/share", ".local", ".cache", ".config", ""):
            with contextlib.suppress(OSError):
                (libdir / sub).rmdir() if sub else libdir.rmdir()


# --------------------------------------------------------------------------
# exit watching


class ExitWatcher:
    """Calls ``callback(status)`` once, in the event loop, when the QEMU exits.

    ``status`` is the exit code (negative signal number, as in
    :mod:`subprocess`) when QEMU is our child, else None (after a daemon
    restart the exit status belongs to init).  Built on a pidfd, so it works
    for any process; if the process is already gone when watching starts,
    the callback is scheduled right away.
    """

    def __init__(self, record: QemuProcess, callback: Callable[[int | None], None]) -> None:
        self.record = record
        self._callback = callback
        self._pidfd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fired = False

    def start(self) -> None:
        """Begin watching (needs a running loop).

        Raises :class:`~pyvirt.errors.VirtError` if the pidfd cannot be opened.
        """
        self._loop = asyncio.get_running_loop()
        self._pidfd = _open_pidfd(self.record)
        if self._pidfd is None:
            self._loop.call_soon(self._fire)
            return
        self._loop.add_reader(self._pidfd, self._fire)

    def _fire(self) -> None:
        self._close()
        if self._fired:
            return
        self._fired = True
        status = _reap(self.record.pid)
        popen = _children.get(self.record.pid)
        if status is None and popen is not None:  # exit seen before the zombie is reapable
            with contextlib.suppress(subprocess.TimeoutExpired):
                status = popen.wait(1)
            _children.pop(self.record.pid, None)
        log.debug("QEMU %d for %s exited (status %s)", self.record.pid, self.record.name, status)
        try:
            self._callback(status)
        except Exception:
            log.exception("exit callback for %s failed", self.record.name)

    def _close(self) -> None:
        if self._pidfd is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def cancel(self) -> None:
        """Stop watching without calling back."""
        self._fired = True
        self._close()


def watch_exit(record: QemuProcess, callback: Callable[[int | None], None]) -> ExitWatcher:
    """Start an :class:`ExitWatcher` for ``record`` and return it."""
    watcher = ExitWatcher(record, callback)
    watcher.start()
    return watcher
