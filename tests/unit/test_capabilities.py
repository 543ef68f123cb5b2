"""Capabilities: probing (faked and real) and libvirt's capabilities XML."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence

import pytest
from lxml import etree

from pyvirt.conf.capabilities import (
    Capabilities,
    MachineType,
    parse_machine_help,
    qemu_version_number,
    version_string,
)

MACHINE_HELP = """Supported machines are:
microvm              microvm (i386)
pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)
pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)
pc-i440fx-1.4        Standard PC (i440FX + PIIX, 1996) (deprecated)
q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)
pc-q35-7.2           Standard PC (Q35 + ICH9, 2009)
none                 empty machine
"""


def test_version_numbers() -> None:
    text = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright ..."
    assert qemu_version_number(text) == 7002022
    assert version_string(7002022) == "7.2.22"
    assert qemu_version_number("QEMU emulator version 8.0") == 8000000
    with pytest.raises(ValueError):
        qemu_version_number("nothing here")


def test_parse_machine_help() -> None:
    ms = parse_machine_help(MACHINE_HELP)
    names = [m.name for m in ms]
    assert names == ["microvm", "pc-i440fx-7.2", "pc-i440fx-1.4", "pc-q35-7.2"]
    by = {m.name: m for m in ms}
    assert by["pc-i440fx-7.2"].alias == "pc" and by["pc-i440fx-7.2"].is_default
    assert by["pc-q35-7.2"].alias == "q35"
    assert by["pc-i440fx-1.4"].deprecated


def _fake_runner(argv: Sequence[str], stdin: str | None) -> str:
    if "-version" in argv:
        return "QEMU emulator version 7.2.22 (Debian)\n"
    if "-qmp" in argv:
        machines = [
            {"name": "pc-q35-5.2", "cpu-max": 288, "deprecated": False},
            {"name": "none", "cpu-max": 1, "deprecated": False},
            {"name": "pc-i440fx-7.2", "alias": "pc", "is-default": True, "cpu-max": 255, "deprecated": False},
            {"name": "pc-q35-7.2", "alias": "q35", "cpu-max": 288, "deprecated": False},
            {"name": "pc-i440fx-1.4", "cpu-max": 255, "deprecated": True},
        ]
        return "\n".join(
            [
                json.dumps({"QMP": {"version": {}}}),
                json.dumps({"return": {}}),
                json.dumps({"return": machines}),
                json.dumps({"return": {}}),
            ]
        )
    raise AssertionError(argv)


def test_probe_fake_emulator(tmp_path: pytest.TempPathFactory) -> None:
    emu = tmp_path / "qemu-system-x86_64"  # type: ignore[operator]
    emu.write_text("#!/bin/sh\nexit 0\n")
    emu.chmod(0o755)
    caps = Capabilities.probe([str(emu)], kvm=False, runner=_fake_runner, refresh=True)
    (g,) = caps.guests
    assert g.arch == "x86_64" and g.emulator == str(emu)
    assert g.default_machine == "pc-i440fx-7.2"
    assert g.canonical_machine("pc") == "pc-i440fx-7.2"
    assert g.canonical_machine("q35") == "pc-q35-7.2"
    assert g.canonical_machine("pc-q35-5.2") == "pc-q35-5.2"
    assert g.canonical_machine("none") is None
    assert g.domain_types == ["qemu"]
    assert caps.qemu_version == 7002022 and caps.version_string == "7.2.22"
    # cached: the same object comes back
    assert Capabilities.probe([str(emu)], kvm=False, runner=_fake_runner) is caps
    xml = caps.format()
    lines = [ln.strip() for ln in xml.splitlines() if "<machine" in ln]
    assert lines[:3] == [
        "<machine maxCpus='255'>pc-i440fx-7.2</machine>",
        "<machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine>",
        "<machine maxCpus='288'>pc-q35-5.2</machine>",
    ]
    assert "<machine maxCpus='255' deprecated='yes'>pc-i440fx-1.4</machine>" in lines


def test_probe_kvm_flag(tmp_path: pytest.TempPathFactory) -> None:
    emu = tmp_path / "qemu-system-x86_64"  # type: ignore[operator]
    emu.write_text("#!/bin/sh\nexit 0\n")
    emu.chmod(0o755)
    caps = Capabilities.probe([str(emu)], kvm=True, runner=_fake_runner, refresh=True)
    import os

    if os.uname().machine == "x86_64":
        assert caps.guests[0].domain_types == ["qemu", "kvm"]
        assert "<domain type='kvm'/>" in caps.format()


def test_format_layout() -> None:
    caps = Capabilities.fake()
    xml = caps.format()
    assert xml.startswith("<capabilities>\n\n  <host>\n")
    assert xml.endswith("  </guest>\n\n</capabilities>\n")
    assert "  </host>\n\n  <guest>\n" in xml
    root = etree.fromstring(xml.encode())
    assert root.findtext("host/cpu/arch") == "x86_64"
    topo = root.find("host/cpu/topology")
    assert topo is not None and topo.get("cores") == "2" and topo.get("dies") == "1"
    assert root.findtext("host/secmodel/model") == "none"
    assert root.findtext("host/secmodel/doi") == "0"
    assert root.find("host/power_management") is not None
    assert root.find("host/migration_features/live") is not None
    assert root.findtext("guest/os_type") == "hvm"
    assert root.find("guest/arch").get("name") == "x86_64"  # type: ignore[union-attr]
    assert root.findtext("guest/arch/wordsize") == "64"
    assert root.findtext("guest/arch/emulator") == "/usr/bin/qemu-system-x86_64"
    assert [d.get("type") for d in root.findall("guest/arch/domain")] == ["qemu"]
    feats = [f.tag for f in root.find("guest/features")]  # type: ignore[union-attr]
    assert feats == ["acpi", "apic", "cpuselection", "deviceboot", "disksnapshot"]
    assert "<acpi default='on' toggle='yes'/>" in xml


def test_node_info_fake() -> None:
    ni = Capabilities.fake().node_info
    assert ni.model == "x86_64" and ni.cpus == 2 and ni.cores == 2 and ni.sockets == 1
    assert ni.memory == 4194304 and ni.mhz == 2445 and ni.nodes == 1


def test_machine_type_defaults() -> None:
    m = MachineType("isapc")
    assert m.alias is None and not m.is_default and m.max_cpus == 0


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="QEMU not installed")
def test_probe_real_host() -> None:
    caps = Capabilities.probe(kvm=False, refresh=True)
    g = caps.guest_for_arch("x86_64")
    assert g is not None
    assert g.canonical_machine("pc") is not None and g.canonical_machine("pc").startswith("pc-i440fx-")  # type: ignore[union-attr]
    assert g.default_machine == g.canonical_machine("pc")
    assert caps.qemu_version >= 2_000_000
    assert caps.node_info.cpus >= 1 and caps.node_info.memory > 0
    xml = caps.format()
    etree.fromstring(xml.encode())
    assert f"<emulator>{g.emulator}</emulator>" in xml
    assert "<machine maxCpus='1'>none</machine>" not in xml
