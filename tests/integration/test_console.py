"""`virsh console` and `pyvirsh console` against a real guest, driven in tmux.

The console travels over libvirt's stream messages (DOMAIN_OPEN_CONSOLE);
the guest's serial output must appear on the terminal, Ctrl+] must detach,
and a second session must be refused unless --force.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
import uuid

import pytest

from .conftest import PYVIRSH, VIRSH, Daemon
from .guests import domain_xml, requires_guest, wait_serial

pytestmark = [pytest.mark.netns, pytest.mark.qemu, requires_guest]

TMUX = shutil.which("tmux")


class Tmux:
    """A detached tmux session running one command; the pane stays after it exits."""

    EXITED = "[console command exited]"

    def __init__(self, argv: list[str]) -> None:
        self.name = f"pvcon-{uuid.uuid4().hex[:8]}"
        cmd = " ".join(shlex.quote(a) for a in argv)
        shell = f"{cmd}; echo; echo '{self.EXITED}'; sleep 600"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", "160", "-y", "50", shell], check=True
        )

    def screen(self) -> str:
        p = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name, "-S", "-200"], capture_output=True, text=True
        )
        return p.stdout

    def wait_for(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not on the terminal:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def alive(self) -> bool:
        return self.EXITED not in self.screen()

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
@pytest.mark.parametrize("client", ["pyvirsh", "virsh"])
def test_console_shows_guest_output_and_detaches(daemon: Daemon, client: str) -> None:
    binary = str(PYVIRSH) if client == "pyvirsh" else VIRSH
    if binary is None:
        pytest.skip("the real virsh is not installed")
    (daemon.root / "con.xml").write_text(domain_xml(daemon, "con", acpi=True, network=None))
    assert daemon.pyvirsh("define", "con.xml").rc == 0
    assert daemon.pyvirsh("start", "con").rc == 0
    wait_serial(daemon, "con", "GUEST-ACPI-WATCH")

    def console(*extra: str) -> Tmux:
        return Tmux(daemon.ns.cmd(binary, "-c", daemon.uri, "console", "con", *extra))

    sessions: list[Tmux] = []
    try:
        first = console()
        sessions.append(first)
        first.wait_for("Escape character is ^] (Ctrl + ])")
        # A second session is refused...
        second = console()
        sessions.append(second)
        second.wait_for("Active console session exists for this domain")
        # ...unless forced; Ctrl+] detaches.
        forced = console("--force")
        sessions.append(forced)
        forced.wait_for("Escape character is ^] (Ctrl + ])")
        forced.keys("C-]")
        _wait_gone(forced, f"{client} console did not detach on Ctrl+]")
        # Guest output reaches the terminal: the power button makes the guest talk.
        watcher = console()
        sessions.append(watcher)
        watcher.wait_for("Escape character is ^] (Ctrl + ])")
        assert daemon.pyvirsh("shutdown", "con").rc == 0
        watcher.wait_for("GUEST-ACPI-POWEROFF")
        # The guest is gone: the stream ends and the console returns.
        _wait_gone(watcher, f"{client} console did not end with the guest")
    finally:
        for session in sessions:
            session.kill()


def _wait_gone(session: Tmux, message: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while session.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not session.alive(), message + ":\n" + session.screen()


def test_console_needs_a_running_domain_and_a_tty(daemon: Daemon) -> None:
    (daemon.root / "off.xml").write_text(domain_xml(daemon, "off", network=None))
    assert daemon.pyvirsh("define", "off.xml").rc == 0
    got = daemon.pyvirsh("console", "off")
    assert got.rc == 1
    assert got.err == "error: The domain is not running\n"


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
def test_start_with_console_attaches_at_boot(daemon: Daemon) -> None:
    (daemon.root / "boot.xml").write_text(domain_xml(daemon, "boot", acpi=True, network=None))
    assert daemon.pyvirsh("define", "boot.xml").rc == 0
    session = Tmux(daemon.ns.cmd(str(PYVIRSH), "-c", daemon.uri, "start", "boot", "--console"))
    try:
        session.wait_for("Domain 'boot' started")
        session.wait_for("Connected to domain 'boot'")
        session.wait_for("GUEST-ACPI-WATCH", timeout=60)  # the guest's boot, seen live
        session.keys("C-]")
        _wait_gone(session, "start --console did not detach on Ctrl+]")
    finally:
        session.kill()
    assert daemon.pyvirsh("destroy", "boot").rc == 0
