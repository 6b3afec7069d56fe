"""docker's tabwriter (Go's text/tabwriter, elastic tabstops): the alignment of every table
the CLI prints. Apart from the template evaluator (gotemplate) so that a listing in its
default format is aligned without loading the evaluator (the CLI's start is measured)."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["tabwrite", "text_width"]


class _Cell:
    __slots__ = ("htab", "text", "width")

    def __init__(self, text: str, width: int, htab: bool) -> None:
        self.text, self.width, self.htab = text, width, htab


def text_width(text: str) -> int:
    """Display columns, as go-runewidth counts them: wide East Asian characters take two,
    combining marks none."""
    if text.isascii():
        return len(text)
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


_CELL_END = re.compile(r"[\t\v\n\f]")


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """docker's tabwriter (Go's text/tabwriter, elastic tabstops) as the formatter sets it up:
    NewWriter(out, 10, 1, 3, ' ', 0), padding with spaces (its tab width of 1 only matters
    when padding with tabs). Tab-terminated cells of consecutive lines form columns padded
    to their widest cell; a line without a tab ends the block."""
    out: list[str] = []
    lines: list[list[_Cell]] = [[]]

    def terminate(cell: str, htab: bool) -> int:
        lines[-1].append(_Cell(cell, text_width(cell), htab))
        return len(lines[-1])

    def flush(pending: str) -> None:
        if pending:
            terminate(pending, False)
        _format(out, lines, [], 0, len(lines), minwidth, padding)
        lines[:] = [[]]

    pos = 0
    for end in _CELL_END.finditer(text):
        cell, ch, pos = text[pos : end.start()], end.group(), end.end()
        if ch in "\t\v":
            terminate(cell, ch == "\t")
            continue
        ncells = terminate(cell, False)
        lines.append([])
        if ch == "\f" or ncells == 1:
            flush("")
    flush(text[pos:])
    return "".join(out)


def _write_lines(
    out: list[str], lines: list[list[_Cell]], widths: list[int], line0: int, line1: int
) -> None:
    for i in range(line0, line1):
        for j, cell in enumerate(lines[i]):
            out.append(cell.text)
            if j < len(widths):
                out.append(" " * (widths[j] - cell.width))
        if i + 1 < len(lines):
            out.append("\n")


def _format(
    out: list[str],
    lines: list[list[_Cell]],
    widths: list[int],
    line0: int,
    line1: int,
    minwidth: int,
    padding: int,
) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        # This line has a cell in this column: it starts a block of lines that all do.
        _write_lines(out, lines, widths, line0, this)
        line0 = this
        width = minwidth
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, lines[this][column].width + padding)
            this += 1
        widths.append(width)
        _format(out, lines, widths, line0, this, minwidth, padding)
        widths.pop()
        line0 = this
    _write_lines(out, lines, widths, line0, line1)
