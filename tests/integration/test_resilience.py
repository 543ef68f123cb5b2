"""pyvirtd survives crashes, restarts, a full disk and fifty busy clients, losing nothing.

* crash loop: a client streams define / undefine / autostart calls while the
  daemon is ``kill -9``-ed at a random moment, thirty times over; after every
  restart each stored file parses, every acknowledged change is there (a call
  in flight may have landed or not), and no temp file remains;
* disk full: a definition that does not fit is refused with libvirt's error
  and the old definition is intact (a 64 KiB tmpfs over the config directory,
  in a private mount namespace);
* concurrency: 50 connections x 200 mixed calls, every call answered, the
  daemon's view equal to the files on disk, before and after a restart; and
  a state change that waits too long for another fails with
  "cannot acquire state change lock";
* restart with active networks: same networks, same dnsmasq; corrupt or stale
  status files and corrupt definitions do not stop the daemon.

Host safety: every daemon runs in a network namespace of its own with a
private root (conftest.py); the tmpfs is mounted in a private mount namespace
of the daemon only.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.rpc.remote import Proc

from .conftest import Daemon, NetNS
from .resilience_util import (
    disk_state,
    dom_ref,
    dom_xml,
    list_domains,
    list_networks,
    net_ref,
    net_xml,
    open_client,
)

pytestmark = pytest.mark.netns

# --------------------------------------------------------------------------
# crash loop


class Model:
    """What the client was told: per object, acknowledged state and the call in flight."""

    def __init__(self) -> None:
        # (kind, name) -> (defined, gen, autostart)
        self.acked: dict[tuple[str, str], tuple[bool, int, bool]] = {}
        self.inflight: dict[tuple[str, str], tuple[bool, int, bool]] = {}
        self.calls = 0

    def state(self, key: tuple[str, str]) -> tuple[bool, int, bool]:
        return self.acked.get(key, (False, -1, False))


def _client_stream(sock: Path, model: Model, rng: random.Random, stop: threading.Event) -> None:
    """Random define/undefine/autostart calls until the daemon dies under us."""
    try:
        client = open_client(sock, timeout=20)
    except VirtError:
        return
    names = [("net", f"c{i}") for i in range(4)] + [("dom", f"d{i}") for i in range(4)]
    try:
        while not stop.is_set():
            key = rng.choice(names)
            kind, name = key
            defined, gen, auto = model.state(key)
            op = rng.choice(["define", "define", "undefine", "autostart"] if defined else ["define"])
            if op == "define":
                new = (True, model.calls + 1000, auto)
                proc, args = (
                    (Proc.NETWORK_DEFINE_XML, {"xml": net_xml(name, new[1])})
                    if kind == "net"
                    else (Proc.DOMAIN_DEFINE_XML, {"xml": dom_xml(name, new[1])})
                )
            elif op == "undefine":
                new = (False, -1, False)
                proc, args = (
                    (Proc.NETWORK_UNDEFINE, {"net": net_ref(name)})
                    if kind == "net"
                    else (Proc.DOMAIN_UNDEFINE, {"dom": dom_ref(name)})
                )
            else:
                new = (True, gen, not auto)
                proc, args = (
                    (Proc.NETWORK_SET_AUTOSTART, {"net": net_ref(name), "autostart": int(new[2])})
                    if kind == "net"
                    else (Proc.DOMAIN_SET_AUTOSTART, {"dom": dom_ref(name), "autostart": int(new[2])})
                )
            model.inflight[key] = new
            model.calls += 1
            try:
                client.call(proc, args)
            except VirtError as err:
                if err.domain == ErrorDomain.RPC:  # the connection died: outcome unknown
                    return
                raise AssertionError(f"{op} {name} refused: {err.message}") from err
            model.acked[key] = new
            del model.inflight[key]
    finally:
        client.close()


def _check_against_model(root: Path, sock: Path, model: Model) -> None:
    stored = disk_state(root)
    client = open_client(sock)
    try:
        live = {"net": list_networks(client), "dom": list_domains(client)}
    finally:
        client.close()
    for kind, disk_kind in (("net", "networks"), ("dom", "domains")):
        on_disk = {n: v for n, v in stored[disk_kind].items() if n != "default"}
        in_daemon = {n: a for n, a in live[kind].items() if n != "default"}
        assert {n: v[1] for n, v in on_disk.items()} == in_daemon, "daemon and disk disagree"
        names = {n for k, n in list(model.acked) + list(model.inflight) if k == kind} | set(on_disk)
        for name in names:
            key = (kind, name)
            allowed = [model.state(key)]
            if key in model.inflight:
                allowed.append(model.inflight[key])
            got = (True, *on_disk[name]) if name in on_disk else (False, -1, False)
            assert got in allowed, f"{kind} {name}: stored {got}, client was told {allowed}"


def test_kill9_during_definition_stream_loses_nothing(netns: NetNS, root_dir: Path) -> None:
    rng = random.Random(int(os.environ.get("PYVIRT_TEST_SEED", "4242")))
    daemon = Daemon(netns, root_dir)
    model = Model()
    restarts = 0
    iterations = int(os.environ.get("PYVIRT_TEST_CRASH_LOOPS", "30"))
    try:
        for _ in range(iterations):
            daemon.start()
            if restarts:
                _check_against_model(root_dir, daemon.sock, model)
            # Settle what was in flight: it either landed or not, as checked above.
            stored = disk_state(root_dir)
            for (kind, name), _new in list(model.inflight.items()):
                entry = stored["networks" if kind == "net" else "domains"].get(name)
                model.acked[(kind, name)] = (True, entry[0] or 0, entry[1]) if entry else (False, -1, False)
                del model.inflight[(kind, name)]
            stop = threading.Event()
            worker = threading.Thread(target=_client_stream, args=(daemon.sock, model, rng, stop))
            calls_before = model.calls
            worker.start()
            # Kill mid-stream: once the client is calling, after a random while.
            deadline = time.monotonic() + 10
            while model.calls < calls_before + 2 and worker.is_alive() and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.25))
            assert daemon.proc is not None
            daemon.proc.send_signal(signal.SIGKILL)
            daemon.proc.wait(10)
            stop.set()
            worker.join(30)
            assert not worker.is_alive()
            restarts += 1
        daemon.start()
        _check_against_model(root_dir, daemon.sock, model)
    finally:
        daemon.stop(signal.SIGKILL)
    print(f"\ncrash loop: {restarts} kill -9 restarts survived, {model.calls} calls, nothing lost")
    assert model.calls > iterations


# --------------------------------------------------------------------------
# disk full


class TmpfsDaemon(Daemon):
    """pyvirtd whose config directory is a tiny tmpfs, in a mount namespace of its own."""

    def start(self, timeout: float = 30) -> None:
        qemu_dir = self.root / "etc/pyvirt/qemu"
        qemu_dir.mkdir(parents=True, exist_ok=True)
        script = f'mount -t tmpfs -o size=64k,mode=0755 pyvirt-test "{qemu_dir}" && exec "$@"'
        self.extra_args = ("--no-default-network",)
        self.launch(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"])
        self.wait_serving(timeout)

    def read_in_ns(self, path: Path) -> str:
        assert self.proc is not None
        return subprocess.run(
            ["nsenter", "-t", str(self.proc.pid), "-m", "cat", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def ls_in_ns(self, path: Path) -> list[str]:
        assert self.proc is not None
        out = subprocess.run(
            ["nsenter", "-t", str(self.proc.pid), "-m", "ls", "-A", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return out.split()


def test_disk_full_keeps_old_definition(netns: NetNS, root_dir: Path) -> None:
    daemon = TmpfsDaemon(netns, root_dir)
    daemon.start()
    try:
        client = open_client(daemon.sock)
        client.call(Proc.NETWORK_DEFINE_XML, {"xml": net_xml("small", 1)})
        client.call(Proc.DOMAIN_DEFINE_XML, {"xml": dom_xml("vm1", 1)})
        big = "x" * 200_000
        for proc, xml, kind in (
            (Proc.NETWORK_DEFINE_XML, net_xml("small", 2).replace("gen-2", f"gen-2 {big}"), "networks/small"),
            (Proc.DOMAIN_DEFINE_XML, dom_xml("vm1", 2).replace("gen-2", f"gen-2 {big}"), "vm1"),
            (Proc.NETWORK_DEFINE_XML, net_xml("new", 1).replace("gen-1", f"gen-1 {big}"), "networks/new"),
        ):
            with pytest.raises(VirtError) as info:
                client.call(proc, {"xml": xml})
            err = info.value
            assert err.code == ErrorNumber.SYSTEM_ERROR, err.message
            assert "cannot write data to file" in err.message
            assert err.message.endswith("No space left on device")
            path = root_dir / "etc/pyvirt/qemu" / f"{kind}.xml"
            if kind == "networks/new":
                with pytest.raises(VirtError, match="Network not found"):
                    client.call(Proc.NETWORK_LOOKUP_BY_NAME, {"name": "new"})
                assert "new.xml" not in daemon.ls_in_ns(path.parent)
            else:
                assert "gen-1" in daemon.read_in_ns(path)
            assert not [n for n in daemon.ls_in_ns(path.parent) if n.startswith(".pyvirt-tmp-")]
        # The daemon's own view is the old definition too.
        xml = client.call(Proc.NETWORK_GET_XML_DESC, {"net": net_ref("small"), "flags": 1})["xml"]
        assert "gen-1" in xml and big not in xml
        xml = client.call(Proc.DOMAIN_GET_XML_DESC, {"dom": dom_ref("vm1"), "flags": 2})["xml"]
        assert "gen-1" in xml and big not in xml
        client.close()
    finally:
        daemon.stop(signal.SIGKILL)


# --------------------------------------------------------------------------
# concurrency


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.problems: list[str] = []

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n


def _worker(sock: Path, idx: int, calls: int, tally: Tally, final: dict[str, Any]) -> None:
    rng = random.Random(idx)
    own = [("net", f"t{idx}n{k}") for k in range(2)] + [("dom", f"t{idx}d{k}") for k in range(2)]
    shared = [("net", f"s{k}") for k in range(4)] + [("dom", f"sd{k}") for k in range(4)]
    mine: dict[tuple[str, str], tuple[bool, bool]] = {}  # own objects: (defined, autostart)
    try:
        client = open_client(sock, timeout=120)
    except VirtError as err:
        tally.problems.append(f"worker {idx}: cannot connect: {err.message}")
        tally.add("lost", calls)
        return
    gen = 0
    try:
        for _ in range(calls):
            key = rng.choice(own) if rng.random() < 0.6 else rng.choice(shared)
            kind, name = key
            is_net = kind == "net"
            ref = {"net": net_ref(name)} if is_net else {"dom": dom_ref(name)}
            op = rng.choices(
                ["define", "undefine", "list", "lookup", "dumpxml", "autostart"], [25, 15, 15, 15, 15, 15]
            )[0]
            gen += 1
            if op == "define":
                proc, args = (
                    (Proc.NETWORK_DEFINE_XML, {"xml": net_xml(name, gen)})
                    if is_net
                    else (Proc.DOMAIN_DEFINE_XML, {"xml": dom_xml(name, gen)})
                )
            elif op == "undefine":
                proc, args = (Proc.NETWORK_UNDEFINE if is_net else Proc.DOMAIN_UNDEFINE), ref
            elif op == "list":
                proc = Proc.CONNECT_LIST_ALL_NETWORKS if is_net else Proc.CONNECT_LIST_ALL_DOMAINS
                args = {"need_results": 1, "flags": 0}
            elif op == "lookup":
                proc = Proc.NETWORK_LOOKUP_BY_NAME if is_net else Proc.DOMAIN_LOOKUP_BY_NAME
                args = {"name": name}
            elif op == "dumpxml":
                proc = Proc.NETWORK_GET_XML_DESC if is_net else Proc.DOMAIN_GET_XML_DESC
                args = {**ref, "flags": 0}
            else:
                want = rng.random() < 0.5
                proc = Proc.NETWORK_SET_AUTOSTART if is_net else Proc.DOMAIN_SET_AUTOSTART
                args = {**ref, "autostart": int(want)}
            tally.add("made")
            try:
                client.call(proc, args)
            except VirtError as err:
                if err.domain == ErrorDomain.RPC and err.code in (ErrorNumber.SYSTEM_ERROR, 68):
                    tally.add("lost")
                    tally.problems.append(f"worker {idx}: {op} {name}: {err.message}")
                    return
                if err.code == 68:
                    tally.add("lock timeouts")
                if "unexpected failure" in err.message:
                    tally.problems.append(f"worker {idx}: {op} {name}: {err.message}")
                tally.add(f"code {err.code}")
                tally.add("answered")
                tally.add("errors")
                continue
            tally.add("answered")
            if key in own:
                _defined, auto = mine.get(key, (False, False))
                if op == "define":
                    mine[key] = (True, auto)
                elif op == "undefine":
                    mine[key] = (False, False)
                elif op == "autostart":
                    mine[key] = (True, bool(args["autostart"]))
    finally:
        client.close()
        with tally.lock:
            final.update({f"{k}:{n}": v for (k, n), v in mine.items()})


def _consistent(root: Path, sock: Path, final: dict[str, Any]) -> None:
    stored = disk_state(root)
    client = open_client(sock)
    try:
        live = {"net": list_networks(client), "dom": list_domains(client)}
    finally:
        client.close()
    assert {n: v[1] for n, v in stored["networks"].items()} == live["net"]
    assert {n: v[1] for n, v in stored["domains"].items()} == live["dom"]
    for key, (defined, auto) in final.items():
        kind, name = key.split(":")
        have = live[kind]
        if defined:
            assert name in have, f"{kind} {name} was defined and acknowledged, now lost"
            assert have[name] == auto, f"{kind} {name}: autostart {have[name]}, expected {auto}"
        else:
            assert name not in have, f"{kind} {name} was undefined and acknowledged, still there"


def test_fifty_clients_mixed_calls(netns: NetNS, root_dir: Path) -> None:
    daemon = Daemon(netns, root_dir)
    daemon.start()
    clients, calls = 50, 200
    tally = Tally()
    final: dict[str, Any] = {}
    try:
        t0 = time.monotonic()
        threads = [
            threading.Thread(target=_worker, args=(daemon.sock, i, calls, tally, final))
            for i in range(clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        elapsed = time.monotonic() - t0
        assert not any(t.is_alive() for t in threads), "a client is stuck: deadlock?"
        c = tally.counts
        print(
            f"\nconcurrency: {clients} clients x {calls} calls in {elapsed:.1f}s: made {c['made']}, "
            f"answered {c['answered']} ({c['errors']} error replies, {c['lock timeouts']} lock timeouts), "
            f"lost {c['lost']}"
        )
        print("error replies by code:", sorted((k, v) for k, v in c.items() if k.startswith("code")))
        assert not tally.problems, tally.problems[:5]
        assert "Traceback" not in daemon.log.read_text()
        assert c["made"] == clients * calls == c["answered"]
        assert c["lost"] == 0
        _consistent(root_dir, daemon.sock, final)
        # ... and the same after a crash and restart.
        daemon.stop(signal.SIGKILL)
        daemon.start()
        _consistent(root_dir, daemon.sock, final)
    finally:
        daemon.stop()


def test_state_change_lock_timeout(netns: NetNS, root_dir: Path) -> None:
    """net-destroy waiting behind a slow net-start gives up after --job-timeout."""
    daemon = Daemon(netns, root_dir, extra_args=("--job-timeout", "0.005", "--no-default-network"))
    daemon.start()
    try:
        client = open_client(daemon.sock)
        extra = (
            "<ip address='10.77.0.1' prefix='24'><dhcp>"
            "<range start='10.77.0.10' end='10.77.0.20'/></dhcp></ip>"
        )
        client.call(Proc.NETWORK_DEFINE_XML, {"xml": net_xml("slow", bridge="pvtslow0", extra=extra)})
        seen: list[VirtError] = []
        starter_client = open_client(daemon.sock)
        for _ in range(5):
            starter = threading.Thread(
                target=lambda: starter_client.call(Proc.NETWORK_CREATE, {"net": net_ref("slow")})
            )
            starter.start()
            # Hammer destroy while the start runs: once the start holds the lock,
            # a destroy waits for it and gives up after 5 ms.
            while starter.is_alive() and not seen:
                try:
                    client.call(Proc.NETWORK_DESTROY, {"net": net_ref("slow")})
                except VirtError as err:
                    if err.code == ErrorNumber.OPERATION_TIMEOUT:
                        seen.append(err)
            starter.join(30)
            try:
                client.call(Proc.NETWORK_DESTROY, {"net": net_ref("slow")})
            except VirtError:
                pass
            if seen:
                break
        starter_client.close()
        assert seen, "no destroy ever waited long enough for the lock"
        assert seen[0].message == "Timed out during operation: cannot acquire state change lock"
        assert seen[0].domain == ErrorDomain.NETWORK
        client.close()
    finally:
        daemon.stop()


# --------------------------------------------------------------------------
# restart with active networks, corrupt files


def _dnsmasq_pid(root: Path, name: str) -> int:
    return int((root / "run/pyvirt/network" / f"{name}.pid").read_text().split()[0])


def _alive(pid: int) -> bool:
    """True when ``pid`` runs (a zombie nobody reaped counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _net_active(client: Any, name: str) -> bool:
    return bool(client.call(Proc.NETWORK_IS_ACTIVE, {"net": net_ref(name)})["active"])


def test_kill9_with_active_networks_and_corrupt_state(netns: NetNS, root_dir: Path) -> None:
    daemon = Daemon(netns, root_dir, extra_args=("--no-default-network",))
    daemon.start()
    try:
        client = open_client(daemon.sock)
        nets = {"na": ("pvtna0", "10.81.0"), "nb": ("pvtnb0", "10.82.0"), "nc": ("pvtnc0", "10.83.0")}
        for name, (bridge, net) in nets.items():
            extra = (
                f"<forward mode='nat'/><ip address='{net}.1' prefix='24'><dhcp>"
                f"<range start='{net}.10' end='{net}.20'/></dhcp></ip>"
            )
            client.call(Proc.NETWORK_DEFINE_XML, {"xml": net_xml(name, bridge=bridge, extra=extra)})
            client.call(Proc.NETWORK_CREATE, {"net": net_ref(name)})
        pids = {name: _dnsmasq_pid(root_dir, name) for name in nets}
        assert all(_alive(p) for p in pids.values())
        client.close()

        # 1. kill -9: the same networks come back, with the same dnsmasq processes.
        daemon.stop(signal.SIGKILL)
        daemon.start()
        client = open_client(daemon.sock)
        for name in nets:
            assert _net_active(client, name), f"{name} not active after restart"
            assert _dnsmasq_pid(root_dir, name) == pids[name]
        assert all(_alive(p) for p in pids.values())
        client.close()

        # 2. While the daemon is down: nb's status file is garbage, nc's bridge vanished,
        #    a domain status file and a domain definition are garbage.
        daemon.stop(signal.SIGKILL)
        (root_dir / "run/pyvirt/network/nb.xml").write_text("\0\x01garbage<<<")
        netns.run("ip", "link", "del", "pvtnc0")
        (root_dir / "run/pyvirt/qemu").mkdir(parents=True, exist_ok=True)
        (root_dir / "run/pyvirt/qemu/ghost.xml").write_text("<domstatus><domain>broken")
        (root_dir / "etc/pyvirt/qemu/broken.xml").write_text("<domain type='qemu'><name>broken</name>")
        (root_dir / "etc/pyvirt/qemu/vm-ok.xml").write_text(dom_xml("vm-ok"))
        daemon.start()
        client = open_client(daemon.sock)
        assert _net_active(client, "na")
        assert _dnsmasq_pid(root_dir, "na") == pids["na"]
        assert not _net_active(client, "nb")
        assert not _net_active(client, "nc")
        assert set(list_domains(client)) == {"vm-ok"}
        log = daemon.log.read_text()
        assert "unreadable status file" in log and "nb" in log
        assert "could not be reattached" in log
        assert "skipping domain definition" in log and "broken.xml" in log
        assert not (root_dir / "run/pyvirt/network/nb.xml").exists()
        assert not (root_dir / "run/pyvirt/network/nc.xml").exists()
        assert not (root_dir / "run/pyvirt/qemu/ghost.xml").exists()
        # Both were cleaned up (nb's runtime record was lost, yet its dnsmasq and bridge
        # went too), so they start again.
        assert not _alive(pids["nb"]) and not _alive(pids["nc"])
        for name in ("nb", "nc"):
            client.call(Proc.NETWORK_CREATE, {"net": net_ref(name)})
            assert _net_active(client, name)
        client.close()
    finally:
        daemon.stop()
