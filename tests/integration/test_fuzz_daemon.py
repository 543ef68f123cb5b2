"""Hostile clients against a live pyvirtd: the daemon answers or hangs up, and keeps serving.

While a "witness" client keeps calling the daemon from another connection,
other connections send random bytes, absurd length words, truncated and
oversized frames, over-long strings, huge list counts, unknown programs,
procedures and versions, REPLY messages, calls before CONNECT_OPEN, garbage
in the middle of a session, hostile object names, random arguments to every
procedure, and 16 MiB frames announced but never sent.  Every hostile message
must get an error reply or a closed connection; the witness must never fail;
the daemon's memory must stay bounded.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyvirt.daemon import dispatch
from pyvirt.rpc import protocol, remote
from pyvirt.rpc.protocol import MessageStatus, MessageType
from pyvirt.rpc.remote import Proc
from pyvirt.rpc.xdr import STRING_MAX
from tests.unit.xdr_strategies import HOSTILE_NAMES, sample_value

from .conftest import Daemon
from .resilience_util import (
    call_frame,
    disk_state,
    frame,
    open_client,
    open_raw,
    raw_socket,
    read_reply,
    vmrss_kib,
)

pytestmark = pytest.mark.netns


class Witness:
    """A well-behaved client calling the daemon in a loop from its own thread."""

    def __init__(self, sock: Path) -> None:
        self.sock = sock
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        client = open_client(self.sock, timeout=30)
        try:
            while not self._stop.is_set():
                try:
                    client.call(Proc.CONNECT_LIST_ALL_NETWORKS, {"need_results": 1, "flags": 0})
                    client.call(Proc.CONNECT_GET_LIB_VERSION)
                    self.ok += 1
                except Exception as err:  # any failure at all is a finding
                    self.failures.append(repr(err))
                    return
                time.sleep(0.01)
        finally:
            client.close()

    def __enter__(self) -> Witness:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)


def _outcome(s: socket.socket, timeout: float = 10) -> str:
    """Read until an error reply or hang-up: 'error', 'closed', or fail."""
    s.settimeout(timeout)
    while True:
        try:
            msg = read_reply(s)
        except TimeoutError:
            raise AssertionError("the daemon neither answered nor hung up") from None
        if msg is None:
            return "closed"
        header, body = msg
        if header.prog == protocol.KEEPALIVE_PROGRAM:
            continue
        if header.type == MessageType.REPLY and header.status == MessageStatus.ERROR:
            err = remote.decode_error(body)
            assert "unexpected failure" not in (err.message or ""), err.message
            return "error"
        raise AssertionError(f"unexpected answer to a hostile message: {header}")


def _error_reply(s: socket.socket) -> Any:
    msg = read_reply(s)
    assert msg is not None, "connection closed instead of an error reply"
    header, body = msg
    assert header.type == MessageType.REPLY and header.status == MessageStatus.ERROR, header
    return remote.decode_error(body)


@pytest.fixture
def witnessed(daemon: Daemon) -> Iterator[tuple[Daemon, Witness]]:
    with Witness(daemon.sock) as w:
        yield daemon, w
    assert not w.failures, w.failures
    assert w.ok > 0
    assert "Traceback" not in daemon.log.read_text()


def test_framing_attacks(witnessed: tuple[Daemon, Witness]) -> None:
    daemon, witness = witnessed
    assert daemon.proc is not None
    pid = daemon.proc.pid
    assert b"pyvirtd" in Path(f"/proc/{pid}/cmdline").read_bytes()
    rss_before = vmrss_kib(pid)
    tried: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()

    def hostile(name: str, data: bytes, *, opened: bool = False, expect: str | None = None) -> None:
        s = open_raw(daemon.sock) if opened else raw_socket(daemon.sock)
        try:
            try:
                s.sendall(data)
                if expect is None:
                    # Random input may announce more than it sends; a peer that
                    # waits for the rest is right to, so end our side.
                    s.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                got = "closed"
            else:
                got = _outcome(s)
        finally:
            s.close()
        if expect is not None:
            assert got == expect, f"{name}: {got}"
        tried[name] += 1
        outcomes[got] += 1

    rng = random.Random(7)
    for _ in range(60):
        hostile("random bytes", rng.randbytes(rng.randint(1, 2000)))
    for _ in range(40):  # a plausible length word, random rest
        body = rng.randbytes(rng.randint(24, 300))
        hostile("random body", struct.pack(">I", len(body) + 4) + body)
    for word in (0xFFFFFFFF, protocol.MESSAGE_MAX + 5, 0x7FFFFFFF):
        hostile("huge length word", struct.pack(">I", word) + b"\0" * 24, expect="closed")
    for word in (0, 1, 4, 27):
        hostile("length word below 28", struct.pack(">I", word) + b"\0" * 40, expect="closed")
    hostile("unknown program", frame(1, prog=0x12345678), expect="error")
    hostile("wrong version", frame(Proc.AUTH_LIST, vers=2), expect="error")
    hostile("qemu program", frame(1, prog=protocol.QEMU_PROGRAM), expect="error")
    hostile("unknown procedure", frame(99999), opened=True, expect="error")
    hostile("negative procedure", frame(-5), opened=True, expect="error")
    hostile("REPLY from a client", frame(Proc.AUTH_LIST, mtype=MessageType.REPLY), expect="error")
    hostile("MESSAGE from a client", frame(Proc.AUTH_LIST, mtype=MessageType.MESSAGE), expect="error")
    hostile("CALL_WITH_FDS", frame(Proc.AUTH_LIST, mtype=MessageType.CALL_WITH_FDS), expect="error")
    hostile("bad message type", frame(Proc.AUTH_LIST, mtype=77), expect="error")
    hostile("call with status ERROR", frame(Proc.AUTH_LIST, status=MessageStatus.ERROR), expect="error")
    hostile("call before open", frame(Proc.CONNECT_LIST_ALL_NETWORKS, b"\0\0\0\1\0\0\0\0"), expect="error")
    hostile(
        "string over 4 MiB",
        frame(Proc.NETWORK_DEFINE_XML, struct.pack(">I", STRING_MAX + 4) + b"a" * (STRING_MAX + 4)),
        opened=True,
        expect="error",
    )
    hostile(
        "string length past the end",
        frame(Proc.NETWORK_DEFINE_XML, struct.pack(">I", 1000) + b"<net"),
        opened=True,
        expect="error",
    )
    hostile(
        "huge list count",
        frame(Proc.CONNECT_GET_ALL_DOMAIN_STATS, struct.pack(">III", 0xFFFFFFFF, 0, 0)),
        opened=True,
        expect="error",
    )
    hostile(
        "invalid optional flag",
        frame(Proc.CONNECT_OPEN, struct.pack(">II", 7, 0)),
        expect="error",
    )
    hostile(
        "empty args for a call with args", frame(Proc.NETWORK_LOOKUP_BY_NAME), opened=True, expect="error"
    )

    # Truncated frames, then close: no answer due, the daemon just drops the client.
    for cut in (1, 3, 4, 10, 27, 40):
        s = raw_socket(daemon.sock)
        s.sendall(
            call_frame(Proc.AUTH_LIST, None)[:cut] if cut < 28 else struct.pack(">I", 100) + b"\0" * cut
        )
        s.close()
        tried["truncated frame then close"] += 1

    # Garbage in the middle of a valid session: calls work, then garbage ends the session.
    s = open_raw(daemon.sock)
    s.sendall(call_frame(Proc.CONNECT_GET_LIB_VERSION, None, serial=2))
    reply = read_reply(s)
    assert reply is not None and reply[0].status == MessageStatus.OK
    s.sendall(b"\xff\xff\xff\xffGARBAGE")
    assert _outcome(s) == "closed"
    s.close()
    tried["garbage mid-session"] += 1

    # Keepalive oddities: a PONG nobody asked for, a PING with a payload.
    s = open_raw(daemon.sock)
    s.sendall(frame(protocol.KEEPALIVE_PONG, prog=protocol.KEEPALIVE_PROGRAM, mtype=MessageType.MESSAGE))
    s.sendall(
        frame(protocol.KEEPALIVE_PING, b"junk", prog=protocol.KEEPALIVE_PROGRAM, mtype=MessageType.MESSAGE)
    )
    s.sendall(call_frame(Proc.CONNECT_GET_LIB_VERSION, None, serial=3))
    seen = []
    while True:
        msg = read_reply(s)
        assert msg is not None
        seen.append(msg[0].prog)
        if msg[0].prog == protocol.REMOTE_PROGRAM:
            assert msg[0].status == MessageStatus.OK
            break
    s.close()
    tried["keepalive oddities"] += 1

    rss_after = vmrss_kib(pid)
    total = sum(tried.values())
    print(
        f"\nlive framing fuzz: {total} hostile connections ({len(tried)} kinds), outcomes {dict(outcomes)}, "
        f"witness calls ok {witness.ok}, VmRSS {rss_before} -> {rss_after} KiB"
    )
    assert rss_after - rss_before < 64 * 1024, "the daemon kept memory from hostile clients"


def test_announced_but_unsent_frames_cost_nothing(witnessed: tuple[Daemon, Witness]) -> None:
    """40 clients announce 16 MiB frames and send nothing more: no 16 MiB buffers appear."""
    daemon, _witness = witnessed
    assert daemon.proc is not None
    pid = daemon.proc.pid
    before = vmrss_kib(pid)
    socks = []
    try:
        for _ in range(40):
            s = raw_socket(daemon.sock)
            s.sendall(struct.pack(">I", protocol.MESSAGE_MAX + 4) + frame(Proc.AUTH_LIST)[4:])
            socks.append(s)
        time.sleep(1.0)
        during = vmrss_kib(pid)
        # The daemon still serves new clients meanwhile.
        c = open_client(daemon.sock)
        c.call(Proc.CONNECT_GET_LIB_VERSION)
        c.close()
    finally:
        for s in socks:
            s.close()
    print(f"\n40 announced 16 MiB frames: VmRSS {before} -> {during} KiB")
    assert during - before < 32 * 1024


def test_big_frames_are_bounded(witnessed: tuple[Daemon, Witness]) -> None:
    """Eight clients send full 16 MiB frames at once: all answered, memory bounded."""
    daemon, _witness = witnessed
    assert daemon.proc is not None
    pid = daemon.proc.pid
    before = vmrss_kib(pid)
    big = frame(Proc.CONNECT_GET_LIB_VERSION, b"\0" * (protocol.PAYLOAD_MAX), serial=2)
    assert len(big) == protocol.MESSAGE_MAX + 4
    peak = [before]
    results: list[str] = []

    def send_big() -> None:
        s = open_raw(daemon.sock)
        try:
            s.sendall(big)
            msg = read_reply(s)
            results.append("ok" if msg is not None and msg[0].status == MessageStatus.OK else repr(msg))
        finally:
            s.close()

    threads = [threading.Thread(target=send_big) for _ in range(8)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak.append(vmrss_kib(pid))
        time.sleep(0.05)
    for t in threads:
        t.join()
    after = vmrss_kib(pid)
    print(f"\n8 x 16 MiB frames: VmRSS {before} -> peak {max(peak)} -> {after} KiB")
    assert results == ["ok"] * 8
    # At most MAX_BIG_FRAMES frames (body + payload copy) are held at once.
    assert max(peak) - before < 6 * 2 * 16 * 1024 + 64 * 1024


def test_random_arguments_to_every_procedure(witnessed: tuple[Daemon, Witness]) -> None:
    """Well-formed but random arguments for each implemented procedure: answers, never a crash."""
    daemon, _witness = witnessed
    rng = random.Random(99)
    procs = sorted(p for p in dispatch._HANDLERS if p in remote.PROCEDURES and p != Proc.CONNECT_CLOSE)
    s = open_raw(daemon.sock)
    replies: Counter[str] = Counter()
    serial = 10
    try:
        for round_ in range(10):
            for proc in procs:
                codec = remote.PROCEDURES[proc].args
                try:
                    payload = remote.encode(codec, sample_value(codec, rng))
                except Exception:
                    continue
                serial += 1
                s.sendall(frame(proc, payload, serial=serial))
                while True:
                    msg = read_reply(s)
                    assert msg is not None, f"daemon hung up on {remote.PROCEDURES[proc].name}"
                    header, body = msg
                    if header.type == MessageType.REPLY and header.serial == serial:
                        break
                if header.status == MessageStatus.ERROR:
                    err = remote.decode_error(body)
                    assert "unexpected failure" not in (err.message or ""), (
                        remote.PROCEDURES[proc].name,
                        err,
                    )
                    replies[f"error {err.code}"] += 1
                else:
                    replies["ok"] += 1
            _ = round_
    finally:
        s.close()
    stored = disk_state(daemon.root)  # whatever got defined is stored in parseable form
    print(f"\nrandom-argument calls: {sum(replies.values())} over {len(procs)} procedures: {dict(replies)}")
    print(f"objects defined by chance: {sum(len(v) for v in stored.values())}")


def test_hostile_names_stay_inside_the_root(witnessed: tuple[Daemon, Witness]) -> None:
    """Objects with hostile names are refused or stored as NAME.xml in their own directory."""
    daemon, _witness = witnessed
    from xml.sax.saxutils import escape

    client = open_client(daemon.sock)
    before = {p for p in Path("/tmp").iterdir()}
    results: Counter[str] = Counter()
    try:
        for name in [*HOSTILE_NAMES, "../../../../tmp/pyvirt-escape", "a\\b", "-", "x y", "\u202e"]:
            text = escape(name)
            for proc, xml in (
                (Proc.NETWORK_DEFINE_XML, f"<network><name>{text}</name></network>"),
                (
                    Proc.DOMAIN_DEFINE_XML,
                    f"<domain type='qemu'><name>{text}</name><memory>65536</memory>"
                    "<os><type>hvm</type></os></domain>",
                ),
                (
                    Proc.NETWORK_DEFINE_XML,
                    f"<network><name>br-test</name><bridge name='{escape(name[:15])}'/></network>",
                ),
            ):
                try:
                    client.call(proc, {"xml": xml})
                except Exception as err:
                    assert "unexpected failure" not in str(err), err
                    results["refused"] += 1
                else:
                    results["accepted"] += 1
        disk_state(daemon.root)
        for path in daemon.root.rglob("*"):
            assert path.resolve().is_relative_to(daemon.root.resolve()) or path.is_symlink(), path
        assert {p for p in Path("/tmp").iterdir()} - before <= {
            p for p in Path("/tmp").iterdir() if p.name.startswith(("pv-", "pytest", "tmp"))
        }
        assert not Path("/tmp/pyvirt-escape.xml").exists()
    finally:
        client.close()
    print(f"\nhostile names: {dict(results)}")
