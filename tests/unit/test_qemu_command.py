"""Unit tests for pyvirt.qemu.command (argv building) and the pure parts of qemu.process."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest

from pyvirt.errors import ErrorNumber, VirtError
from pyvirt.qemu import process
from pyvirt.qemu.command import build_argv, disk_alias, escape_comma

REFERENCE = Path("/work/shared/reference/libvirt-9.0-outputs")
UUID = "361ea41e-a029-4eb3-8b87-7860f5faf70f"
MASTER_KEY = "/var/lib/libvirt/qemu/domain-1-pc1/master-key.aes"


def pci(slot: int, function: int = 0) -> Any:
    return NS(type="pci", domain=0, bus=0, slot=slot, function=function)


def pc1(**overrides: Any) -> Any:
    """A stand-in for pc1 as conf/domain.py fills it after define (031-virsh-dumpxml-pc1-defined)."""
    values: dict[str, Any] = dict(
        name="pc1",
        uuid=UUID,
        virt_type="qemu",
        memory_kib=262144,
        current_memory_kib=262144,
        vcpus=1,
        arch="x86_64",
        machine="pc-i440fx-7.2",
        os_type="hvm",
        kernel="/var/lib/pyvirt-test/vmlinuz-6.1.0-56-cloud-amd64",
        initrd="/var/lib/pyvirt-test/guest-initrd-long.gz",
        cmdline="console=ttyS0",
        boot_devs=["hd"],
        acpi=False,
        apic=False,
        emulator="/usr/bin/qemu-system-x86_64",
        on_poweroff="destroy",
        on_reboot="restart",
        on_crash="destroy",
        disks=[],
        interfaces=[
            NS(
                type="network",
                mac="52:54:00:63:0a:d8",
                source_network="default",
                source_bridge=None,
                model="virtio",
                target_dev=None,
                alias=None,
                address=pci(2),
            )
        ],
        serials=[NS(type="pty", log_file="/var/log/libvirt/qemu/pc1-serial.log", log_append=False, port=0)],
        consoles=[NS(type="pty", log_file="/var/log/libvirt/qemu/pc1-serial.log", log_append=False, port=0)],
        graphics=[],
        memballoon=NS(model="virtio", address=pci(3)),
        rngs=[],
    )
    values.update(overrides)
    return NS(**values)


def reference_argv() -> list[str]:
    """libvirt's argv for pc1 (ps output: user column, then space-separated args without spaces)."""
    text = (REFERENCE / "056-ps-qemu-pc1.txt").read_text()
    return text.split()[1:]


def pc1_argv(domdef: Any | None = None, **kwargs: Any) -> list[str]:
    args: dict[str, Any] = dict(
        monitor_fd=28, tap_fds={"net0": 31}, serial_log_fds={"serial0": 30}, master_key_path=MASTER_KEY
    )
    args.update(kwargs)
    return build_argv(domdef if domdef is not None else pc1(), **args)


def opt_values(argv: list[str], opt: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == opt]


def devices(argv: list[str]) -> list[dict[str, Any]]:
    return [json.loads(v) for v in opt_values(argv, "-device")]


# --------------------------------------------------------------------------
# pc1 as libvirt 9.0 ran it


@pytest.mark.skipif(not REFERENCE.exists(), reason="reference outputs not available")
def test_pc1_argv_matches_libvirt_exactly() -> None:
    assert pc1_argv() == reference_argv()


def test_pc1_argv_with_monitor_path_and_logfile_path() -> None:
    argv = build_argv(pc1(), monitor_path="/run/pyvirt/qemu/pc1.monitor", tap_fds={"net0": 5})
    assert "socket,id=charmonitor,path=/run/pyvirt/qemu/pc1.monitor,server=on,wait=off" in argv
    assert "pty,id=charserial0,logfile=/var/log/libvirt/qemu/pc1-serial.log,logappend=off" in argv
    assert "-add-fd" not in argv
    assert "-object" in argv and not any("masterKey0" in a for a in argv)
    assert json.loads(opt_values(argv, "-netdev")[0]) == {"type": "tap", "fd": "5", "id": "hostnet0"}


def test_monitor_needs_exactly_one_of_path_and_fd() -> None:
    with pytest.raises(VirtError):
        build_argv(pc1(), tap_fds={"net0": 5})
    with pytest.raises(VirtError):
        build_argv(pc1(), monitor_fd=3, monitor_path="/x", tap_fds={"net0": 5})


def test_acpi_drops_no_acpi() -> None:
    assert "-no-acpi" in pc1_argv()
    argv = pc1_argv(pc1(acpi=True))
    assert "-no-acpi" not in argv
    assert argv.index("-no-shutdown") + 1 == argv.index("-boot")


def test_kvm_domain_uses_kvm_accel() -> None:
    argv = pc1_argv(pc1(virt_type="kvm"))
    assert opt_values(argv, "-accel") == ["kvm"]


def test_memory_rounded_up_to_mib() -> None:
    argv = pc1_argv(pc1(memory_kib=262145))
    assert opt_values(argv, "-m") == ["257"]
    mem = json.loads(opt_values(argv, "-object")[1])
    assert mem == {"qom-type": "memory-backend-ram", "id": "pc.ram", "size": 257 * 1024 * 1024}


def test_smp() -> None:
    assert opt_values(pc1_argv(pc1(vcpus=4)), "-smp") == ["4,sockets=4,cores=1,threads=1"]


def test_missing_tap_fd_is_an_error() -> None:
    with pytest.raises(VirtError) as exc:
        build_argv(pc1(), monitor_fd=3)
    assert exc.value.code == ErrorNumber.INTERNAL_ERROR


def test_user_networking_and_missing_addresses() -> None:
    iface = NS(type="user", mac="52:54:00:00:00:01", model="e1000", alias=None, address=None)
    argv = pc1_argv(pc1(interfaces=[iface], memballoon=None))
    assert json.loads(opt_values(argv, "-netdev")[0]) == {"type": "user", "id": "hostnet0"}
    devs = devices(argv)
    nic = next(d for d in devs if d["id"] == "net0")
    assert nic == {
        "driver": "e1000",
        "netdev": "hostnet0",
        "id": "net0",
        "mac": "52:54:00:00:00:01",
        "bus": "pci.0",
        "addr": "0x2",
    }
    balloon = next(d for d in devs if d["id"] == "balloon0")
    assert balloon["addr"] == "0x3"


def test_memballoon_none() -> None:
    argv = pc1_argv(pc1(memballoon=NS(model="none", address=None)))
    assert not any(d["driver"] == "virtio-balloon-pci" for d in devices(argv))


def test_unsupported_interface_type() -> None:
    iface = NS(type="direct", mac="52:54:00:00:00:01", model="virtio", alias=None, address=None)
    with pytest.raises(VirtError) as exc:
        pc1_argv(pc1(interfaces=[iface]))
    assert exc.value.code == ErrorNumber.CONFIG_UNSUPPORTED


# --------------------------------------------------------------------------
# disks


def disk(**kw: Any) -> Any:
    values: dict[str, Any] = dict(
        type="file",
        device="disk",
        driver_type="raw",
        source="/var/lib/images/a.img",
        target="vda",
        bus="virtio",
        readonly=False,
        address=None,
    )
    values.update(kw)
    return NS(**values)


def test_disks_raw_qcow2_cdrom() -> None:
    disks = [
        disk(source="/img/root.qcow2", driver_type="qcow2", address=pci(4)),
        disk(source="/img/data.img", target="vdb", readonly=True, address=pci(5)),
        disk(device="cdrom", source="/img/boot.iso", target="hdc", bus="ide"),
        disk(device="cdrom", source=None, target="hdd", bus="ide"),
    ]
    argv = pc1_argv(pc1(disks=disks, boot_devs=["cdrom", "hd"]))
    blockdevs = [json.loads(v) for v in opt_values(argv, "-blockdev")]
    assert blockdevs == [
        {
            "driver": "file",
            "filename": "/img/root.qcow2",
            "node-name": "libvirt-3-storage",
            "auto-read-only": True,
            "discard": "unmap",
        },
        {"node-name": "libvirt-3-format", "read-only": False, "driver": "qcow2", "file": "libvirt-3-storage"},
        {
            "driver": "file",
            "filename": "/img/data.img",
            "node-name": "libvirt-2-storage",
            "auto-read-only": True,
            "discard": "unmap",
        },
        {"node-name": "libvirt-2-format", "read-only": True, "driver": "raw", "file": "libvirt-2-storage"},
        {
            "driver": "file",
            "filename": "/img/boot.iso",
            "node-name": "libvirt-1-storage",
            "auto-read-only": True,
            "discard": "unmap",
        },
        {"node-name": "libvirt-1-format", "read-only": True, "driver": "raw", "file": "libvirt-1-storage"},
    ]
    devs = [d for d in devices(argv) if d["driver"] in ("virtio-blk-pci", "ide-cd", "ide-hd")]
    assert devs == [
        {
            "driver": "virtio-blk-pci",
            "bus": "pci.0",
            "addr": "0x4",
            "drive": "libvirt-3-format",
            "id": "virtio-disk0",
            "bootindex": 2,
        },
        {
            "driver": "virtio-blk-pci",
            "bus": "pci.0",
            "addr": "0x5",
            "drive": "libvirt-2-format",
            "id": "virtio-disk1",
        },
        {
            "driver": "ide-cd",
            "bus": "ide.1",
            "unit": 0,
            "drive": "libvirt-1-format",
            "id": "ide0-1-0",
            "bootindex": 1,
        },
        {"driver": "ide-cd", "bus": "ide.1", "unit": 1, "id": "ide0-1-1"},
    ]
    # disks come after the USB controller and before the network, as in libvirt
    first_blockdev = argv.index("-blockdev")
    assert argv.index("-netdev") > first_blockdev
    assert argv[first_blockdev - 1].startswith('{"driver":"piix3-usb-uhci"')


def test_block_device_disk_and_scsi_controller() -> None:
    disks = [disk(type="block", source="/dev/vg/lv", target="sda", bus="scsi")]
    devs = devices(pc1_argv(pc1(disks=disks)))
    assert {"driver": "lsi", "id": "scsi0", "bus": "pci.0", "addr": "0x4"} in devs
    assert any(d.get("driver") == "scsi-hd" and d["bus"] == "scsi0.0" and d["scsi-id"] == 0 for d in devs)


def test_disk_alias() -> None:
    assert disk_alias(NS(target="vdb", bus="virtio")) == "virtio-disk1"
    assert disk_alias(NS(target="hdc", bus="ide")) == "ide0-1-0"
    assert disk_alias(NS(target="sdc", bus="sata")) == "sata0-0-2"
    assert disk_alias(NS(target="vdaa", bus="virtio")) == "virtio-disk26"


def test_unsupported_disk_format() -> None:
    with pytest.raises(VirtError):
        pc1_argv(pc1(disks=[disk(driver_type="vmdk")]))


# --------------------------------------------------------------------------
# injection


def test_escape_comma() -> None:
    assert escape_comma("a,b,,c") == "a,,b,,,,c"


def test_disk_path_with_comma_cannot_inject() -> None:
    evil = "/tmp/x.img,driver=host_device,filename=/dev/sda"
    argv = pc1_argv(pc1(disks=[disk(source=evil)]))
    storage = json.loads(opt_values(argv, "-blockdev")[0])
    assert storage["filename"] == evil
    assert storage["driver"] == "file"
    # the path appears only inside the JSON value
    assert [a for a in argv if evil in a] == [opt_values(argv, "-blockdev")[0]]


def test_json_quotes_cannot_inject() -> None:
    evil = '/tmp/a.img","driver":"host_device'
    argv = pc1_argv(pc1(disks=[disk(source=evil)]))
    storage = json.loads(opt_values(argv, "-blockdev")[0])
    assert storage["filename"] == evil and storage["driver"] == "file"


def test_comma_options_are_escaped() -> None:
    domdef = pc1(
        name="evil,debug-threads=off",
        machine="pc,accel=kvm",
        serials=[NS(type="pty", log_file="/tmp/l,og,logappend=on", log_append=False, port=0)],
    )
    argv = build_argv(domdef, monitor_path="/run/x,server=off", tap_fds={"net0": 5})
    assert opt_values(argv, "-name") == ["guest=evil,,debug-threads=off,debug-threads=on"]
    assert opt_values(argv, "-machine")[0].startswith("pc,,accel=kvm,usb=off")
    chardevs = opt_values(argv, "-chardev")
    assert "socket,id=charmonitor,path=/run/x,,server=off,server=on,wait=off" in chardevs
    assert "pty,id=charserial0,logfile=/tmp/l,,og,,logappend=on,logappend=off" in chardevs


def test_kernel_append_passed_verbatim() -> None:
    # QEMU 7.2 does not option-parse -kernel/-initrd/-append
    argv = pc1_argv(pc1(kernel="/k,x", cmdline="console=ttyS0,115200 root=/dev/vda"))
    assert opt_values(argv, "-kernel") == ["/k,x"]
    assert opt_values(argv, "-append") == ["console=ttyS0,115200 root=/dev/vda"]


def test_bad_uuid_rejected() -> None:
    with pytest.raises(VirtError):
        pc1_argv(pc1(uuid="1234 -device foo"))


# --------------------------------------------------------------------------
# graphics and rng


def test_vnc_graphics() -> None:
    gfx = NS(type="vnc", port=-1, autoport=True, listen="127.0.0.1")
    argv = pc1_argv(pc1(graphics=[gfx]), vnc_display=3)
    assert "-display" not in argv
    assert opt_values(argv, "-vnc") == ["127.0.0.1:3,audiodev=audio1"]
    vga = next(d for d in devices(argv) if d["driver"] == "VGA")
    assert vga["id"] == "video0" and vga["bus"] == "pci.0"
    argv = pc1_argv(pc1(graphics=[NS(type="vnc", port=5901, listen="0.0.0.0")]))
    assert opt_values(argv, "-vnc") == ["0.0.0.0:1,audiodev=audio1"]


def test_rng() -> None:
    argv = pc1_argv(
        pc1(rngs=[NS(model="virtio", backend_model="random", source="/dev/urandom", address=None)])
    )
    assert '{"qom-type":"rng-random","id":"objrng0","filename":"/dev/urandom"}' in argv
    rng = next(d for d in devices(argv) if d["driver"] == "virtio-rng-pci")
    assert rng == {"driver": "virtio-rng-pci", "rng": "objrng0", "id": "rng0", "bus": "pci.0", "addr": "0x4"}
    # rng comes after the balloon, before -sandbox
    assert argv.index('{"qom-type":"rng-random","id":"objrng0","filename":"/dev/urandom"}') < argv.index(
        "-sandbox"
    )


# --------------------------------------------------------------------------
# process helpers that need no QEMU


def test_record_round_trip() -> None:
    rec = process.QemuProcess(
        pid=123,
        name="pc1",
        uuid=UUID,
        dom_id=1,
        emulator="/usr/bin/qemu-system-x86_64",
        monitor_path="/r/run/pyvirt/qemu/pc1.monitor",
        log_path="/r/var/log/pyvirt/qemu/pc1.log",
        libdir="/r/var/lib/pyvirt/qemu/domain-1-pc1",
        start_time=1.5,
        proc_start_ticks=99,
        pty_paths={"serial0": "/dev/pts/4"},
    )
    assert process.QemuProcess.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec


def test_paths() -> None:
    p = process.QemuPaths(Path("/r"), "pc1", 7)
    assert str(p.monitor) == "/r/run/pyvirt/qemu/pc1.monitor"
    assert str(p.log) == "/r/var/log/pyvirt/qemu/pc1.log"
    assert str(p.libdir) == "/r/var/lib/pyvirt/qemu/domain-7-pc1"


@pytest.mark.skipif(not REFERENCE.exists(), reason="reference outputs not available")
def test_log_command_format_matches_libvirt() -> None:
    ref = (REFERENCE / "081-qemu-log-pc1.txt").read_text().splitlines(keepends=True)
    end = next(i for i, line in enumerate(ref) if line.startswith("-msg"))
    expected = "".join(ref[1 : end + 1])
    env = {}
    for line in ref[1:7]:
        key, _, value = line.rstrip(" \\\n").partition("=")
        env[key] = value
    assert process._format_command(env, reference_argv()) == expected


def test_log_shutdown_line(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    process.log_shutdown(log, "destroyed")
    line = log.read_text()
    assert line.endswith(": shutting down, reason=destroyed\n")
    assert len(line.split(": ")[0]) == len("2026-11-28 01:16:01.080+0000")


def test_cpu_time_and_identity_of_own_process() -> None:
    assert process.cpu_time_ns(os.getpid()) >= 0
    assert process.cpu_time_ns(2**22 + 12345) == 0
    rec = process.QemuProcess.from_dict(
        {"pid": os.getpid(), "name": "x", "uuid": UUID, "dom_id": 1, "monitor_path": "/x", "log_path": "/x"}
    )
    assert not process.is_alive(rec)  # we are not a QEMU with that uuid


# --------------------------------------------------------------------------
# with the real parser (conf/domain.py)

XML = Path("/work/shared/reference/xml")


def _parse(xml: str) -> Any:
    domain = pytest.importorskip("pyvirt.conf.domain")
    return domain.parse_domain(xml)


@pytest.mark.skipif(not (REFERENCE.exists() and XML.exists()), reason="reference files not available")
@pytest.mark.parametrize("name", ["pc1", "pc2-acpi"])
def test_parsed_reference_xml_gives_libvirts_argv(name: str) -> None:
    domdef = _parse((XML / f"{name}.xml").read_text())
    argv = pc1_argv(domdef)
    expected = [
        a.replace(UUID, domdef.uuid).replace("52:54:00:63:0a:d8", domdef.interfaces[0].mac)
        for a in reference_argv()
    ]
    if name == "pc2-acpi":  # pc2 = pc1 + <acpi/>
        expected.remove("-no-acpi")
        expected = [a.replace("guest=pc1", "guest=pc2").replace("pc1-serial", "pc2-serial") for a in expected]
    assert argv == expected


def test_parsed_disks_vnc_rng_tablet() -> None:
    domdef = _parse(
        """<domain type='qemu'><name>d1</name><memory unit='MiB'>128</memory><vcpu>2</vcpu>
<os><type arch='x86_64'>hvm</type><boot dev='cdrom'/><boot dev='hd'/></os><features><acpi/></features>
<devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/img/a,b.qcow2'/>
  <target dev='vda' bus='virtio'/></disk>
<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/img/boot.iso'/>
  <target dev='hdc' bus='ide'/><readonly/></disk>
<interface type='user'><mac address='52:54:00:00:00:01'/><model type='virtio'/></interface>
<graphics type='vnc' port='-1' autoport='yes'/>
<input type='tablet' bus='usb'/>
<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
</devices></domain>"""
    )
    argv = build_argv(domdef, monitor_path="/m", vnc_display=2)
    devs = devices(argv)
    by_id = {d["id"]: d for d in devs}
    assert by_id["virtio-disk0"]["drive"] == "libvirt-2-format"
    assert by_id["virtio-disk0"]["bootindex"] == 2
    assert by_id["ide0-1-0"] == {
        "driver": "ide-cd",
        "bus": "ide.1",
        "unit": 0,
        "drive": "libvirt-1-format",
        "id": "ide0-1-0",
        "bootindex": 1,
    }
    assert json.loads(opt_values(argv, "-blockdev")[0])["filename"] == "/img/a,b.qcow2"
    assert by_id["net0"]["driver"] == "virtio-net-pci"
    assert by_id["input0"] == {"driver": "usb-tablet", "id": "input0", "bus": "usb.0", "port": "1"}
    assert opt_values(argv, "-vnc") == ["127.0.0.1:2,audiodev=audio1"]
    assert by_id["rng0"]["rng"] == "objrng0"
    assert "-no-acpi" not in argv
    # every PCI address is distinct
    addrs = [(d["bus"], d["addr"]) for d in devs if "addr" in d]
    assert len(addrs) == len(set(addrs))
