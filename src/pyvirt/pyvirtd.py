"""``pyvirtd``: command line, pid-file lock, logging, the sockets, then the daemon.

The order is libvirtd's: the sockets listen before the drivers (and asyncio,
lxml, the XML and driver modules) load, so a client started together with the
daemon waits in the socket's queue rather than failing.  Everything imported
at the top of this module is light; ``pyvirt.daemon`` loads after the sockets
exist.
"""

from __future__ import annotations

import argparse
import fcntl
import gc
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from pyvirt.jobs import DEFAULT_JOB_TIMEOUT, set_job_timeout
from pyvirt.layout import Layout
from pyvirt.sockets import Listener, close_listeners, open_listeners

__all__ = ["PidFileLocked", "acquire_pidfile", "main", "parse_args", "setup_logging"]

log = logging.getLogger(__name__)


def _help_formatter(*, prog: str) -> argparse.HelpFormatter:
    # argparse would import shutil (and with it bz2 and lzma) for the width alone
    try:
        width = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        try:
            width = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 80
        except (OSError, ValueError):
            width = 80
    return argparse.HelpFormatter(prog, width=max(width - 2, 20))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """pyvirtd's options; exits with argparse's usage error (status 2) on bad ones."""
    parser = argparse.ArgumentParser(
        prog="pyvirtd",
        formatter_class=_help_formatter,
        description=(
            "The pyvirt daemon: keeps QEMU virtual machines and virtual networks "
            "(bridge + dnsmasq + nftables) and serves libvirt's remote protocol on "
            "ROOT/run/pyvirt/pyvirt-sock (read-write, 0600) and pyvirt-sock-ro (read-only)."
        ),
    )
    parser.add_argument(
        "--root",
        default="/",
        help="keep every file under this directory (a private instance); default: /",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details (DEBUG level)")
    parser.add_argument(
        "--no-default-network",
        action="store_true",
        help="do not define the 'default' network on a root's first start",
    )
    parser.add_argument(
        "--no-autostart",
        action="store_true",
        help="do not start networks and domains marked autostart",
    )
    parser.add_argument(
        "--job-timeout",
        type=float,
        default=DEFAULT_JOB_TIMEOUT,
        metavar="SECONDS",
        help="how long a state change waits for another one on the same object before failing "
        "with 'cannot acquire state change lock' (default: %(default)s, as libvirt)",
    )
    parser.add_argument(
        "--qemu-user",
        default=None,
        metavar="USER",
        help="run QEMU as this account, handing it the domain's files for the run as libvirt's "
        "DAC driver does (default: pyvirt-qemu if it exists, else root; 'root' runs QEMU as root)",
    )
    args = parser.parse_args(argv)
    if not args.job_timeout > 0:
        parser.error("--job-timeout must be positive")
    return args


class PidFileLocked(Exception):
    """Another pyvirtd holds the pid file of this root."""


def acquire_pidfile(path: Path) -> int:
    """Lock ``path`` for this process and write our pid into it.

    Returns the open descriptor, which must stay open for the daemon's life.

    Raises:
        PidFileLocked: another live process holds the lock.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        try:
            other = os.pread(fd, 32, 0).decode().strip()
        finally:
            os.close(fd)
        raise PidFileLocked(f"pyvirtd is already running for this root (pid {other or '?'}, {path})") from err
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


class _QuietLibraries(logging.Filter):
    """Drop asyncio's debug chatter below WARNING (-v shows pyvirt's own DEBUG lines)."""

    NOISY = ("asyncio",)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.name.startswith(self.NOISY)


def setup_logging(verbose: bool) -> None:
    """Log to stderr, at DEBUG with ``verbose`` and at INFO otherwise."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_QuietLibraries())


def main(argv: list[str] | None = None) -> int:
    """Run pyvirtd in the foreground until SIGTERM or SIGINT; the exit status."""
    # Start-up allocates much (modules, definitions) and frees almost nothing, so the cyclic
    # collector would only scan it over and over: about a tenth of the start.  The daemon
    # freezes what start-up made and enables the collector once it serves (Daemon.run).  The
    # pyvirtd launcher turns it off before its first import already (pyvirt.launcher).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if was_enabled:
            gc.enable()


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    set_job_timeout(args.job_timeout)
    layout = Layout(Path(args.root).resolve())
    os.umask(0o022)
    layout.run.mkdir(parents=True, exist_ok=True, mode=0o755)
    try:
        pid_fd = acquire_pidfile(layout.pidfile)
    except PidFileLocked as err:
        log.error("%s", err)
        print(f"pyvirtd: {err}", file=sys.stderr)
        return 1
    listeners: list[Listener] = []
    # Until the event loop takes SIGTERM over: stop, and remove the sockets and the pid file.
    signal.signal(signal.SIGTERM, _stop_during_start_up)
    try:
        try:
            listeners = open_listeners(layout.socket_rw, layout.socket_ro)
        except OSError as err:
            log.error("cannot listen on %s: %s", layout.socket_rw, err)
            print(f"pyvirtd: cannot listen on {layout.socket_rw}: {err}", file=sys.stderr)
            return 1
        return _serve(args, layout, listeners)
    finally:
        try:
            close_listeners(listeners)
            layout.pidfile.unlink(missing_ok=True)
        finally:
            os.close(pid_fd)


def _stop_during_start_up(signum: int, _frame: FrameType | None) -> None:
    log.info("stop requested during start-up (signal %d)", signum)
    raise SystemExit(0)


def _serve(args: argparse.Namespace, layout: Layout, listeners: list[Listener]) -> int:
    from pyvirt.daemon.server import Daemon, run_until_stopped  # the heavy part of start-up

    daemon = Daemon(
        layout,
        define_default_network=not args.no_default_network,
        autostart=not args.no_autostart,
        qemu_user=args.qemu_user,
        listeners=listeners,
    )
    try:
        run_until_stopped(daemon)
    except Exception:
        log.exception("pyvirtd failed")
        return 1
    log.info("pyvirtd stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
