"""Host and hypervisor capabilities, probed once and formatted like libvirt's.

:meth:`Capabilities.probe` looks at this host (``/proc/cpuinfo``, sysfs,
``os.uname``) and at every QEMU system emulator it finds: its version, its
machine types (asked over QMP with ``query-machines``, falling back to
``-machine help``) and whether KVM can be used.  The result is cached per
argument set, so the daemon pays for the probe once.  Unit tests build a
:class:`Capabilities` directly (see :meth:`Capabilities.fake`).

:meth:`Capabilities.format` produces the ``virsh capabilities`` document in
libvirt's layout (``src/conf/capabilities.c``): blank lines between the
top-level sections, ``<machine canonical=…>`` entries for aliases, guest
features in libvirt's enum order.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence

from pyvirt.conf.xmlutil import escape
from pyvirt.errors import ErrorDomain, ErrorNumber, VirtError
from pyvirt.lazydataclass import dataclass, field
from pyvirt.uuids import format_uuid, parse_uuid_bytes

# Emulator binary suffix -> libvirt's arch name.
_EMULATOR_ARCHES: dict[str, str] = {
    "x86_64": "x86_64",
    "i386": "i686",
    "aarch64": "aarch64",
    "arm": "armv7l",
    "ppc64": "ppc64",
    "riscv64": "riscv64",
    "s390x": "s390x",
}
ARCH_WORDSIZE: dict[str, int] = {
    "x86_64": 64,
    "i686": 32,
    "aarch64": 64,
    "armv7l": 32,
    "ppc64": 64,
    "riscv64": 64,
    "s390x": 64,
}
# Every architecture name libvirt knows (virarch.c), for "Unknown architecture".
KNOWN_ARCHES: frozenset[str] = frozenset(
    {
        "none", "alpha", "armv6l", "armv7l", "armv7b", "aarch64", "cris", "i686", "ia64", "lm32",
        "loongarch64", "m68k", "microblaze", "microblazeel", "mips", "mipsel", "mips64", "mips64el",
        "openrisc", "parisc", "parisc64", "ppc", "ppcle", "ppc64", "ppc64le", "ppcemb", "riscv32",
        "riscv64", "s390", "s390x", "sh4", "sh4eb", "sparc", "sparc64", "unicore32", "x86_64",
        "xtensa", "xtensaeb",
    }
)  # fmt: skip

DEFAULT_SEARCH_DIRS: tuple[str, ...] = ("/usr/bin", "/usr/local/bin")


@dataclass(frozen=True)
class MachineType:
    """One machine type of an emulator (``query-machines`` entry)."""

    name: str
    alias: str | None = None
    max_cpus: int = 0
    deprecated: bool = False
    is_default: bool = False


@dataclass
class GuestArch:
    """A ``<guest>`` block: one emulator for one architecture."""

    arch: str
    emulator: str
    machines: list[MachineType]
    domain_types: list[str] = field(default_factory=lambda: ["qemu"])
    os_type: str = "hvm"

    @property
    def wordsize(self) -> int:
        return ARCH_WORDSIZE.get(self.arch, 64)

    @property
    def default_machine(self) -> str | None:
        """The canonical name of the emulator's default machine (``pc-i440fx-7.2``)."""
        for m in self.machines:
            if m.is_default:
                return m.name
        return self.machines[0].name if self.machines else None

    def canonical_machine(self, name: str) -> str | None:
        """Map ``name`` (a machine name or an alias such as ``pc``) to its canonical name.

        Returns None when the emulator has no such machine type.
        """
        for m in self.machines:
            if m.name == name:
                return m.name
        for m in self.machines:
            if m.alias == name:
                return m.name
        return None

    def max_cpus(self, machine: str) -> int:
        for m in self.machines:
            if name_matches(m, machine):
                return m.max_cpus
        return 0


def name_matches(m: MachineType, name: str) -> bool:
    return m.name == name or m.alias == name


@dataclass(frozen=True)
class HostCPU:
    """The host CPU as ``<host><cpu>`` shows it."""

    arch: str
    model: str | None = None
    vendor: str | None = None
    family: int | None = None
    model_id: int | None = None
    stepping: int | None = None
    microcode: str | None = None
    sockets: int = 1
    dies: int = 1
    cores: int = 1
    threads: int = 1
    phys_bits: int | None = None
    mhz: int = 0
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class NumaCPU:
    id: int
    socket_id: int
    die_id: int
    core_id: int
    siblings: str


@dataclass(frozen=True)
class NumaCell:
    id: int
    memory_kib: int
    cpus: tuple[NumaCPU, ...]
    distances: tuple[tuple[int, int], ...] = ()
    pages: tuple[tuple[int, int], ...] = ()  # (size KiB, available count)


@dataclass(frozen=True)
class NodeInfo:
    """``virNodeInfo`` for NODE_GET_INFO (memory in KiB, mhz an integer)."""

    model: str
    memory: int
    cpus: int
    mhz: int
    nodes: int
    sockets: int
    cores: int
    threads: int


@dataclass(frozen=True)
class SecModel:
    model: str
    doi: str = "0"
    baselabels: tuple[tuple[str, str], ...] = ()


def qemu_version_number(text: str) -> int:
    """Turn ``QEMU emulator version 7.2.22 (…)`` into libvirt's number 7002022.

    Raises:
        ValueError: the text holds no version.
    """
    m = re.search(r"version\s+(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not m:
        raise ValueError(f"no QEMU version in {text!r}")
    major, minor, micro = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    return major * 1_000_000 + minor * 1_000 + micro


def version_string(number: int) -> str:
    """7002022 -> ``7.2.22``."""
    return f"{number // 1_000_000}.{(number // 1000) % 1000}.{number % 1000}"


Runner = Callable[[Sequence[str], str | None], str]


def _run(argv: Sequence[str], stdin: str | None) -> str:
    proc = subprocess.run(
        list(argv),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    return proc.stdout


class Capabilities:
    """What this host can run, as libvirt's ``virCaps`` plus the QEMU version.

    Build it with :meth:`probe` (cached) or directly (tests).  Lookups used by
    the domain parser: :meth:`guest_for_arch`, :meth:`guest_for_emulator`,
    :meth:`default_emulator`.
    """

    def __init__(
        self,
        *,
        host_cpu: HostCPU,
        guests: list[GuestArch],
        qemu_version: int = 0,
        host_uuid: str | None = None,
        node_info: NodeInfo | None = None,
        numa_cells: list[NumaCell] | None = None,
        secmodels: list[SecModel] | None = None,
        page_sizes: tuple[int, ...] = (4,),
        iommu: bool = False,
        kvm_usable: bool = False,
    ) -> None:
        self.host_cpu = host_cpu
        self.host_arch = host_cpu.arch
        self.guests = guests
        self.qemu_version = qemu_version
        self.host_uuid = host_uuid
        self.numa_cells = numa_cells or []
        self.secmodels = secmodels if secmodels is not None else [SecModel("none")]
        self.page_sizes = page_sizes
        self.iommu = iommu
        self.kvm_usable = kvm_usable
        self.node_info = node_info or NodeInfo(
            model=host_cpu.arch,
            memory=sum(c.memory_kib for c in self.numa_cells),
            cpus=host_cpu.sockets * host_cpu.cores * host_cpu.threads,
            mhz=host_cpu.mhz,
            nodes=max(1, len(self.numa_cells)),
            sockets=host_cpu.sockets,
            cores=host_cpu.cores,
            threads=host_cpu.threads,
        )

    # ------------------------------------------------------------------ lookups

    def guest_for_arch(self, arch: str, os_type: str = "hvm") -> GuestArch | None:
        for g in self.guests:
            if g.arch == arch and g.os_type == os_type:
                return g
        return None

    def guest_for_emulator(self, emulator: str) -> GuestArch | None:
        for g in self.guests:
            if g.emulator == emulator:
                return g
        return None

    def default_emulator(self, arch: str) -> str | None:
        g = self.guest_for_arch(arch)
        return g.emulator if g else None

    @property
    def version_string(self) -> str:
        return version_string(self.qemu_version)

    # -------------------------------------------------------------------- probe

    _cache: dict[tuple[object, ...], Capabilities] = {}
    _cache_lock = threading.Lock()

    @classmethod
    def probe(
        cls,
        emulator_paths: Iterable[str] | None = None,
        *,
        kvm: bool | None = None,
        refresh: bool = False,
        runner: Runner | None = None,
        secmodels: list[SecModel] | None = None,
    ) -> Capabilities:
        """Probe this host once and cache the answer.

        ``emulator_paths`` lists the QEMU binaries to consider (default: every
        ``qemu-system-*`` known by arch in /usr/bin and /usr/local/bin).
        ``kvm``: None detects it (``/dev/kvm`` opens read-write), True/False
        forces it.  ``refresh`` drops the cached result.  ``runner`` replaces
        subprocess execution (tests).

        Raises:
            VirtError: (INTERNAL_ERROR) no usable QEMU emulator was found.
        """
        paths = tuple(emulator_paths) if emulator_paths is not None else None
        key: tuple[object, ...] = (paths, kvm, runner, tuple(secmodels or ()))
        with cls._cache_lock:
            if not refresh and key in cls._cache:
                return cls._cache[key]
        caps = cls._do_probe(paths, kvm, runner or _run, secmodels)
        with cls._cache_lock:
            cls._cache[key] = caps
        return caps

    @classmethod
    def clear_cache(cls) -> None:
        with cls._cache_lock:
            cls._cache.clear()

    @classmethod
    def _do_probe(
        cls,
        paths: tuple[str, ...] | None,
        kvm: bool | None,
        runner: Runner,
        secmodels: list[SecModel] | None,
    ) -> Capabilities:
        if paths is None:
            found: list[str] = []
            for suffix in _EMULATOR_ARCHES:
                for d in DEFAULT_SEARCH_DIRS:
                    p = os.path.join(d, f"qemu-system-{suffix}")
                    if os.access(p, os.X_OK):
                        found.append(p)
                        break
            paths = tuple(found)
        kvm_ok = _kvm_usable() if kvm is None else kvm
        guests: list[GuestArch] = []
        version = 0
        for path in paths:
            base = os.path.basename(path)
            suffix = base.removeprefix("qemu-system-")
            arch = _EMULATOR_ARCHES.get(suffix)
            if arch is None or not os.access(path, os.X_OK):
                continue
            try:
                v = qemu_version_number(runner([path, "-version"], None))
            except (OSError, subprocess.SubprocessError, ValueError):
                continue
            machines = _probe_machines(path, runner)
            if not machines:
                continue
            version = version or v
            host_arch = os.uname().machine
            native = arch == host_arch or (host_arch == "x86_64" and arch == "i686")
            types = ["qemu", "kvm"] if (kvm_ok and native) else ["qemu"]
            guests.append(GuestArch(arch=arch, emulator=path, machines=machines, domain_types=types))
        if not guests:
            raise VirtError(
                ErrorNumber.INTERNAL_ERROR, ErrorDomain.CAPABILITIES, "no usable QEMU emulator found"
            )
        # libvirt lists i686 before x86_64 (virArch order): keep that order.
        order = ["i686", "x86_64"]
        guests.sort(key=lambda g: order.index(g.arch) if g.arch in order else len(order))
        host_cpu = _probe_host_cpu()
        cells = _probe_numa(host_cpu)
        return cls(
            host_cpu=host_cpu,
            guests=guests,
            qemu_version=version,
            host_uuid=_probe_host_uuid(),
            node_info=_node_info(host_cpu, cells),
            numa_cells=cells,
            secmodels=secmodels,
            page_sizes=_probe_page_sizes(),
            iommu=_probe_iommu(),
            kvm_usable=kvm_ok,
        )

    @classmethod
    def fake(
        cls,
        *,
        emulator: str = "/usr/bin/qemu-system-x86_64",
        version: int = 7002022,
        kvm: bool = False,
        extra_guests: list[GuestArch] | None = None,
    ) -> Capabilities:
        """A small, fixed capabilities object like Debian 12's QEMU 7.2 (for tests)."""
        machines = [
            MachineType("pc-i440fx-7.2", alias="pc", max_cpus=255, is_default=True),
            MachineType("pc-q35-7.2", alias="q35", max_cpus=288),
            MachineType("pc-i440fx-7.1", max_cpus=255),
            MachineType("pc-q35-7.1", max_cpus=288),
            MachineType("pc-i440fx-1.4", max_cpus=255, deprecated=True),
            MachineType("isapc", max_cpus=1),
            MachineType("microvm", max_cpus=288),
        ]
        guests = [
            GuestArch(
                arch="x86_64",
                emulator=emulator,
                machines=machines,
                domain_types=["qemu", "kvm"] if kvm else ["qemu"],
            )
        ]
        guests.extend(extra_guests or [])
        cpu = HostCPU(
            arch="x86_64",
            model="EPYC-Milan",
            vendor="AMD",
            family=25,
            model_id=1,
            stepping=1,
            sockets=1,
            dies=1,
            cores=2,
            threads=1,
            phys_bits=48,
            mhz=2445,
        )
        cells = [
            NumaCell(
                id=0,
                memory_kib=4194304,
                cpus=(NumaCPU(0, 0, 0, 0, "0"), NumaCPU(1, 0, 0, 1, "1")),
                distances=((0, 10),),
                pages=((4, 1048576), (2048, 0), (1048576, 0)),
            )
        ]
        return cls(
            host_cpu=cpu,
            guests=guests,
            qemu_version=version,
            host_uuid="5c1f0a6e-0b7e-4f3c-9d7e-2b1d2f3a4b5c",
            numa_cells=cells,
            page_sizes=(4, 2048, 1048576),
            kvm_usable=kvm,
        )

    def with_guests(self, guests: list[GuestArch]) -> Capabilities:
        """A copy with other guests (tests)."""
        return Capabilities(
            host_cpu=self.host_cpu,
            guests=guests,
            qemu_version=self.qemu_version,
            host_uuid=self.host_uuid,
            node_info=self.node_info,
            numa_cells=self.numa_cells,
            secmodels=self.secmodels,
            page_sizes=self.page_sizes,
            iommu=self.iommu,
            kvm_usable=self.kvm_usable,
        )

    # ------------------------------------------------------------------- format

    def format(self) -> str:
        """The capabilities XML, laid out exactly as libvirt's virCapabilitiesFormatXML."""
        out: list[str] = ["<capabilities>", ""]
        ind = "  "

        def line(depth: int, text: str) -> None:
            out.append(ind * depth + text)

        cpu = self.host_cpu
        line(1, "<host>")
        if self.host_uuid:
            line(2, f"<uuid>{self.host_uuid}</uuid>")
        line(2, "<cpu>")
        line(3, f"<arch>{cpu.arch}</arch>")
        if cpu.model:
            line(3, f"<model>{escape(cpu.model)}</model>")
        if cpu.vendor:
            line(3, f"<vendor>{escape(cpu.vendor)}</vendor>")
        if cpu.microcode:
            line(3, f"<microcode version='{escape(cpu.microcode)}'/>")
        if cpu.family is not None and cpu.model_id is not None:
            line(
                3,
                f"<signature family='{cpu.family}' model='{cpu.model_id}' stepping='{cpu.stepping or 0}'/>",
            )
        line(
            3,
            f"<topology sockets='{cpu.sockets}' dies='{cpu.dies}' cores='{cpu.cores}' "
            f"threads='{cpu.threads}'/>",
        )
        if cpu.phys_bits:
            line(3, f"<maxphysaddr mode='emulate' bits='{cpu.phys_bits}'/>")
        for size in self.page_sizes:
            line(3, f"<pages unit='KiB' size='{size}'/>")
        line(2, "</cpu>")
        line(2, "<power_management/>")
        line(2, f"<iommu support='{'yes' if self.iommu else 'no'}'/>")
        line(2, "<migration_features>")
        line(3, "<live/>")
        line(3, "<uri_transports>")
        line(4, "<uri_transport>tcp</uri_transport>")
        line(4, "<uri_transport>rdma</uri_transport>")
        line(3, "</uri_transports>")
        line(2, "</migration_features>")
        if self.numa_cells:
            line(2, "<topology>")
            line(3, f"<cells num='{len(self.numa_cells)}'>")
            for cell in self.numa_cells:
                line(4, f"<cell id='{cell.id}'>")
                if cell.memory_kib:
                    line(5, f"<memory unit='KiB'>{cell.memory_kib}</memory>")
                for size, avail in cell.pages:
                    line(5, f"<pages unit='KiB' size='{size}'>{avail}</pages>")
                if cell.distances:
                    line(5, "<distances>")
                    for sid, value in cell.distances:
                        line(6, f"<sibling id='{sid}' value='{value}'/>")
                    line(5, "</distances>")
                line(5, f"<cpus num='{len(cell.cpus)}'>")
                for c in cell.cpus:
                    line(
                        6,
                        f"<cpu id='{c.id}' socket_id='{c.socket_id}' die_id='{c.die_id}' "
                        f"core_id='{c.core_id}' siblings='{c.siblings}'/>",
                    )
                line(5, "</cpus>")
                line(4, "</cell>")
            line(3, "</cells>")
            line(2, "</topology>")
        for sm in self.secmodels:
            line(2, "<secmodel>")
            line(3, f"<model>{escape(sm.model)}</model>")
            line(3, f"<doi>{escape(sm.doi)}</doi>")
            for typ, label in sm.baselabels:
                line(3, f"<baselabel type='{escape(typ)}'>{escape(label)}</baselabel>")
            line(2, "</secmodel>")
        line(1, "</host>")
        out.append("")
        for g in self.guests:
            line(1, "<guest>")
            line(2, f"<os_type>{g.os_type}</os_type>")
            line(2, f"<arch name='{g.arch}'>")
            line(3, f"<wordsize>{g.wordsize}</wordsize>")
            line(3, f"<emulator>{escape(g.emulator)}</emulator>")
            for m in _caps_machine_list(g.machines):
                attrs = ""
                if m.alias:  # here: (name=alias, canonical=name)
                    attrs += f" canonical='{m.name}'"
                if m.max_cpus > 0:
                    attrs += f" maxCpus='{m.max_cpus}'"
                if m.deprecated:
                    attrs += " deprecated='yes'"
                line(3, f"<machine{attrs}>{m.alias or m.name}</machine>")
            for t in g.domain_types:
                line(3, f"<domain type='{t}'/>")
            line(2, "</arch>")
            line(2, "<features>")
            if g.arch == "i686":
                line(3, "<pae/>")
                line(3, "<nonpae/>")
            if g.arch in ("i686", "x86_64"):
                line(3, "<acpi default='on' toggle='yes'/>")
                line(3, "<apic default='on' toggle='no'/>")
            line(3, "<cpuselection/>")
            line(3, "<deviceboot/>")
            line(3, "<disksnapshot default='on' toggle='no'/>")
            line(2, "</features>")
            line(1, "</guest>")
            out.append("")
        out.append("</capabilities>")
        return "\n".join(out) + "\n"


def _caps_machine_list(machines: list[MachineType]) -> list[MachineType]:
    """libvirt's machine listing: default first; an aliased machine appears
    twice, its canonical name first, then the alias (marked by ``alias``)."""
    import dataclasses  # loaded by the first build of a dataclass anyway

    ordered = [m for m in machines if m.is_default] + [m for m in machines if not m.is_default]
    result: list[MachineType] = []
    names = {m.name for m in ordered if not m.alias}
    for m in ordered:
        if m.alias:
            if m.name not in names:
                result.append(dataclasses.replace(m, alias=None))
            result.append(m)
        else:
            result.append(m)
    return result


# ------------------------------------------------------------------ host probes


def _kvm_usable() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def _probe_machines(path: str, runner: Runner) -> list[MachineType]:
    """Ask the emulator for its machines over QMP; fall back to ``-machine help``."""
    import json  # the probe runs in a thread after the daemon listens: not loaded at start

    cmds = '{"execute":"qmp_capabilities"}\n{"execute":"query-machines"}\n{"execute":"quit"}\n'
    argv = [path, "-machine", "none", "-qmp", "stdio", "-nodefaults", "-display", "none"]
    argv += ["-no-user-config", "-S"]
    machines: list[MachineType] = []
    try:
        out = runner(argv, cmds)
    except (OSError, subprocess.SubprocessError):
        out = ""
    for raw in out.splitlines():
        try:
            msg = json.loads(raw)
        except ValueError:
            continue
        ret = msg.get("return") if isinstance(msg, dict) else None
        if isinstance(ret, list):
            for m in ret:
                if not isinstance(m, dict) or m.get("name") == "none":
                    continue
                machines.append(
                    MachineType(
                        name=str(m["name"]),
                        alias=m.get("alias"),
                        max_cpus=int(m.get("cpu-max", 0)),
                        deprecated=bool(m.get("deprecated", False)),
                        is_default=bool(m.get("is-default", False)),
                    )
                )
    if machines:
        return machines
    try:
        out = runner([path, "-machine", "help"], None)
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_machine_help(out)


def parse_machine_help(text: str) -> list[MachineType]:
    """Parse ``qemu-system-* -machine help`` (no maxCpus is known there)."""
    aliases: dict[str, str] = {}
    rows: list[tuple[str, bool, bool]] = []
    for ln in text.splitlines():
        m = re.match(r"^(\S+)\s+(.*)$", ln)
        if not m or ln.startswith("Supported machines"):
            continue
        name, desc = m.group(1), m.group(2)
        if name == "none":
            continue
        am = re.search(r"\(alias of (\S+)\)", desc)
        if am:
            aliases[am.group(1)] = name
            continue
        rows.append((name, "(default)" in desc, "(deprecated)" in desc))
    return [MachineType(name=n, alias=aliases.get(n), is_default=d, deprecated=dep) for n, d, dep in rows]


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _cpu_model_name(vendor: str | None, family: int | None, flags: set[str]) -> str:
    """A best-effort libvirt CPU model name for the host (libvirt computes this from CPUID)."""
    if vendor == "AMD":
        if family == 25:
            return "EPYC-Milan" if "pku" in flags else "EPYC-Rome"
        if family == 23:
            return "EPYC-Rome" if "clwb" in flags else "EPYC"
        return "Opteron_G5" if "fma4" in flags else "qemu64"
    if vendor == "Intel":
        if "avx512f" in flags:
            return "Skylake-Server" if "avx512bw" in flags else "Skylake-Client"
        if "avx2" in flags:
            return "Haswell"
        if "avx" in flags:
            return "SandyBridge"
        return "Nehalem" if "sse4_2" in flags else "qemu64"
    return "qemu64"


def _probe_host_cpu() -> HostCPU:
    arch = os.uname().machine
    text = _read("/proc/cpuinfo") or ""
    first: dict[str, str] = {}
    for ln in text.splitlines():
        if not ln.strip():
            if first:
                break
            continue
        k, _, v = ln.partition(":")
        first.setdefault(k.strip(), v.strip())
    vendor_raw = first.get("vendor_id")
    vendor = {"AuthenticAMD": "AMD", "GenuineIntel": "Intel"}.get(vendor_raw or "", vendor_raw)
    flags = set(first.get("flags", "").split())

    def num(key: str) -> int | None:
        try:
            return int(first[key], 0)
        except (KeyError, ValueError):
            return None

    family = num("cpu family")
    mhz = 0
    try:
        mhz = int(float(first.get("cpu MHz", "0")))
    except ValueError:
        pass
    phys_bits = None
    pm = re.search(r"(\d+) bits physical", first.get("address sizes", ""))
    if pm:
        phys_bits = int(pm.group(1))
    sockets, dies, cores, threads = _topology()
    return HostCPU(
        arch=arch,
        model=_cpu_model_name(vendor, family, flags) if arch in ("x86_64", "i686") else None,
        vendor=vendor,
        family=family,
        model_id=num("model"),
        stepping=num("stepping"),
        microcode=_microcode(first.get("microcode")),
        sockets=sockets,
        dies=dies,
        cores=cores,
        threads=threads,
        phys_bits=phys_bits,
        mhz=mhz,
        flags=tuple(sorted(flags)),
    )


def _microcode(value: str | None) -> str | None:
    """libvirt prints the microcode revision in decimal; /proc/cpuinfo has hex."""
    if not value:
        return None
    try:
        return str(int(value, 0))
    except ValueError:
        return None


def _online_cpus() -> list[int]:
    text = (_read("/sys/devices/system/cpu/online") or "").strip()
    cpus = _parse_cpu_list(text)
    return cpus or list(range(os.cpu_count() or 1))


def _parse_cpu_list(text: str) -> list[int]:
    result: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            result.extend(range(int(a), int(b) + 1))
        else:
            result.append(int(part))
    return result


def _cpu_topo(cpu: int) -> tuple[int, int, int, str]:
    base = f"/sys/devices/system/cpu/cpu{cpu}/topology/"

    def val(name: str, default: int) -> int:
        t = _read(base + name)
        try:
            return int(t.strip()) if t else default
        except ValueError:
            return default

    siblings = (_read(base + "thread_siblings_list") or str(cpu)).strip()
    return val("physical_package_id", 0), max(0, val("die_id", 0)), val("core_id", cpu), siblings


def _topology() -> tuple[int, int, int, int]:
    cpus = _online_cpus()
    topo = [_cpu_topo(c) for c in cpus]
    sockets = len({t[0] for t in topo}) or 1
    dies = len({(t[0], t[1]) for t in topo}) // sockets or 1
    cores = len({(t[0], t[1], t[2]) for t in topo}) // (sockets * dies) or 1
    threads = max(1, len(cpus) // (sockets * dies * cores))
    return sockets, dies, cores, threads


def _probe_numa(cpu: HostCPU) -> list[NumaCell]:
    base = "/sys/devices/system/node"
    nodes = _parse_cpu_list((_read(f"{base}/online") or "").strip())
    pages_sizes = _probe_page_sizes()
    cells: list[NumaCell] = []
    if not nodes:
        nodes = [0]
    for n in nodes:
        meminfo = _read(f"{base}/node{n}/meminfo") or ""
        mm = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
        mem = int(mm.group(1)) if mm else _meminfo_total()
        cpulist = _parse_cpu_list((_read(f"{base}/node{n}/cpulist") or "").strip()) or _online_cpus()
        ncpus = []
        for c in cpulist:
            s, d, core, sib = _cpu_topo(c)
            ncpus.append(NumaCPU(c, s, d, core, sib))
        dist_text = (_read(f"{base}/node{n}/distance") or "10").split()
        distances = tuple((i, int(v)) for i, v in enumerate(dist_text) if v.isdigit() and int(v))
        pages: list[tuple[int, int]] = []
        for size in pages_sizes:
            if size == 4:
                pages.append((4, mem // 4))
            else:
                free = _read(f"{base}/node{n}/hugepages/hugepages-{size}kB/nr_hugepages")
                pages.append((size, int(free.strip()) if free and free.strip().isdigit() else 0))
        if pages and len(pages) > 1:
            huge = sum(s * c for s, c in pages[1:])
            pages[0] = (4, max(0, mem - huge) // 4)
        cells.append(NumaCell(n, mem, tuple(ncpus), distances, tuple(pages)))
    return cells


def _meminfo_total() -> int:
    m = re.search(r"MemTotal:\s+(\d+) kB", _read("/proc/meminfo") or "")
    return int(m.group(1)) if m else 0


def _probe_page_sizes() -> tuple[int, ...]:
    sizes = [4]
    try:
        for name in os.listdir("/sys/kernel/mm/hugepages"):
            m = re.match(r"hugepages-(\d+)kB", name)
            if m:
                sizes.append(int(m.group(1)))
    except OSError:
        pass
    return tuple(sorted(set(sizes)))


def _probe_iommu() -> bool:
    try:
        return bool(os.listdir("/sys/kernel/iommu_groups"))
    except OSError:
        return False


def _probe_host_uuid() -> str | None:
    for path in ("/sys/class/dmi/id/product_uuid",):
        t = _read(path)
        if t and t.strip():
            try:
                return format_uuid(parse_uuid_bytes(t.strip()))
            except ValueError:
                pass
    mid = (_read("/etc/machine-id") or "").strip()
    if len(mid) == 32:
        try:
            return format_uuid(parse_uuid_bytes(mid))
        except ValueError:
            return None
    return None


def _node_info(cpu: HostCPU, cells: list[NumaCell]) -> NodeInfo:
    ncpus = len(_online_cpus())
    nodes = max(1, len(cells))
    sockets = max(1, cpu.sockets // nodes)
    cores, threads = cpu.cores * cpu.dies, cpu.threads
    if nodes * sockets * cores * threads != ncpus:
        # libvirt's fallback when the topology does not add up
        nodes, sockets, cores, threads = 1, 1, ncpus, 1
    return NodeInfo(
        model=cpu.arch,
        memory=_meminfo_total(),
        cpus=ncpus,
        mhz=cpu.mhz,
        nodes=nodes,
        sockets=sockets,
        cores=cores,
        threads=threads,
    )
