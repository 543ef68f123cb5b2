"""The --dhcp-script helper: libvirt's status JSON, as dnsmasq drives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyvirt.network import leaseshelper

NOW = 1795830000
REFERENCE = Path("/work/shared/reference/libvirt-9.0-outputs/054-virbr0.status.txt")


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"PYVIRT_STATUS_DIR": str(tmp_path), "VIR_BRIDGE_NAME": "virbr0", "DNSMASQ_INTERFACE": "virbr0"}
    env.update(extra)
    return env


def run(tmp_path: Path, *args: str, now: int = NOW, **extra: str) -> int:
    return leaseshelper.run(["pyvirt-leaseshelper", *args], env_for(tmp_path, **extra), now=now)


def test_add_writes_libvirt_format(tmp_path: Path) -> None:
    rc = run(tmp_path, "add", "52:54:00:63:0a:d8", "192.168.122.159", "guest1",
             DNSMASQ_LEASE_EXPIRES="1795832151", DNSMASQ_CLIENT_ID="01:52:54:00:63:0a:d8")  # fmt: skip
    assert rc == 0
    text = (tmp_path / "virbr0.status").read_text()
    expected = (
        '[\n  {\n    "ip-address": "192.168.122.159",\n    "mac-address": "52:54:00:63:0a:d8",\n'
        '    "hostname": "guest1",\n    "client-id": "01:52:54:00:63:0a:d8",\n'
        '    "expiry-time": 1795832151\n  }\n]\n'
    )
    assert text == expected
    if REFERENCE.exists():
        assert text == REFERENCE.read_text()
    assert (tmp_path / "virbr0.status").stat().st_mode & 0o777 == 0o644


def test_old_replaces_same_ip_and_del_removes(tmp_path: Path) -> None:
    exp = {"DNSMASQ_LEASE_EXPIRES": str(NOW + 100)}
    assert run(tmp_path, "add", "52:54:00:00:00:01", "10.0.0.5", "a", **exp) == 0
    assert run(tmp_path, "add", "52:54:00:00:00:02", "10.0.0.6", **exp) == 0
    assert run(tmp_path, "old", "52:54:00:00:00:01", "10.0.0.5", DNSMASQ_LEASE_EXPIRES=str(NOW + 200)) == 0
    data = json.loads((tmp_path / "virbr0.status").read_text())
    assert [(x["ip-address"], x["expiry-time"], x.get("hostname")) for x in data] == [
        ("10.0.0.6", NOW + 100, None),
        ("10.0.0.5", NOW + 200, None),
    ]
    assert run(tmp_path, "del", "52:54:00:00:00:02", "10.0.0.6") == 0
    data = json.loads((tmp_path / "virbr0.status").read_text())
    assert [x["ip-address"] for x in data] == ["10.0.0.5"]


def test_expired_entries_are_dropped(tmp_path: Path) -> None:
    run(tmp_path, "add", "52:54:00:00:00:01", "10.0.0.5", DNSMASQ_LEASE_EXPIRES=str(NOW + 10))
    run(tmp_path, "add", "52:54:00:00:00:02", "10.0.0.6", DNSMASQ_LEASE_EXPIRES="0")
    run(tmp_path, "add", "52:54:00:00:00:03", "10.0.0.7", now=NOW + 20, DNSMASQ_LEASE_EXPIRES=str(NOW + 500))
    data = json.loads((tmp_path / "virbr0.status").read_text())
    assert [x["ip-address"] for x in data] == ["10.0.0.6", "10.0.0.7"]
    assert data[0]["expiry-time"] == 0


def test_old_hostname_fallback_and_ipv6(tmp_path: Path) -> None:
    run(tmp_path, "add", "52:54:00:00:00:01", "10.0.0.5", DNSMASQ_LEASE_EXPIRES=str(NOW + 10),
        DNSMASQ_OLD_HOSTNAME="prev")  # fmt: skip
    run(tmp_path, "add", "00:01:00:01:aa", "fd00::5", "h6", DNSMASQ_LEASE_EXPIRES=str(NOW + 10),
        DNSMASQ_IAID="77", DNSMASQ_MAC="52:54:00:00:00:09", DNSMASQ_SERVER_DUID="00:01:00:01:bb")  # fmt: skip
    data = json.loads((tmp_path / "virbr0.status").read_text())
    assert data[0]["hostname"] == "prev"
    assert list(data[1]) == ["iaid", "ip-address", "mac-address", "hostname", "client-id", "server-duid",
                             "expiry-time"]  # fmt: skip
    assert data[1]["mac-address"] == "52:54:00:00:00:09" and data[1]["client-id"] == "00:01:00:01:aa"


def test_init_prints_dnsmasq_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "init") == 0
    assert (tmp_path / "virbr0.status").read_text() == ""
    capsys.readouterr()
    run(tmp_path, "add", "52:54:00:00:00:01", "10.0.0.5", "a", DNSMASQ_LEASE_EXPIRES=str(NOW + 10),
        DNSMASQ_CLIENT_ID="01:aa")  # fmt: skip
    run(tmp_path, "add", "00:01:00:01:aa", "fd00::5", DNSMASQ_LEASE_EXPIRES=str(NOW + 10),
        DNSMASQ_IAID="77", DNSMASQ_MAC="52:54:00:00:00:09", DNSMASQ_SERVER_DUID="00:01:00:01:bb")  # fmt: skip
    assert run(tmp_path, "init") == 0
    assert capsys.readouterr().out == (
        f"{NOW + 10} 52:54:00:00:00:01 10.0.0.5 a 01:aa\n"
        "duid 00:01:00:01:bb\n"
        f"{NOW + 10} 77 fd00::5 * 00:01:00:01:aa\n"
    )


def test_bad_invocations(tmp_path: Path) -> None:
    assert run(tmp_path, "add") == 1
    assert run(tmp_path, "arp-add", "52:54:00:00:00:01", "10.0.0.5") == 0  # unknown actions are ignored
    assert leaseshelper.run(["h", "add", "m", "1.2.3.4"], {"PYVIRT_STATUS_DIR": str(tmp_path)}) == 1
    assert run(tmp_path, "add", "52:54:00:00:00:01", "10.0.0.5") == 1  # no expiry time
    (tmp_path / "virbr0.status").write_text("garbage")
    assert run(tmp_path, "add", "52:54:00:00:00:01", "10.0.0.5", DNSMASQ_LEASE_EXPIRES="0") == 0
    assert json.loads((tmp_path / "virbr0.status").read_text())[0]["ip-address"] == "10.0.0.5"


def test_console_script_runs_without_venv(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "pyvirt-leaseshelper"
    if not script.exists():
        pytest.skip("console script not installed")
    env = {"PATH": "/usr/bin:/bin", **env_for(tmp_path), "DNSMASQ_LEASE_EXPIRES": "0"}
    res = subprocess.run([str(script), "add", "52:54:00:00:00:01", "10.0.0.5", "x"], env=env,
                         capture_output=True, text=True, cwd="/", check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "virbr0.status").read_text())[0]["hostname"] == "x"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".new")]
