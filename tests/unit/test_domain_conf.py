"""Domain XML: golden round trips, libvirt's reference output, error cases."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pyvirt.conf.capabilities import Capabilities
from pyvirt.conf.domain import DomainDef, LiveInfo, LiveInterface, SecLabel, disk_name_to_index, parse_domain
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError

DATA = Path(__file__).resolve().parent.parent / "data" / "domain"
REF = Path("/work/shared/reference")
REGEN = os.environ.get("PYVIRT_REGENERATE_GOLDEN") == "1"

CAPS = Capabilities.fake()

GOLDEN = sorted(p.name.removesuffix(".in.xml") for p in DATA.glob("*.in.xml"))


def _live_for(name: str, d) -> LiveInfo:  # type: ignore[no-untyped-def]
    return LiveInfo(
        domain_id=7,
        interfaces=[
            LiveInterface(
                target_dev=f"vnet{i}",
                bridge="virbr0" if n.type == "network" else None,
                portid=f"00000000-0000-4000-8000-00000000010{i}" if n.type == "network" else None,
            )
            for i, n in enumerate(d.interfaces)
        ],
        serial_ptys=[f"/dev/pts/{i + 3}" for i in range(len(d.serials))],
        seclabels=[SecLabel("+64055:+64055")],
        graphics_ports=[5900 + i for i in range(len(d.graphics))],
    )


def _check(path: Path, text: str) -> None:
    if REGEN or not path.exists():
        if not REGEN:
            pytest.fail(f"golden file {path.name} missing (set PYVIRT_REGENERATE_GOLDEN=1 to create it)")
        path.write_text(text)
        return
    assert text == path.read_text(), f"{path.name} differs"


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_inactive(name: str) -> None:
    d = parse_domain((DATA / f"{name}.in.xml").read_text(), CAPS)
    out = d.format()
    _check(DATA / f"{name}.out.xml", out)
    # the output is a fixed point
    assert parse_domain(out, CAPS).format() == out


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_live(name: str) -> None:
    d = parse_domain((DATA / f"{name}.in.xml").read_text(), CAPS)
    _check(DATA / f"{name}.live.xml", d.format(inactive=False, live=_live_for(name, d)))


def _pc1_pinned() -> str:
    x = (REF / "xml" / "pc1.xml").read_text()
    x = x.replace("<name>pc1</name>", "<name>pc1</name>\n  <uuid>361ea41e-a029-4eb3-8b87-7860f5faf70f</uuid>")
    return x.replace(
        "<interface type='network'>", "<interface type='network'>\n      <mac address='52:54:00:63:0a:d8'/>"
    )


needs_ref = pytest.mark.skipif(not (REF / "xml" / "pc1.xml").exists(), reason="reference outputs missing")


def _ref_output(name: str) -> str:
    # virsh prints the XML followed by one more newline
    text = (REF / "libvirt-9.0-outputs" / name).read_text()
    assert text.endswith("\n\n")
    return text[:-1]


@needs_ref
def test_pc1_matches_libvirt_dumpxml() -> None:
    d = parse_domain(_pc1_pinned(), CAPS)
    assert d.format() == _ref_output("031-virsh-dumpxml-pc1-defined.txt")
    assert d.format(inactive=True) == _ref_output("053-virsh-dumpxml-pc1--inactive.txt")


@needs_ref
def test_pc1_matches_libvirt_live_dumpxml() -> None:
    d = parse_domain(_pc1_pinned(), CAPS)
    live = LiveInfo(
        domain_id=1,
        interfaces=[LiveInterface("vnet0", "virbr0", "631c680a-8df6-476f-adf3-b3ea8e974bf4")],
        serial_ptys=["/dev/pts/0"],
        seclabels=[SecLabel("+64055:+64055")],
    )
    assert d.format(inactive=False, live=live) == _ref_output("052-virsh-dumpxml-pc1-running.txt")
    # live info never leaks into the persistent definition
    assert d.format() == _ref_output("031-virsh-dumpxml-pc1-defined.txt")


@needs_ref
def test_pc1_generated_uuid_and_mac() -> None:
    d = parse_domain((REF / "xml" / "pc1.xml").read_text(), CAPS)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", d.uuid)
    assert re.fullmatch(r"52:54:00(:[0-9a-f]{2}){3}", d.interfaces[0].mac)
    other = parse_domain((REF / "xml" / "pc1.xml").read_text(), CAPS)
    assert other.uuid != d.uuid


@needs_ref
def test_pc1_accessors() -> None:
    d = parse_domain(_pc1_pinned(), CAPS)
    assert d.name == "pc1"
    assert d.uuid == "361ea41e-a029-4eb3-8b87-7860f5faf70f"
    assert d.virt_type == "qemu"
    assert (d.memory_kib, d.current_memory_kib, d.vcpus) == (262144, 262144, 1)
    assert (d.arch, d.machine, d.os_type) == ("x86_64", "pc-i440fx-7.2", "hvm")
    assert d.kernel == "/var/lib/pyvirt-test/vmlinuz-6.1.0-56-cloud-amd64"
    assert d.initrd == "/var/lib/pyvirt-test/guest-initrd-long.gz"
    assert d.cmdline == "console=ttyS0"
    assert d.boot_devs == ["hd"]
    assert not d.acpi and not d.apic
    assert d.emulator == "/usr/bin/qemu-system-x86_64"
    assert (d.on_poweroff, d.on_reboot, d.on_crash) == ("destroy", "restart", "destroy")
    (net,) = d.interfaces
    assert (net.type, net.mac, net.source_network, net.model, net.alias) == (
        "network",
        "52:54:00:63:0a:d8",
        "default",
        "virtio",
        "net0",
    )
    assert net.address is not None and net.address.slot == 2 and net.address.qemu_addr() == "0x2"
    (ser,) = d.serials
    assert (ser.type, ser.log_file, ser.log_append, ser.port, ser.alias) == (
        "pty",
        "/var/log/libvirt/qemu/pc1-serial.log",
        False,
        0,
        "serial0",
    )
    assert d.consoles[0].alias == "serial0"
    usb = d.controllers[0]
    assert (usb.type, usb.model, usb.alias) == ("usb", "piix3-uhci", "usb")
    assert usb.address is not None and usb.address.qemu_addr() == "0x1.0x2"
    assert d.memballoon is not None and d.memballoon.address is not None
    assert d.memballoon.address.slot == 3
    assert [i.alias for i in d.inputs] == ["input0", "input1"]


def test_pc2_acpi() -> None:
    d = parse_domain((DATA / "pc2-acpi.in.xml").read_text(), CAPS)
    assert d.acpi
    out = d.format()
    # features come after os in libvirt's order
    assert out.index("<os>") < out.index("<features>") < out.index("<cpu ")


def test_disks_view() -> None:
    d = parse_domain((DATA / "disks.in.xml").read_text(), CAPS)
    by = {x.target: x for x in d.disks}
    assert by["vda"].driver_type == "qcow2" and by["vda"].alias == "virtio-disk0"
    assert by["vdb"].bus == "virtio" and by["vdb"].driver_type == "raw" and by["vdb"].type == "block"
    assert by["hdc"].device == "cdrom" and by["hdc"].readonly and by["hdc"].drive_address == (0, 1, 0, 0)
    assert by["hdc"].alias == "ide0-1-0"
    assert by["sda"].alias == "sata0-0-0"
    assert by["sdb"].alias == "scsi0-0-0-1"
    types = [(c.type, c.index) for c in d.controllers]
    assert ("ide", 0) in types and ("sata", 0) in types and ("scsi", 0) in types
    assert d.boot_devs == ["cdrom", "hd"]
    assert d.current_memory_kib == 524288 and d.memory_kib == 1048576
    assert (d.vcpus, d.current_vcpus) == (2, 1)


def test_title_description_and_clone() -> None:
    d = parse_domain((DATA / "graphics.in.xml").read_text(), CAPS)
    assert d.title == "A desktop"
    c = d.clone()
    c.set_title("new title")
    c.set_description("")
    assert c.title == "new title" and c.description is None
    assert d.title == "A desktop" and d.description is not None
    out = c.format()
    assert out.index("<uuid>") < out.index("<title>") < out.index("<memory")
    with pytest.raises(VirtError) as ei:
        c.set_title("a\nb")
    assert ei.value.code == ErrorNumber.INVALID_ARG
    c.set_description("line1\nline2 <&>")
    assert "<description>line1\nline2 &lt;&amp;&gt;</description>" in c.format()


def test_graphics_view() -> None:
    d = parse_domain((DATA / "graphics.in.xml").read_text(), CAPS)
    (g,) = d.graphics
    assert (g.type, g.port, g.autoport, g.listen) == ("vnc", -1, True, "0.0.0.0")
    (v,) = d.videos
    assert (v.model, v.vram, v.primary) == ("cirrus", 16384, True)
    assert v.address is not None and v.address.slot == 2


def test_disk_name_to_index() -> None:
    assert disk_name_to_index("vda") == 0
    assert disk_name_to_index("hdc") == 2
    assert disk_name_to_index("sdz") == 25
    assert disk_name_to_index("sdaa") == 26
    with pytest.raises(ValueError):
        disk_name_to_index("nope")


def test_no_caps_keeps_given_values() -> None:
    d = parse_domain(
        "<domain type='kvm'><name>x</name><memory>1024</memory>"
        "<os><type arch='x86_64' machine='pc-i440fx-9.9'>hvm</type></os></domain>"
    )
    assert d.machine == "pc-i440fx-9.9" and d.virt_type == "kvm"
    assert "check='partial'" in d.format()


MINIMAL = (
    "<domain type='{type}'><name>{name}</name><memory unit='{unit}'>64</memory>"
    "<os><type arch='{arch}' machine='{machine}'>hvm</type></os>"
    "<devices>{emu}{devs}</devices></domain>"
)


def _xml(**kw: str) -> str:
    vals = {
        "type": "qemu",
        "name": "t",
        "unit": "MiB",
        "arch": "x86_64",
        "machine": "pc",
        "emu": "",
        "devs": "",
    }
    vals.update(kw)
    return MINIMAL.format(**vals)


def _err(xml: str, caps: Capabilities | None = CAPS) -> VirtError:
    with pytest.raises(VirtError) as ei:
        parse_domain(xml, caps)
    return ei.value


def test_error_missing_name() -> None:
    e = _err(_xml(name=""))
    assert e.code == ErrorNumber.NO_NAME
    assert e.message == "missing name information"
    e = _err("<domain type='qemu'><memory>1</memory><os><type>hvm</type></os></domain>")
    assert e.code == ErrorNumber.NO_NAME


def test_error_name_with_slash() -> None:
    e = _err(_xml(name="a/b"))
    assert (e.code, e.message) == (ErrorNumber.XML_ERROR, "XML error: name a/b cannot contain '/'")


def test_error_name_with_newline() -> None:
    e = _err(_xml(name="a&#10;b"))
    assert (e.code, e.message) == (ErrorNumber.XML_DETAIL, "invalid char in name: 0x0a")


def test_error_bad_memory_unit() -> None:
    e = _err(_xml(unit="furlongs"))
    assert (e.code, e.message) == (ErrorNumber.INVALID_ARG, "invalid argument: unknown suffix 'furlongs'")


def test_error_bad_memory_value() -> None:
    e = _err(_xml().replace(">64<", ">lots<"))
    assert e.code == ErrorNumber.XML_ERROR


def test_error_unknown_arch() -> None:
    e = _err(_xml(arch="z80"))
    assert (e.code, e.message) == (
        ErrorNumber.CONFIG_UNSUPPORTED,
        "unsupported configuration: Unknown architecture z80",
    )
    e = _err(_xml(arch="aarch64"))
    assert (e.code, e.message) == (
        ErrorNumber.INTERNAL_ERROR,
        "internal error: No emulator found for arch 'aarch64'",
    )


def test_error_unknown_machine() -> None:
    e = _err(_xml(machine="pc-i440fx-rhel7.6.0"))
    assert (e.code, e.domain) == (ErrorNumber.CONFIG_UNSUPPORTED, ErrorDomain.QEMU)
    assert e.message == (
        "unsupported configuration: Emulator '/usr/bin/qemu-system-x86_64' "
        "does not support machine type 'pc-i440fx-rhel7.6.0'"
    )


def test_machine_alias_canonicalised() -> None:
    assert parse_domain(_xml(machine="q35"), CAPS).machine == "pc-q35-7.2"
    assert parse_domain(_xml(machine="pc-i440fx-7.1"), CAPS).machine == "pc-i440fx-7.1"


def test_error_unknown_virt_type() -> None:
    e = _err(_xml(type="kvm"))
    assert e.message == (
        "unsupported configuration: Emulator '/usr/bin/qemu-system-x86_64' does not support virt type 'kvm'"
    )
    assert parse_domain(_xml(type="kvm"), Capabilities.fake(kvm=True)).virt_type == "kvm"
    e = _err(_xml(type="bogus"))
    assert e.code == ErrorNumber.XML_ERROR


def test_error_missing_emulator() -> None:
    e = _err(_xml(emu="<emulator>/nonexistent/qemu-system-x86_64</emulator>"))
    assert (e.code, e.domain) == (ErrorNumber.SYSTEM_ERROR, ErrorDomain.QEMU)
    assert e.message == "Cannot check QEMU binary /nonexistent/qemu-system-x86_64: No such file or directory"


def test_error_duplicate_disk_target() -> None:
    disks = (
        "<disk type='file'><source file='/a.img'/><target dev='vda'/></disk>"
        "<disk type='file'><source file='/b.img'/><target dev='vda'/></disk>"
    )
    e = _err(_xml(devs=disks))
    assert e.message == "XML error: target 'vda' duplicated for disk sources '/a.img' and '/b.img'"


@pytest.mark.parametrize(
    ("mac", "code", "message"),
    [
        (
            "52:54:00:zz:00:01",
            ErrorNumber.INTERNAL_ERROR,
            "internal error: unable to parse mac address '52:54:00:zz:00:01'",
        ),
        (
            "01:00:5e:00:00:01",
            ErrorNumber.XML_ERROR,
            "XML error: expected unicast mac address, found multicast '01:00:5e:00:00:01'",
        ),
    ],
)
def test_error_bad_mac(mac: str, code: int, message: str) -> None:
    dev = f"<interface type='user'><mac address='{mac}'/></interface>"
    e = _err(_xml(devs=dev))
    assert (e.code, e.message) == (code, message)


def test_mac_normalised() -> None:
    dev = "<interface type='user'><mac address='52:54:0:A:b:C'/></interface>"
    assert parse_domain(_xml(devs=dev), CAPS).interfaces[0].mac == "52:54:00:0a:0b:0c"


def test_error_malformed_xml() -> None:
    e = _err("<domain type='qemu'><name>bad</name>\n")
    assert e.code == ErrorNumber.XML_DETAIL
    assert e.message is not None and e.message.startswith("(domain_definition):2: Premature end of data")


def test_error_wrong_root() -> None:
    e = _err("<network><name>x</name></network>")
    assert e.code == ErrorNumber.XML_ERROR


def test_error_bad_uuid() -> None:
    e = _err(_xml().replace("<name>t</name>", "<name>t</name><uuid>not-a-uuid</uuid>"))
    assert (e.code, e.message) == (ErrorNumber.INTERNAL_ERROR, "internal error: malformed uuid element")


def test_error_boot_order_mix() -> None:
    xml = _xml(devs="<interface type='user'><boot order='1'/></interface>").replace(
        "</type>", "</type><boot dev='hd'/>"
    )
    e = _err(xml)
    assert e.message == "XML error: per-device boot elements cannot be used together with os/boot elements"


def test_live_info_pty_and_ids() -> None:
    d = parse_domain((DATA / "graphics.in.xml").read_text(), CAPS)
    out = d.format(inactive=False, live=_live_for("graphics", d))
    assert out.startswith("<domain type='qemu' id='7'>")
    assert "<console type='pty' tty='/dev/pts/3'>" in out
    assert "<graphics type='vnc' port='5900' autoport='yes' listen='0.0.0.0'>" in out
    assert "<alias name='video0'/>" in out


# --------------------------------------------------------------------------- compact definitions


def _snapshot(d) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Everything a driver reads from a definition."""
    fields = (
        "name", "uuid", "virt_type", "title", "description", "memory_kib", "current_memory_kib",
        "vcpus", "current_vcpus", "os_type", "arch", "machine", "kernel", "initrd", "cmdline",
        "boot_devs", "acpi", "apic", "features", "cpu_mode", "cpu_model", "clock_offset",
        "on_poweroff", "on_reboot", "on_crash", "emulator", "disks", "interfaces", "serials",
        "consoles", "channels", "controllers", "graphics", "videos", "inputs", "rngs", "memballoon",
    )  # fmt: skip
    return {f: getattr(d, f) for f in fields}


_NS_METADATA = (
    "<metadata><app:info xmlns:app='http://example.org/app'><app:v n='1'>x</app:v></app:info>"
    "<plain/></metadata>"
)


@pytest.mark.parametrize("name", GOLDEN)
def test_compact_definition_reads_and_prints_the_same(name: str) -> None:
    d = parse_domain((DATA / f"{name}.in.xml").read_text(), CAPS)
    inactive, live, before = d.format(), d.format(inactive=False, live=_live_for(name, d)), _snapshot(d)
    d.compact()
    assert d.compacted
    assert d.format() == inactive
    assert d.format(inactive=False, live=_live_for(name, d)) == live
    assert _snapshot(d) == before
    assert d.compacted  # reading it did not bring the tree back
    clone = d.clone()
    assert not clone.compacted and clone.format() == inactive
    assert clone.format(inactive=False, live=_live_for(name, clone)) == live


@pytest.mark.parametrize(
    "extra",
    [
        "<description>tab&#9;and&#13;cr</description>",  # a CR in text does not read back
        "<title>t</title><unknown attr='a&#10;b'/>",  # nor a newline in an attribute
        _NS_METADATA,
        "<description xml:lang='en'>d</description>",
    ],
)
def test_compact_keeps_the_tree_only_when_the_text_would_not_read_back(extra: str) -> None:
    d = parse_domain(_xml().replace("</name>", "</name>" + extra), CAPS)
    inactive, before = d.format(), _snapshot(d)
    d.compact()
    assert d.compacted == ("&#13;" not in extra and "&#10;" not in extra)
    assert d.format() == inactive
    assert _snapshot(d) == before
    # (that text read back is another definition: the one a restart would load)
    assert (parse_domain(inactive, CAPS).format() == inactive) == d.compacted


@pytest.mark.parametrize("name", GOLDEN)
def test_compact_state_rebuilds_the_same_definition(name: str) -> None:
    d = parse_domain((DATA / f"{name}.in.xml").read_text(), CAPS)
    assert d.compact_state() is None  # a definition with its tree has no compact state
    inactive, live, before = d.format(), d.format(inactive=False, live=_live_for(name, d)), _snapshot(d)
    d.compact()
    state = d.compact_state()
    assert state is not None
    assert {type(v) for v in state.values()} <= {str, int, bool}
    again = DomainDef.from_compact_state(dict(state))
    assert again.compacted and again.format() == inactive
    assert again.format(inactive=False, live=_live_for(name, again)) == live
    assert _snapshot(again) == before
    assert again.compact_state() == state


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.pop("vcpus"),
        lambda s: s.update(extra=1),
        lambda s: s.update(vcpus="1"),
        lambda s: s.update(plain=1),
        lambda s: s.update(xml=b"<domain/>"),
    ],
)
def test_compact_state_of_the_wrong_shape_is_refused(change) -> None:  # type: ignore[no-untyped-def]
    d = parse_domain(_xml(), CAPS)
    d.compact()
    state = d.compact_state()
    assert state is not None
    change(state)
    with pytest.raises(ValueError, match="compact definition state"):
        DomainDef.from_compact_state(state)


def test_edit_after_compact() -> None:
    d = parse_domain(_xml(), CAPS)
    d.compact()
    d.set_title("new title")  # brings the tree back and forgets the stored text
    assert not d.compacted
    assert "<title>new title</title>" in d.format()
    d.compact()
    assert d.compacted and "<title>new title</title>" in d.format()


def test_pci_address_written_loosely_is_rewritten_as_libvirt_writes_it() -> None:
    # Decimal numbers, another attribute order, not the device's last element: libvirt
    # prints the address canonically; a canonical one (a stored definition) reads back the same.
    dev = (
        "<interface type='user'><address bus='0' type='pci' slot='5' domain='0' function='0'/>"
        "<model type='virtio'/></interface>"
    )
    text = parse_domain(_xml(devs=dev), CAPS).format(inactive=True)
    want = "<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>\n    </interface>"
    assert want in text
    assert parse_domain(text, None).format(inactive=True) == text
