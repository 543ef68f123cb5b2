"""network/runtime: the parts that need no namespace (the rest is in tests/integration)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pyvirt.network import dnsmasq, runtime
from pyvirt.network.paths import NetworkPaths


def test_dnsmasq_daemon_is_stopped_before_its_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A bug: the pids went through a set, so daemon 15 and its helper 16 were stopped
    # helper first (16 % 8 < 15 % 8); the helper ignores SIGTERM, so the stop took 5 s.
    stopped: list[int] = []

    async def fake_stop(pid: int, conf: object) -> bool:
        stopped.append(pid)
        return True

    monkeypatch.setattr(dnsmasq, "stop", fake_stop)
    monkeypatch.setattr(dnsmasq, "find_pids", lambda conf: [15, 16])
    rt = runtime.NetworkRuntime(name="default", bridge="virbr0", forward_mode="nat", dnsmasq_pid=15)
    asyncio.run(runtime._stop_dnsmasq(rt, NetworkPaths(tmp_path)))
    assert stopped == [15, 16]
    assert rt.dnsmasq_pid is None
