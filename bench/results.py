"""Benchmark rows, their statistics, the printed table and the JSON file."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Side status values: measured, not measurable because a command is missing, failed, or not run.
OK, MISSING, ERROR, SKIPPED = "ok", "missing", "error", "skipped"


@dataclass
class Side:
    """One daemon's measurements for a row: raw samples (in the row's unit) or why there are none."""

    samples: list[float] = field(default_factory=list)
    status: str = OK
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.status == OK and self.samples else None

    @property
    def min(self) -> float | None:
        return min(self.samples) if self.status == OK and self.samples else None

    @property
    def max(self) -> float | None:
        return max(self.samples) if self.status == OK and self.samples else None

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "n": len(self.samples),
            "median": self.median,
            "min": self.min,
            "max": self.max,
        }


def missing(note: str) -> Side:
    return Side(status=MISSING, note=note)


def error(note: str) -> Side:
    return Side(status=ERROR, note=note[:400])


def skipped(note: str) -> Side:
    return Side(status=SKIPPED, note=note)


@dataclass
class Row:
    """A line of the table: the same measurement against pyvirtd and against libvirtd."""

    group: str
    name: str
    unit: str  # "ms" or "MiB"
    pyvirt: Side
    libvirt: Side
    pyvirt_client: str = ""
    libvirt_client: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """pyvirt median / libvirt median (lower is better for pyvirt)."""
        p, lv = self.pyvirt.median, self.libvirt.median
        if p is None or lv is None or lv == 0:
            return None
        return p / lv

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "name": self.name,
            "unit": self.unit,
            "pyvirt_client": self.pyvirt_client,
            "libvirt_client": self.libvirt_client,
            "pyvirt": self.pyvirt.to_json(),
            "libvirt": self.libvirt.to_json(),
            "ratio": self.ratio,
            "note": self.note,
        }


#: Table sections, in printing order.
GROUP_TITLES = {
    "cli": "1. Whole-process CLI latency (one command = one process)",
    "api": "2. API throughput in one client process",
    "network": "3. Network lifecycle (NAT + DHCP network, libvirt-python client)",
    "guest": "4. Domain lifecycle with the test guest (libvirt-python client)",
    "memory": "5a. Daemon memory (VmRSS)",
    "startup": "5b. Client start-up, no daemon call",
    "daemon": "5c. Daemon start-up",
    "scale": "6. How cost grows with the number of defined domains",
}


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _cell(side: Side) -> tuple[str, str]:
    if side.status != OK or not side.samples:
        return side.status if side.status != OK else "-", ""
    return _num(side.median), f"{_num(side.min)}-{_num(side.max)}"


def format_table(rows: list[Row]) -> str:
    """The table printed at the end: medians, min-max, ratio pyvirt/libvirt, grouped."""
    header = ("row", "unit", "pyvirt", "min-max", "libvirt", "min-max", "ratio")
    lines: list[tuple[str, ...]] = []
    seen: list[str] = []
    order = list(GROUP_TITLES)
    rows = sorted(rows, key=lambda r: order.index(r.group) if r.group in order else len(order))
    for r in rows:
        if r.group not in seen:
            seen.append(r.group)
            lines.append((f"## {GROUP_TITLES.get(r.group, r.group)}",))
        p, pr = _cell(r.pyvirt)
        lv, lr = _cell(r.libvirt)
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
        lines.append((r.name, r.unit, p, pr, lv, lr, ratio))
    widths = [len(h) for h in header]
    for ln in lines:
        if len(ln) == len(header):
            widths = [max(w, len(c)) for w, c in zip(widths, ln, strict=True)]
    out = []

    def fmt(cols: tuple[str, ...]) -> str:
        left = cols[0].ljust(widths[0])
        rest = "  ".join(c.rjust(w) for c, w in zip(cols[1:], widths[1:], strict=True))
        return f"{left}  {rest}".rstrip()

    out.append(fmt(header))
    out.append("-" * len(fmt(header)))
    for ln in lines:
        out.append(ln[0] if len(ln) == 1 else fmt(ln))
    notes: list[str] = []
    for r in rows:
        sides = [
            ("", r.note, OK),
            ("pyvirt: ", r.pyvirt.note, r.pyvirt.status),
            ("libvirt: ", r.libvirt.note, r.libvirt.status),
        ]
        notes += [f"  {r.name}: {who}{text}" for who, text, status in sides if text and status != SKIPPED]
    if notes:
        out += ["", "Notes:", *notes]
    return "\n".join(out)


def write_json(path: Path, rows: list[Row], meta: dict[str, Any]) -> None:
    """Write ``{"meta": ..., "rows": [...]}`` to ``path`` (directories created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"meta": meta, "rows": [r.to_json() for r in rows]}
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
