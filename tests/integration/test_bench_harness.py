"""The benchmark harness (``bench/``) runs end to end in ``--quick`` mode against pyvirtd.

Only that it produced rows and a JSON file is checked — never timings.  The
harness creates its own namespace and private root and removes them; this test
also checks it left no namespace behind.  libvirtd is not involved (``--targets
pyvirt``): the test must not touch the host's libvirt state nor install anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, requires_netns

pytestmark = [pytest.mark.netns, requires_netns]


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.mark.timeout(180)
def test_quick_run_produces_rows_and_json(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    argv = [sys.executable, "-m", "bench.run", "--quick", "--targets", "pyvirt", "--concurrent", "1"]
    p = subprocess.run(
        [*argv, "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ratio" in p.stdout  # the table was printed

    data = json.loads(out.read_text())
    rows = data["rows"]
    assert rows
    assert {"cli", "api", "network", "memory", "startup", "daemon", "scale"} <= {r["group"] for r in rows}
    starts = [r for r in rows if r["group"] == "daemon"]
    assert len(starts) == 4 and all(r["pyvirt"]["n"] == 2 for r in starts)  # --quick: 2 starts each
    measured = [r for r in rows if r["pyvirt"]["status"] == "ok"]
    assert measured, "no row has a pyvirt measurement"
    for r in measured:
        assert r["pyvirt"]["n"] >= 1 and r["pyvirt"]["median"] is not None
    assert all(r["libvirt"]["status"] == "skipped" for r in rows if r["group"] != "startup")
    assert data["meta"]["args"]["quick"] is True

    used = set(data["meta"]["namespaces"])
    assert used, "the run created no namespace"
    assert not used & _netns(), f"namespaces left behind: {used & _netns()}"
