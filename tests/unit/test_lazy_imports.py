"""pyvirtd starts without its heavy libraries: importlib.metadata is imported on first real
use (a domain that needs it); pyroute2 (~17 MiB, ~0.3 s), qemu.qmp and ssl (~4.5 MiB) never:
netlink and QMP go through our own clients, pyvirt.network.netlink and pyvirt.qemu.monitor.

Each check runs in a fresh interpreter, since other tests import these libraries.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
LAZY = ("pyroute2", "qemu.qmp", "ssl", "importlib.metadata")
# pyvirt's own modules that only running guests, networks and consoles need (pyvirt.lazyimport)
RUNTIME_ONLY = (
    "pyvirt.daemon.streams",
    "pyvirt.network.bridge",
    "pyvirt.network.firewall",
    "pyvirt.network.runtime",
    "pyvirt.qemu.command",
    "pyvirt.qemu.monitor",
    "pyvirt.qemu.process",
    "pyvirt.qemu.runtime",
)

# what reading a definition needs: not an idle daemon with nothing defined
XML_ONLY = ("pyvirt.conf.domain", "pyvirt.conf.network")


def run_python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_daemon_modules_do_not_import_heavy_libraries() -> None:
    out = run_python(
        f"""
        import sys
        import pyvirt.pyvirtd, pyvirt.daemon.server, pyvirt.daemon.dispatch
        import pyvirt.network.bridge, pyvirt.qemu.driver, pyvirt.qemu.monitor, pyvirt.qemu.process
        print(",".join(m for m in {LAZY!r} if m in sys.modules))
        """
    )
    assert out == ""


def test_daemon_imports_leave_out_what_only_later_work_needs() -> None:
    # json: the QEMU probe, which runs after the daemon listens, and the live
    # files of running domains; shutil (with bz2 and lzma): the network runtime
    out = run_python(
        """
        import sys
        import pyvirt.pyvirtd, pyvirt.daemon.server
        print(",".join(m for m in ("json", "shutil", "bz2", "lzma") if m in sys.modules))
        """
    )
    assert out == ""


def test_pyvirtd_listens_before_it_loads_the_daemon(tmp_path: Path) -> None:
    # libvirtd's order: the sockets first, so that clients started with the daemon
    # wait in the queue; asyncio, lxml and the drivers load afterwards.
    out = run_python(
        f"""
        import sys
        import pyvirt.pyvirtd as pyvirtd

        real = pyvirtd.open_listeners

        def spy(rw, ro):
            listeners = real(rw, ro)
            loaded = ("asyncio", "lxml", "pyvirt.daemon", "pyvirt.conf", "pyvirt.store")
            loaded += ("dataclasses", "shutil", "json")
            print(",".join(m for m in loaded if m in sys.modules) or "none")
            pyvirtd.close_listeners(listeners)
            raise SystemExit(0)

        pyvirtd.open_listeners = spy
        pyvirtd.main(["--root", {str(tmp_path)!r}, "--no-default-network"])
        """
    )
    assert out == "none"
    assert sorted(p.name for p in (tmp_path / "run/pyvirt").iterdir()) == []


def daemon_script(root: Path, daemon_args: str, report: str, before: str = "") -> str:
    """A script that runs ``before``, starts a Daemon on ``root`` and runs ``report`` once it
    listens (``layout`` and ``daemon`` are in scope), then stops it."""
    return f"""
from pyvirt.daemon.server import Daemon  # first, as pyvirtd does: asyncio loads without ssl
import asyncio, sys
from pathlib import Path
from pyvirt.layout import Layout

layout = Layout(Path({str(root)!r}))
{textwrap.dedent(before)}

async def main():
    daemon = Daemon(layout, {daemon_args})
    task = asyncio.create_task(daemon.run())
    for _ in range(1000):
        if layout.socket_rw.exists() or task.done():
            break
        await asyncio.sleep(0.01)
    assert layout.socket_rw.exists(), "daemon did not listen"
{textwrap.indent(textwrap.dedent(report), "    ")}
    daemon.request_stop()
    await task

asyncio.run(main())
"""


def test_idle_daemon_start_does_not_import_heavy_libraries(tmp_path: Path) -> None:
    # The real start-up path on an empty root: load state, listen, then look.
    report = f"print(','.join(m for m in {LAZY + RUNTIME_ONLY + XML_ONLY!r} if m in sys.modules))"
    args = 'define_default_network=False, autostart=False, qemu_user="root"'
    assert run_python(daemon_script(tmp_path, args, report)) == ""


def test_restarted_daemon_with_unchanged_definitions_serves_without_xml_or_dataclasses(
    tmp_path: Path,
) -> None:
    # Two domains stored as pyvirtd writes them, and the default network: the first start parses
    # them and fills the definition cache; the second takes them from it.  It serves without
    # lxml.etree and without the dataclasses module: what is loaded when the daemon starts
    # serving (and starts probing QEMU in a thread) is recorded.
    before = """
        from pyvirt.qemu.driver import DomainDriver

        if not layout.domains.config_dir.exists():
            from pyvirt.conf.domain import parse_domain
            layout.domains.config_dir.mkdir(parents=True)
            for name in ("vm1", "vm2"):
                text = parse_domain(f"<domain type='qemu'><name>{name}</name><memory>65536</memory>"
                                    "<os><type>hvm</type></os></domain>").format()
                (layout.domains.config_dir / f"{name}.xml").write_text(text)
            for module in ("lxml.etree", "dataclasses"):
                del sys.modules[module]

        loaded = []
        def serving(driver):
            loaded.extend(m for m in ("lxml.etree", "dataclasses") if m in sys.modules)
        DomainDriver.probe_caps_in_background = serving
        """
    report = """
        names = sorted(o.name for o in daemon.domains.list_all(0))
        names += sorted(o.name for o in daemon.networks.list_all(0))
        print(" ".join(names), ",".join(loaded) or "none")
        """
    code = daemon_script(tmp_path, 'autostart=False, qemu_user="root"', report, before)
    assert run_python(code) == "vm1 vm2 default lxml.etree,dataclasses"
    assert run_python(code) == "vm1 vm2 default none"


def test_pyroute2_is_never_imported() -> None:
    # With pyroute2 made unimportable: every daemon-side module imports, and the netlink
    # paths run (read-only queries of lo, which need no privilege and change nothing).
    out = run_python(
        """
        import asyncio, importlib, pkgutil, sys

        class NoPyroute2:
            def find_spec(self, name, path=None, target=None):
                if name == "pyroute2" or name.startswith("pyroute2."):
                    raise ImportError("pyroute2 imported")
                return None

        sys.meta_path.insert(0, NoPyroute2())
        import pyvirt
        for mod in pkgutil.walk_packages(pyvirt.__path__, "pyvirt."):
            if mod.name.split(".")[1] in ("daemon", "network", "qemu"):
                importlib.import_module(mod.name)
        from pyvirt.network import bridge, netlink

        async def main():
            assert await bridge.link_exists("lo")
            assert not await bridge.link_exists("pyvirt-none0")
            await bridge.set_noqueue("pyvirt-none0")  # no such interface: nothing to do
            async with netlink.Netlink() as nl:
                assert await nl.link_mtu(netlink.link_index("lo")) > 0

        asyncio.run(main())
        print(sorted(m for m in sys.modules if m.split(".")[0] == "pyroute2"))
        """
    )
    assert out == "[]"


@pytest.mark.parametrize("library", ["pyroute2", "qemu"])
def test_no_source_module_imports_replaced_library(library: str) -> None:
    """pyroute2 and qemu.qmp were replaced by pyvirt.network.netlink and pyvirt.qemu.monitor."""
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        for line in path.read_text().splitlines()
        if line.lstrip().startswith((f"import {library}", f"from {library}"))
    ]
    assert offenders == []


def test_monitor_loads_neither_qemu_qmp_nor_ssl(tmp_path: Path) -> None:
    # What starting a guest does with the monitor (connect, commands, an event, getfd,
    # close), against a fake QMP server, in a process that imported the daemon first.
    code = """
        import pyvirt.pyvirtd, pyvirt.daemon, pyvirt.qemu.driver
        import asyncio, json, os, sys
        from pyvirt.qemu.monitor import QemuMonitor

        GREETING = {"QMP": {"version": {}, "capabilities": []}}
        EVENT = {"event": "RESUME", "data": {}, "timestamp": {"seconds": 1, "microseconds": 0}}

        async def serve(reader, writer):
            writer.write(json.dumps(GREETING).encode() + b"\\r\\n")
            while line := await reader.readline():
                writer.write(json.dumps(EVENT).encode() + b"\\r\\n")
                answer = {"return": {}, "id": json.loads(line).get("id")}
                writer.write(json.dumps(answer).encode() + b"\\r\\n")

        async def main():
            server = await asyncio.start_unix_server(serve, SOCK_PATH)
            seen = []
            mon = QemuMonitor(SOCK_PATH, on_event=lambda *a: seen.append(a[0]))
            await mon.connect(timeout=5)
            await mon.cont()
            r, w = os.pipe()
            await mon.getfd(w, "fd0")
            await mon.close()
            server.close()
            assert seen[:1] == ["RESUME"], seen

        asyncio.run(main())
        print(",".join(m for m in ("qemu.qmp", "ssl") if m in sys.modules))
        """
    assert run_python(code.replace("SOCK_PATH", repr(str(tmp_path / "q.sock")))) == ""


def test_pyvirt_version_is_looked_up_on_demand() -> None:
    out = run_python(
        """
        import sys
        from pyvirt.qemu import process
        assert "importlib.metadata" not in sys.modules
        version = process.pyvirt_version()
        assert version and version[0].isdigit(), version
        print("ok")
        """
    )
    assert out == "ok"
