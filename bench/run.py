"""Side-by-side benchmarks: pyvirtd against the real libvirtd 9.0, in one run.

``python -m bench.run [--repeat N] [--quick] [--max-domains N] [--targets pyvirt,libvirt]``

Both daemons run at the same time, each in a network namespace of its own
(see :mod:`bench.daemons`), and are measured one after the other with the same
clients and the same environment.  Prints a table (median, min-max of each,
ratio pyvirt/libvirt: lower is better) and writes ``build/bench/results.json``.
See ``bench/README.md`` for what each row means.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.daemons import (
    PREFIX,
    PYVIRSH,
    REPO,
    SYSTEM_PYTHON,
    HarnessError,
    LibvirtTarget,
    PyvirtTarget,
    Target,
    WorkerClient,
    file_rewrite_seconds,
    make_workdir,
    process_env,
)
from bench.results import OK, Row, Side, error, format_table, missing, skipped, write_json

VIRSH = shutil.which("virsh")
GUEST_DIR = REPO / "build/guest"
NET_NAME = PREFIX  # network "pvbench", bridge "pvbench0"
DOMAIN_PREFIX = f"{PREFIX}-d"  # defined-only domains
GUEST_PREFIX = f"{PREFIX}-g"  # booted guests
API_PREFIX = f"{PREFIX}-api"

#: Imported once before measuring, to fill the bytecode cache (see ``Bench.check_clients``).
WARM_MODULES = [
    "pyvirt.pyvirtd",
    "pyvirt.daemon.server",
    "pyvirt.cli.main",
    "pyvirt.client",
    "pyvirt.qemu.monitor",
]

NETWORK_XML = f"""<network>
  <name>{NET_NAME}</name>
  <forward mode='nat'/>
  <bridge name='{NET_NAME}0' stp='on' delay='0'/>
  <ip address='10.200.77.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='10.200.77.2' end='10.200.77.254'/>
    </dhcp>
  </ip>
</network>
"""


def domain_template(kernel: Path, initrd: Path, memory_mib: int) -> str:
    """Domain XML like tests/data/reference/xml/pc1.xml, with ``@NAME@``/``@MAC@`` placeholders."""
    return f"""<domain type='qemu'>
  <name>@NAME@</name>
  @UUID@
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <features>
    <acpi/>
  </features>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0</cmdline>
  </os>
  <devices>
    <interface type='network'>
      @MAC@
      <source network='{NET_NAME}'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'/>
    <console type='pty'/>
  </devices>
</domain>
"""


def random_mac() -> str:
    """A fresh MAC in QEMU's range, so every boot waits for a new lease (old ones outlive a destroy)."""
    a, b, c = (random.randint(0, 255) for _ in range(3))
    return f"52:54:00:{a:02x}:{b:02x}:{c:02x}"


class Bench:
    """One benchmark run: the daemons, the rows measured so far, the options."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.rows: list[Row] = []
        self.targets: dict[str, Target] = {}
        self.skip_reason: dict[str, str] = {}
        self.namespaces: list[str] = []  # every namespace this run created (all deleted at the end)
        self.lvpy: dict[str, WorkerClient] = {}  # libvirt-python client per daemon
        self.env = process_env()
        self.pyvirsh_missing: str | None = None
        self.template = ""
        self.guest_template = ""
        self.guest_missing: str | None = None

    # -- helpers ---------------------------------------------------------------

    def log(self, msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def add(
        self,
        group: str,
        name: str,
        unit: str,
        sides: dict[str, Side],
        clients: tuple[str, str] = ("", ""),
        note: str = "",
    ) -> Row:
        """Append a row; a daemon that is not part of this run gets a "skipped" side."""
        py = sides.get("pyvirt") or skipped(self.skip_reason.get("pyvirt", "not run"))
        lv = sides.get("libvirt") or skipped(self.skip_reason.get("libvirt", "not run"))
        row = Row(group, name, unit, py, lv, clients[0], clients[1], note)
        self.rows.append(row)
        self.log(
            f"{name}: pyvirt {py.median if py.median is not None else py.status}"
            f" / libvirt {lv.median if lv.median is not None else lv.status}"
        )
        return row

    def each(self, fn: Callable[[str, Target], Side]) -> dict[str, Side]:
        """``fn`` for every running daemon; an exception becomes an "error" side."""
        out: dict[str, Side] = {}
        for key, target in self.targets.items():
            try:
                out[key] = fn(key, target)
            except HarnessError as err:
                out[key] = error(str(err))
            except (OSError, subprocess.SubprocessError) as err:
                out[key] = error(f"{type(err).__name__}: {err}")
        return out

    def time_cmd(self, argv: list[str], repeat: int, warmup: int = 1, timeout: float = 600) -> Side:
        """Median-able wall times (ms) of whole-process runs of ``argv``; an error side if it fails."""
        samples: list[float] = []
        for i in range(warmup + repeat):
            t0 = time.perf_counter()
            p = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=timeout)
            elapsed = (time.perf_counter() - t0) * 1000
            if p.returncode != 0:
                msg = (p.stderr.strip() or p.stdout.strip()).splitlines()
                return error(f"`{' '.join(argv[-3:])}` exit {p.returncode}: {' | '.join(msg[-2:])}")
            if i >= warmup:
                samples.append(elapsed)
        return Side(samples)

    def virsh(self, target: Target, *args: str) -> list[str]:
        assert VIRSH is not None
        return [VIRSH, "-c", target.uri, *args]

    def pyvirsh(self, target: Target, *args: str) -> list[str]:
        return [str(PYVIRSH), "-c", target.uri, *args]

    # -- phases ----------------------------------------------------------------

    def check_clients(self) -> None:
        """Find out whether pyvirsh and the guest are there (rows needing them say "missing")."""
        # Fill the bytecode cache first, as installing a package does: pyvirt itself, then
        # everything the daemon and the CLI import (the cache prefix hides the .pyc files that
        # come with the standard library and site-packages).  Otherwise the first pyvirtd start
        # would pay for compiling ~300 modules.
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(REPO / "src/pyvirt")],
            capture_output=True,
            env=self.env,
        )
        warm = "import importlib\nfor m in WARM_MODULES:\n    importlib.import_module(m)\n"
        subprocess.run(
            [sys.executable, "-c", f"WARM_MODULES = {WARM_MODULES!r}\n{warm}"],
            capture_output=True,
            env=self.env,
        )
        p = subprocess.run([str(PYVIRSH), "--version"], capture_output=True, text=True, env=self.env)
        if p.returncode != 0:
            last = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
            self.pyvirsh_missing = f"pyvirsh does not run: {last}"
        kernel, initrd = GUEST_DIR / "vmlinuz", GUEST_DIR / "initrd.gz"
        gdir = self.workdir / "guest"
        gdir.mkdir(mode=0o755)
        if kernel.exists() and initrd.exists():
            # Copies in the world-readable work dir: libvirt runs QEMU as libvirt-qemu and
            # relabels the files it boots; the repository's files are left alone.
            for f in (kernel, initrd):
                shutil.copy(f, gdir / f.name)
                (gdir / f.name).chmod(0o644)
        else:
            self.guest_missing = f"no test guest in {GUEST_DIR} (run `make guest`)"
        self.template = domain_template(gdir / "vmlinuz", gdir / "initrd.gz", self.args.guest_memory)
        self.guest_template = self.template

    def phase_startup(self) -> None:
        """5b: ``pyvirsh --version`` against ``virsh --version`` (no daemon involved)."""
        r = self.args.repeat
        py = (
            missing(self.pyvirsh_missing)
            if self.pyvirsh_missing
            else self.time_cmd([str(PYVIRSH), "--version"], r)
        )
        lv = self.time_cmd([VIRSH, "--version"], r) if VIRSH else missing("virsh is not installed")
        self.add(
            "startup",
            "--version (process start-up)",
            "ms",
            {"pyvirt": py, "libvirt": lv},
            ("pyvirsh", "virsh"),
        )

    def start_daemons(self) -> None:
        """Start the daemons of this run; record start-up time and idle RSS."""
        wanted = self.args.targets
        if "libvirt" in wanted:
            why = LibvirtTarget.available()
            if why:
                self.skip_reason["libvirt"] = why
                self.log(f"libvirt skipped: {why}")
        else:
            self.skip_reason["libvirt"] = "not selected (--targets)"
        if "pyvirt" not in wanted:
            self.skip_reason["pyvirt"] = "not selected (--targets)"
        candidates: list[Target] = []
        if "pyvirt" in wanted:
            candidates.append(PyvirtTarget(self.workdir, self.args.profile))
        if "libvirt" in wanted and "libvirt" not in self.skip_reason:
            candidates.append(LibvirtTarget(self.workdir))
        self.measure_starts(candidates)
        for t in candidates:
            self.log(f"starting {t.label}")
            self.targets[t.key] = t  # registered first, so a failed start is still cleaned up
            try:
                t.start()
            except HarnessError as err:
                if t.namespace:
                    self.namespaces.append(t.namespace)
                self.skip_reason[t.key] = f"did not start: {err}"
                self.log(f"{t.label} did not start: {err}")
                t.stop()
                del self.targets[t.key]
                continue
            if t.namespace:
                self.namespaces.append(t.namespace)
            self.lvpy[t.key] = t.worker(SYSTEM_PYTHON, "libvirt")
            # the bench network, defined and inactive; every domain's NIC is on it
            self.lvpy[t.key].call("net_ensure", xml=NETWORK_XML, name=NET_NAME)
        if not self.targets:
            raise HarnessError("no daemon to benchmark: " + "; ".join(self.skip_reason.values()))
        time.sleep(1)  # let start-up work (default network definition, caps probing) settle
        self.add("memory", "RSS idle", "MiB", self.each(lambda k, t: Side([t.rss()])))

    def measure_starts(self, candidates: list[Target]) -> None:
        """5c: start and stop each daemon ``--repeat`` times, keeping its state between starts.

        The daemons take turns (pyvirtd, libvirtd, pyvirtd, ...), so a slow
        spell of this machine falls on both.  The first start of each is a
        warm-up (pyvirtd writes its new root, libvirtd may refresh its QEMU
        capabilities cache) and is not counted.  Two times per start: until
        the socket accepts a connection, and until the first call (open, list
        all domains) is answered; a daemon may listen before it serves.  Then
        the same with ``min(--max-domains, 1000)`` stored definitions, which
        each daemon reads and checks before it serves.
        """
        n = self.args.repeat
        where = {t.key: self.workdir / f"starts-{t.key}" for t in candidates}
        for d in where.values():
            d.mkdir()
        note = "after a warm-up start; state kept between starts; the daemons take turns"
        accepts, answered = self._starts(candidates, where, n)
        self.add("daemon", "daemon start → socket accepts", "ms", accepts, note=note)
        self.add("daemon", "daemon start → first call answered (open, list)", "ms", answered, note=note)
        count = min(self.args.max_domains, 1000)
        if not count:
            return
        failed: dict[str, Side] = {}
        for proto in candidates:
            t = type(proto)(where[proto.key])
            try:
                try:
                    t.start()
                    w = t.worker(SYSTEM_PYTHON, "libvirt")
                    try:
                        names = [f"{PREFIX}-start{i:05d}" for i in range(count)]
                        w.call("define_many", template=self.template, names=names)
                    finally:
                        w.close()
                finally:
                    if t.namespace:
                        self.namespaces.append(t.namespace)
                    t.stop()  # the definitions stay in the private directories, removed with the workdir
            except HarnessError as err:
                failed[proto.key] = error(str(err))
        _, answered = self._starts(candidates, where, n)
        answered.update(failed)
        self.add(
            "daemon",
            f"daemon start with {count} defined domains → first call answered",
            "ms",
            answered,
            note=note,
        )
        # pyvirtd keeps the definitions it parsed in a cache for its next start; without it, it
        # parses and checks every file, as libvirtd always does.
        _, answered = self._starts(candidates, where, n, drop_caches=True)
        answered.update(failed)
        self.add(
            "daemon",
            f"daemon start with {count} defined domains, no definition cache → first call answered",
            "ms",
            answered,
            note=note,
        )

    def _starts(
        self, candidates: list[Target], where: dict[str, Path], n: int, drop_caches: bool = False
    ) -> tuple[dict[str, Side], dict[str, Side]]:
        """``n`` + 1 starts of each daemon in turn (the first not counted): (accepts, answered) in ms.

        ``drop_caches``: remove pyvirtd's definition cache before each of its starts.
        """
        accepts = {t.key: Side() for t in candidates}
        answered = {t.key: Side() for t in candidates}
        self.log(f"starting and stopping {', '.join(t.label for t in candidates)} {n + 1} times in turn")
        for i in range(n + 1):
            for proto in candidates:
                if accepts[proto.key].status != OK:
                    continue
                t = type(proto)(where[proto.key])
                if drop_caches and isinstance(t, PyvirtTarget):
                    t.definition_cache.unlink(missing_ok=True)
                try:
                    try:
                        t.start()
                    finally:
                        if t.namespace:
                            self.namespaces.append(t.namespace)
                        t.stop()
                except HarnessError as err:
                    accepts[proto.key] = answered[proto.key] = error(str(err))
                    continue
                if i and t.ready_seconds is not None and t.answered_seconds is not None:
                    accepts[proto.key].samples.append(t.ready_seconds * 1000)
                    answered[proto.key].samples.append(t.answered_seconds * 1000)
        return accepts, answered

    def phase_network(self) -> None:
        """3: start/destroy of our NAT+DHCP network, timed inside one libvirt-python process."""
        starts: dict[str, Side] = {}
        stops: dict[str, Side] = {}
        for key in self.targets:
            w = self.lvpy[key]
            try:
                w.call("net_start", name=NET_NAME)  # warm-up cycle
                w.call("net_destroy", name=NET_NAME)
                s, d = Side(), Side()
                for _ in range(self.args.repeat):
                    s.samples.append(w.call("net_start", name=NET_NAME)["t"] * 1000)
                    d.samples.append(w.call("net_destroy", name=NET_NAME)["t"] * 1000)
                starts[key], stops[key] = s, d
            except HarnessError as err:
                starts[key] = stops[key] = error(str(err))
        clients = ("libvirt-python", "libvirt-python")
        self.add("network", "net-start (NAT, DHCP, bridge pvbench0)", "ms", starts, clients)
        self.add("network", "net-destroy", "ms", stops, clients)

    def phase_guests(self) -> None:
        """4: one guest start/lease/destroy, then N guests at once; RSS while they run."""
        n_conc = self.args.concurrent
        names = [
            "start: create() returns",
            "start → DHCP lease seen (poll DHCPLeases every 50 ms)",
            "destroy",
            f"{n_conc} guests at once: all create() returned",
            f"{n_conc} guests at once: all leases seen",
            f"{n_conc} guests: destroy all (one after another)",
        ]
        if self.guest_missing:
            for n in names:
                self.add("guest", n, "ms", {k: missing(self.guest_missing) for k in self.targets})
            self.add(
                "memory",
                f"RSS with {n_conc} running guests",
                "MiB",
                {k: missing(self.guest_missing) for k in self.targets},
            )
            return
        results: dict[str, list[Side]] = {}
        rss: dict[str, Side] = {}
        for key, target in self.targets.items():
            w = self.lvpy[key]
            sides = [Side() for _ in names]
            try:
                w.call("net_start", name=NET_NAME)
                one = f"{GUEST_PREFIX}00"
                for _ in range(self.args.guest_repeat):
                    r = w.call(
                        "guests_start",
                        template=self.guest_template,
                        guests=[[one, random_mac()]],
                        net=NET_NAME,
                        timeout=self.args.lease_timeout,
                    )["guests"][0]
                    d = w.call("guests_destroy", names=[one])["times"]
                    sides[0].samples.append(r["start"] * 1000)
                    sides[1].samples.append(r["lease"] * 1000)
                    sides[2].samples.extend(x * 1000 for x in d)
                rss[key] = Side()
                group = [f"{GUEST_PREFIX}{i:02d}" for i in range(n_conc)]
                for _ in range(self.args.guest_repeat):
                    rs = w.call(
                        "guests_start",
                        template=self.guest_template,
                        guests=[[g, random_mac()] for g in group],
                        net=NET_NAME,
                        timeout=self.args.lease_timeout,
                    )["guests"]
                    rss[key].samples.append(target.rss())
                    d = w.call("guests_destroy", names=group)["times"]
                    sides[3].samples.append(max(x["start"] for x in rs) * 1000)
                    sides[4].samples.append(max(x["lease"] for x in rs) * 1000)
                    sides[5].samples.append(sum(d) * 1000)
                w.call("undefine_prefix", prefix=GUEST_PREFIX)
                w.call("net_destroy", name=NET_NAME)
            except HarnessError as err:
                sides = [s if s.samples else error(str(err)) for s in sides]
                if not rss.get(key, Side()).samples:
                    rss[key] = error(str(err))
                with contextlib.suppress(HarnessError):
                    w.call("undefine_prefix", prefix=GUEST_PREFIX)
            results[key] = sides
        for i, n in enumerate(names):
            self.add(
                "guest", n, "ms", {k: v[i] for k, v in results.items()}, ("libvirt-python", "libvirt-python")
            )
        self.add("memory", f"RSS with {n_conc} running guests", "MiB", rss)

    def phase_api(self) -> None:
        """2: define N, list all, lookup+info each, undefine all, in one client process."""
        n = self.args.api_count
        phases = [
            ("define", f"define {n}"),
            ("list", "listAllDomains"),
            ("lookup_info", f"lookupByName+info x{n}"),
            ("undefine", f"undefine {n}"),
        ]
        runs = [(key, target, SYSTEM_PYTHON, "libvirt") for key, target in self.targets.items()]
        if "pyvirt" in self.targets:
            runs.append(("pyvirt", self.targets["pyvirt"], sys.executable, "pyvirt"))
        self.measure_file_rewrites()
        results = self._api_rounds(runs, n, [ph for ph, _ in phases])
        lvpy = {key: results[(key, "libvirt")] for key in self.targets}
        own = {"pyvirt": results[("pyvirt", "pyvirt")]} if "pyvirt" in self.targets else {}
        for i, (_, pname) in enumerate(phases):
            self.add(
                "api",
                f"{pname} [libvirt-python]",
                "ms",
                {k: v[i] for k, v in lvpy.items()},
                ("libvirt-python", "libvirt-python"),
            )
        for i, (_, pname) in enumerate(phases):
            sides = {k: v[i] for k, v in own.items()}
            if "libvirt" in lvpy:
                sides["libvirt"] = lvpy["libvirt"][i]  # the reference stays libvirt-python on libvirtd
            self.add("api", f"{pname} [pyvirt API]", "ms", sides, ("pyvirt API", "libvirt-python"))

    def measure_file_rewrites(self) -> None:
        """2b: the file system's share of a define, in each daemon's definitions directory."""
        n = self.args.api_count // 10 or 1
        self.add(
            "api",
            "file rewrite in the definitions directory (no daemon)",
            "ms",
            self.each(lambda k, t: Side([x * 1000 for x in file_rewrite_seconds(t.config_dir, n)])),
            note="create .new, write 1.5 KiB, fsync, rename, as both daemons store a definition; "
            "harness only",
        )

    def _api_rounds(
        self, runs: list[tuple[str, Target, str, str]], n: int, keys: list[str]
    ) -> dict[tuple[str, str], list[Side]]:
        """``--repeat`` rounds of the API throughput op for each (target, client API) in ``runs``.

        Each run has one client process for all its rounds; the rounds are
        interleaved (round 1 of every run, then round 2, ...) so that slow
        phases of the machine (disk flushes, other load) fall on every side.
        """
        sides = {(key, api): [Side() for _ in keys] for key, _, _, api in runs}
        workers: dict[tuple[str, str], WorkerClient] = {}
        for key, target, python, api in runs:
            try:
                workers[(key, api)] = target.worker(python, api)
            except HarnessError as err:
                sides[(key, api)] = [error(str(err)) for _ in keys]
        try:
            for r in range(self.args.repeat):
                for run, w in list(workers.items()):
                    try:
                        # a fresh name prefix per round: a failed undefine must not turn defines into updates
                        out = w.call(
                            "api_throughput", template=self.template, prefix=f"{API_PREFIX}{r}-", count=n
                        )
                    except HarnessError as err:
                        sides[run] = [s if s.samples else error(str(err)) for s in sides[run]]
                        del workers[run]
                        continue
                    for i, ph in enumerate(keys):
                        if ph in out and sides[run][i].status == "ok":
                            sides[run][i].samples.append(out[ph] * 1000)
                        elif f"{ph}_error" in out:
                            sides[run][i] = error(out[f"{ph}_error"])
            for w in workers.values():
                with contextlib.suppress(HarnessError):
                    w.call("undefine_prefix", prefix=API_PREFIX)
        finally:
            for w in workers.values():
                w.close()
        return sides

    def _count(self, key: str) -> int:
        return int(self.lvpy[key].call("count_domains")["count"])

    def phase_sweep(self) -> None:
        """1 and 6: grow the number of defined domains; CLI rows, list time, RSS and define cost per level."""
        levels = [n for n in (0, 10, 100, 1000, 10000) if n <= self.args.max_domains]
        cli_levels = {0, 100, 1000}
        next_index = dict.fromkeys(self.targets, 0)
        r = self.args.repeat
        for level in levels:
            defines: dict[str, Side] = {}
            actual: dict[str, int] = {}
            for key in self.targets:
                try:
                    have = self._count(key)
                    need = max(0, level - have)
                    names = [f"{DOMAIN_PREFIX}{next_index[key] + i:05d}" for i in range(need)]
                    next_index[key] += need
                    if names:
                        t = self.lvpy[key].call("define_many", template=self.template, names=names)["times"]
                        defines[key] = Side([x * 1000 for x in t])
                    actual[key] = self._count(key)
                except HarnessError as err:
                    defines[key] = error(str(err))
            self.log(f"level {level}: defined {actual}")
            odd = {k: v for k, v in actual.items() if v != level}
            note = ("actually defined: " + ", ".join(f"{k} {v}" for k, v in odd.items())) if odd else ""
            if level:
                self.add(
                    "scale",
                    f"define, per call (→ {level} domains)",
                    "ms",
                    defines,
                    ("libvirt-python",) * 2,
                    note,
                )
            self.add(
                "scale",
                f"virsh list --all, {level} domains",
                "ms",
                self.each(lambda k, t: self.time_cmd(self.virsh(t, "list", "--all"), r)),
                ("virsh", "virsh"),
                note,
            )
            rss = self.add(
                "scale",
                f"RSS, {level} defined domains",
                "MiB",
                self.each(lambda k, t: Side([t.rss()])),
                note=note,
            )
            if level == 1000:
                self.add(
                    "memory",
                    "RSS with 1000 defined domains",
                    "MiB",
                    {"pyvirt": rss.pyvirt, "libvirt": rss.libvirt},
                    note=note,
                )
            if level in cli_levels:
                self.cli_rows(level, note)
        undefs = self.each(
            lambda k, t: Side(
                [x * 1000 for x in self.lvpy[k].call("undefine_prefix", prefix=DOMAIN_PREFIX)["times"]]
            )
        )
        for key in list(undefs):
            if undefs[key].status == "ok":
                left = self.lvpy[key].call("undefine_prefix", prefix=DOMAIN_PREFIX)
                if left["n_errors"]:
                    undefs[key] = error(f"{left['n_errors']} undefines failed, e.g. {left['errors'][0]}")
        self.add(
            "scale", f"undefine, per call (from {levels[-1]} domains)", "ms", undefs, ("libvirt-python",) * 2
        )

    def cli_rows(self, level: int, note: str) -> None:
        """1: list --all, dominfo, net-list --all, dumpxml via virsh and pyvirsh at this level."""
        r = self.args.repeat
        first = f"{DOMAIN_PREFIX}00000"
        commands: list[tuple[str, list[str]]] = [
            ("list --all", ["list", "--all"]),
            ("net-list --all", ["net-list", "--all"]),
        ]
        if level:
            commands += [("dominfo", ["dominfo", first]), ("dumpxml", ["dumpxml", first])]
        for label, args in commands:

            def via_virsh(_key: str, target: Target, a: list[str] = args) -> Side:
                return self.time_cmd(self.virsh(target, *a), r)

            self.add(
                "cli",
                f"virsh {label}, {level} domains",
                "ms",
                self.each(via_virsh),
                ("virsh", "virsh"),
                note,
            )
            lv = self.rows[-1].libvirt
            if self.pyvirsh_missing:
                py = missing(self.pyvirsh_missing)
            elif "pyvirt" in self.targets:
                py = self.time_cmd(self.pyvirsh(self.targets["pyvirt"], *args), r)
            else:
                py = skipped(self.skip_reason.get("pyvirt", ""))
            self.add(
                "cli",
                f"pyvirsh {label}, {level} domains",
                "ms",
                {"pyvirt": py, "libvirt": lv},
                ("pyvirsh", "virsh"),
                note,
            )

    # -- the whole run ---------------------------------------------------------

    def cleanup(self) -> None:
        """Undefine our objects in libvirtd, stop every daemon and worker we started."""
        for w in self.lvpy.values():
            w.close()
        for key, t in list(self.targets.items()):
            try:
                t.cleanup_objects()
            except (HarnessError, OSError) as err:
                self.log(f"cleanup of {key}: {err}")
            t.stop()
        self.targets.clear()

    def meta(self) -> dict[str, Any]:
        """Date, machine and versions, for the JSON file."""

        def out(argv: list[str]) -> str:
            try:
                return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                return ""

        cpu = ""
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        return {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "host": platform.node(),
            "kernel": platform.release(),
            "cpu": cpu,
            "cpus": os.cpu_count(),
            "mem_gib": round(int(mem) / 1024 / 1024, 1),
            "python": platform.python_version(),
            "libvirt": out(["libvirtd", "--version"]) if shutil.which("libvirtd") else "",
            "virsh": out([VIRSH, "--version"]) if VIRSH else "",
            "pyvirt_commit": out(["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
            "args": {k: sorted(v) if isinstance(v, set) else v for k, v in vars(self.args).items()},
            "skipped": self.skip_reason,
            "namespaces": self.namespaces,
        }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--repeat", type=int, default=5, help="samples per measurement (median reported); default 5"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="small and fast: --repeat 2, --max-domains 100, --api-count 100, 2 guests, 1 guest round",
    )
    p.add_argument(
        "--max-domains", type=int, default=1000, help="largest defined-domain level (10000 allowed)"
    )
    p.add_argument("--api-count", type=int, default=1000, help="domains in the API throughput row")
    p.add_argument("--concurrent", type=int, default=10, help="guests started at once")
    p.add_argument(
        "--guest-repeat", type=int, default=None, help="rounds of the guest rows (default: --repeat)"
    )
    p.add_argument(
        "--guest-memory", type=int, default=128, help="MiB per guest (128 is enough for the test guest)"
    )
    p.add_argument(
        "--lease-timeout", type=float, default=180, help="seconds to wait for a guest's DHCP lease"
    )
    p.add_argument("--targets", default="pyvirt,libvirt", help="comma-separated: pyvirt, libvirt")
    p.add_argument(
        "--skip", default="", help="comma-separated phases to leave out: network, guests, api, sweep"
    )
    p.add_argument(
        "--profile", type=Path, default=None, help="run pyvirtd under cProfile, write its stats to this file"
    )
    p.add_argument("--out", type=Path, default=REPO / "build/bench/results.json", help="JSON results file")
    args = p.parse_args(argv)
    if args.quick:
        args.repeat = min(args.repeat, 2)
        args.max_domains = min(args.max_domains, 100)
        args.api_count = min(args.api_count, 100)
        args.concurrent = min(args.concurrent, 2)
        args.guest_repeat = 1
    if args.profile:
        args.profile = args.profile.resolve()
    if args.guest_repeat is None:
        args.guest_repeat = args.repeat
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.repeat < 1 or args.max_domains < 0 or args.api_count < 1 or args.concurrent < 1:
        p.error("counts must be positive")
    return args


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP raise KeyboardInterrupt, so the cleanup in ``finally`` always runs."""

    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table and write the JSON file.  Exit 0 when rows were produced."""
    args = parse_args(argv)
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("bench: needs root and iproute2 (daemons run in network namespaces)", file=sys.stderr)
        return 2
    workdir = make_workdir()
    bench = Bench(args, workdir)
    interrupted = False
    try:
        with _terminate_as_interrupt():
            bench.check_clients()
            bench.phase_startup()
            bench.start_daemons()
            for name, phase in (
                ("network", bench.phase_network),
                ("guests", bench.phase_guests),
                ("api", bench.phase_api),
                ("sweep", bench.phase_sweep),
            ):
                if name not in args.skip:
                    bench.log(f"phase {name}")
                    phase()
    except KeyboardInterrupt:
        interrupted = True
        bench.log("interrupted; cleaning up")
    except HarnessError as err:
        bench.log(f"error: {err}")
    finally:
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the cleanup
        try:
            bench.cleanup()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            signal.signal(signal.SIGINT, old_int)
    meta = bench.meta()
    meta["interrupted"] = interrupted
    write_json(args.out, bench.rows, meta)
    print(
        f"pyvirt vs libvirt — {meta['date']}, {meta['cpu']} x{meta['cpus']}, {meta['mem_gib']} GiB, "
        f"kernel {meta['kernel']}, libvirt {meta['virsh']}, pyvirt {meta['pyvirt_commit']}"
    )
    print("median (min-max) of each; ratio = pyvirt/libvirt median, lower is better for pyvirt")
    for key, why in bench.skip_reason.items():
        print(f"{key} skipped: {why}")
    print()
    print(format_table(bench.rows))
    print(f"\nJSON: {args.out}")
    if interrupted:
        return 130
    return 0 if bench.rows else 1


if __name__ == "__main__":
    sys.exit(main())
