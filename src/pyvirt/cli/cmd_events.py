"""``event`` and ``net-event`` (``tools/virsh-domain-event.c``, ``virsh-network.c``)."""

from __future__ import annotations

import time

from pyvirt import constants as c
from pyvirt.cli.ctl import CommandFailed

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pyvirt.cli.ctl import Ctl
    from pyvirt.cli.vsh import Command

DOMAIN_EVENT_NAMES = (
    "lifecycle",
    "reboot",
    "rtc-change",
    "watchdog",
    "io-error",
    "graphics",
    "io-error-reason",
    "control-error",
    "block-job",
    "disk-change",
    "tray-change",
    "pm-wakeup",
    "pm-suspend",
    "balloon-change",
    "pm-suspend-disk",
    "device-removed",
    "block-job-2",
    "tunable",
    "agent-lifecycle",
    "device-added",
    "migration-iteration",
    "job-completed",
    "device-removal-failed",
    "metadata-change",
    "block-threshold",
    "memory-failure",
    "memory-device-size-change",
)

DOMAIN_EVENTS = (
    "Defined",
    "Undefined",
    "Started",
    "Suspended",
    "Resumed",
    "Stopped",
    "Shutdown",
    "PMSuspended",
    "Crashed",
)
DOMAIN_DETAILS: tuple[tuple[str, ...], ...] = (
    ("Added", "Updated", "Renamed", "Snapshot"),
    ("Removed", "Renamed"),
    ("Booted", "Migrated", "Restored", "Snapshot", "Event wakeup"),
    (
        "Paused",
        "Migrated",
        "I/O Error",
        "Watchdog",
        "Restored",
        "Snapshot",
        "API error",
        "Post-copy",
        "Post-copy Error",
    ),
    ("Unpaused", "Migrated", "Snapshot", "Post-copy", "Post-copy Error"),
    ("Shutdown", "Destroyed", "Crashed", "Migrated", "Saved", "Failed", "Snapshot"),
    ("Finished", "Finished after guest request", "Finished after host request"),
    ("Memory", "Disk"),
    ("Panicked", "Crashloaded"),
)
NETWORK_EVENTS = ("Defined", "Undefined", "Started", "Stopped")


def domain_event_text(event: int, detail: int) -> tuple[str, str]:
    name = DOMAIN_EVENTS[event] if 0 <= event < len(DOMAIN_EVENTS) else "unknown"
    details = DOMAIN_DETAILS[event] if 0 <= event < len(DOMAIN_DETAILS) else ()
    return name, details[detail] if 0 <= detail < len(details) else "unknown"


def network_event_text(event: int) -> str:
    return NETWORK_EVENTS[event] if 0 <= event < len(NETWORK_EVENTS) else "unknown"


def _timestamp() -> str:
    now = time.time()
    ms = int((now % 1) * 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)) + f".{ms:03d}+0000"


def _timeout(ctl: Ctl, cmd: Command) -> float | None:
    text = cmd.get("timeout")
    if text is None:
        return None
    try:
        value = int(text, 10)
    except ValueError:
        value = -1
    if value <= 0 or value > 2147483:
        ctl.error(f"Numeric value '{text}' for <timeout> option is malformed or out of range")
        raise CommandFailed
    return float(value)


def _wait_loop(
    ctl: Ctl,
    cmd: Command,
    register: Callable[[Callable[[str], None]], int],
    deregister: Callable[[int], None],
) -> bool:
    ctl.resume_gc()
    timeout = _timeout(ctl, cmd)
    loop = cmd.flag("loop")
    stamp = cmd.flag("timestamp")
    count = 0

    def emit(text: str) -> None:
        nonlocal count
        if not loop and count:
            return
        ctl.print(f"{_timestamp()}: {text}" if stamp else text)
        ctl.out.flush()
        count += 1

    callback_id = register(emit)
    deadline = None if timeout is None else time.monotonic() + timeout
    conn = ctl.conn
    try:
        while True:
            if not loop and count:
                break
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                ctl.print("event loop timed out\n")
                break
            conn.dispatchEvents(remaining if remaining is None else min(remaining, 1.0))
    except KeyboardInterrupt:
        ctl.print("event loop interrupted\n")  # virsh's VSH_EVENT_INTERRUPT
    finally:
        deregister(callback_id)
    ctl.print(f"events received: {count}\n")
    return True


def cmd_net_event(ctl: Ctl, cmd: Command) -> bool:
    if cmd.flag("list"):
        ctl.print("lifecycle\n")
        return True
    event = cmd.get("event")
    if event is None:
        ctl.error("either --list or --event <type> is required")
        raise CommandFailed
    if event != "lifecycle":
        ctl.error(f"unknown event type {event}")
        raise CommandFailed
    net = ctl.lookup_network(cmd) if cmd.has("network") else None
    conn = ctl.conn

    def register(emit: Callable[[str], None]) -> int:
        def callback(_conn: Any, n: Any, ev: int, _detail: int, _opaque: Any) -> None:
            emit(f"event 'lifecycle' for network {n.name()}: {network_event_text(ev)}\n")

        return conn.networkEventRegisterAny(net, c.VIR_NETWORK_EVENT_ID_LIFECYCLE, callback)

    return _wait_loop(ctl, cmd, register, conn.networkEventDeregisterAny)


def cmd_event(ctl: Ctl, cmd: Command) -> bool:
    if cmd.flag("list"):
        ctl.print("".join(n + "\n" for n in DOMAIN_EVENT_NAMES))
        return True
    event = cmd.get("event")
    if event is None and not cmd.flag("all"):
        ctl.error("one of --list, --all, or --event <type> is required")
        raise CommandFailed
    if event is not None and event not in DOMAIN_EVENT_NAMES:
        ctl.error(f"unknown event type {event}")
        raise CommandFailed
    if event is not None and event != "lifecycle":
        ctl.error(f"event type '{event}' is not supported by pyvirsh")
        raise CommandFailed
    dom = ctl.lookup_domain(cmd) if cmd.has("domain") else None
    conn = ctl.conn

    def register(emit: Callable[[str], None]) -> int:
        def callback(_conn: Any, d: Any, ev: int, detail: int, _opaque: Any) -> None:
            name, text = domain_event_text(ev, detail)
            emit(f"event 'lifecycle' for domain '{d.name()}': {name} {text}\n")

        return conn.domainEventRegisterAny(dom, c.VIR_DOMAIN_EVENT_ID_LIFECYCLE, callback)

    return _wait_loop(ctl, cmd, register, conn.domainEventDeregisterAny)
