"""virsh's table printer (``tools/vsh-table.c``).

Every line starts with one space; a cell that is not the last is padded to
its column's width plus two spaces; the last column has no trailing padding.
The header and a divider of ``width + 3`` dashes per column are printed only
when ``header`` is true (virsh hides them with ``-q``), and column widths
count the header only when it is printed.  Control characters in cells are
shown as ``\\xNN``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing slows pyvirsh start-up

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Table", "display_width", "sanitize"]


def sanitize(cell: str) -> str:
    """Escape control characters (and a literal ``\\x``) the way vsh-table does."""
    if cell.isprintable() and "\\x" not in cell:
        return cell
    out: list[str] = []
    i = 0
    while i < len(cell):
        ch = cell[i]
        if ch == "\\" and cell[i + 1 : i + 2] == "x":
            out.append("\\x5c")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or (0x80 <= ord(ch) < 0xA0):
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def display_width(text: str) -> int:
    """Terminal columns used by ``text`` (wide East Asian = 2, combining = 0)."""
    if text.isascii():
        return len(text)
    import unicodedata

    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


class Table:
    """A vshTable: a header row and data rows of the same length."""

    def __init__(self, *header: str) -> None:
        self.header = [sanitize(h) for h in header]
        self.rows: list[list[str]] = []

    def add_row(self, *cells: object) -> None:
        """Append a row; raises ValueError when the cell count differs from the header."""
        if len(cells) != len(self.header):
            raise ValueError(f"row has {len(cells)} cells, table has {len(self.header)} columns")
        self.rows.append([sanitize(str(c)) for c in cells])

    def render(self, header: bool = True) -> str:
        """The table text; ``header=False`` is virsh's ``--quiet`` form."""
        rows: Sequence[list[str]] = ([self.header] if header else []) + self.rows
        ncols = len(self.header)
        widths = [0] * ncols
        for row in rows:
            for col, cell in enumerate(row):
                widths[col] = max(widths[col], display_width(cell))
        out: list[str] = []
        for index, row in enumerate(rows):
            line: list[str] = []
            for col, cell in enumerate(row):
                line.append(" ")
                line.append(cell)
                if col != ncols - 1:
                    line.append(" " * (widths[col] - display_width(cell) + 2))
            line.append("\n")
            out.append("".join(line))
            if header and index == 0:
                out.append("".join("-" * (w + 3) for w in widths) + "\n")
        return "".join(out)
