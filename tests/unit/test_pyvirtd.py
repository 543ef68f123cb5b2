"""pyvirtd's program: the cyclic collector is off for start-up and back on once the daemon serves."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pyvirt import pyvirtd

SRC = Path(__file__).resolve().parents[2] / "src"


def test_main_leaves_the_collector_as_it_found_it() -> None:
    assert gc.isenabled()
    with pytest.raises(SystemExit):
        pyvirtd.main(["--no-such-option"])
    assert gc.isenabled()
    gc.disable()
    try:
        with pytest.raises(SystemExit):
            pyvirtd.main(["--no-such-option"])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_daemon_started_with_the_collector_off_freezes_start_up_and_enables_it(tmp_path: Path) -> None:
    code = f"""
        import gc
        gc.disable()
        import asyncio
        from pathlib import Path
        from pyvirt.daemon.server import Daemon
        from pyvirt.layout import Layout
        from pyvirt.qemu.driver import DomainDriver

        seen = []
        # called once the daemon serves
        DomainDriver.probe_caps_in_background = lambda self: seen.append(
            (gc.isenabled(), gc.get_freeze_count() > 1000))

        async def main():
            daemon = Daemon(Layout(Path({str(tmp_path)!r})), autostart=False, qemu_user="root",
                            define_default_network=False)
            task = asyncio.create_task(daemon.run())
            while not seen and not task.done():
                await asyncio.sleep(0.01)
            daemon.request_stop()
            await task
            print(seen)

        asyncio.run(main())
        """
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[(True, True)]"
