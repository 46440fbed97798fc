"""A1 notation for the Sheets emulator: parsing, resolving against a sheet, formatting.

Supported forms (as the Sheets API accepts them): ``Sheet!A1:B2``, ``'My Sheet'!A:C``,
``Sheet!A2:Z`` (open-ended rows), ``Sheet!2:5`` (whole rows), ``Sheet!A1`` (one cell), ``Sheet``
or ``'My Sheet'`` (whole sheet), ``A1:B2`` (first sheet), ``$A$1`` markers and lower case letters.
Quotes inside a quoted sheet name are doubled (``'It''s'``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_COLUMNS = 18278  # ZZZ
MAX_ROWS = 10_000_000

_ENDPOINT = re.compile(r"^\$?([A-Za-z]{1,3})?\$?([0-9]+)?$")
_CELL_LIKE = re.compile(r"^[A-Za-z]{1,3}[0-9]+$|^[Rr][0-9]*[Cc][0-9]*$")
_PLAIN_NAME = re.compile(r"^[^\W\d]\w*$")


class A1Error(ValueError):
    """Raised for text that is not a valid A1 range; ``str(exc)`` is the offending text."""


@dataclass(frozen=True)
class Bounds:
    """A rectangle of cells, 1-based and inclusive; ``None`` ends are open (to the grid's edge)."""

    start_row: int = 1
    start_col: int = 1
    end_row: int | None = None
    end_col: int | None = None

    @property
    def is_single_cell(self) -> bool:
        return self.end_row == self.start_row and self.end_col == self.start_col


@dataclass(frozen=True)
class ParsedRange:
    """A range as written: ``sheet`` is None when the text named no sheet (use the first one).

    ``bare`` holds the text of an unquoted range without ``!``: it may be a sheet name or cells
    (``Sheet1`` vs ``A1``), which only the list of sheet titles can settle.
    """

    sheet: str | None
    bounds: Bounds
    bare: str | None = None


def col_to_index(letters: str) -> int:
    """``A`` → 1, ``Z`` → 26, ``AA`` → 27."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n


def index_to_col(index: int) -> str:
    """1 → ``A``, 27 → ``AA``."""
    if index < 1:
        raise ValueError(f"column index must be >= 1, got {index}")
    out = ""
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def _endpoint(text: str, whole: str) -> tuple[int | None, int | None]:
    m = _ENDPOINT.match(text)
    if not m or (m.group(1) is None and m.group(2) is None):
        raise A1Error(whole)
    col = col_to_index(m.group(1)) if m.group(1) else None
    row = int(m.group(2)) if m.group(2) else None
    if row is not None and not 1 <= row <= MAX_ROWS:
        raise A1Error(whole)
    if col is not None and col > MAX_COLUMNS:
        raise A1Error(whole)
    return col, row


def parse_cells(text: str, whole: str | None = None) -> Bounds:
    """Parse the cell part of a range (``A1``, ``A1:B2``, ``A:C``, ``2:5``, ``A2:Z``)."""
    whole = text if whole is None else whole
    text = text.strip()
    if not text:
        raise A1Error(whole)
    parts = text.split(":")
    if len(parts) == 1:
        col, row = _endpoint(parts[0], whole)
        if col is None or row is None:
            raise A1Error(whole)
        return Bounds(row, col, row, col)
    if len(parts) != 2:
        raise A1Error(whole)
    c1, r1 = _endpoint(parts[0], whole)
    c2, r2 = _endpoint(parts[1], whole)
    # Both ends must agree on what they bound: "A:5" or "2:B" mix a column with a row.
    if (c1 is None and r1 is not None and c2 is not None and r2 is None) or (
        r1 is None and c1 is not None and r2 is not None and c2 is None
    ):
        raise A1Error(whole)
    start_col, end_col = c1 or 1, c2
    start_row, end_row = r1 or 1, r2
    if c1 is None and c2 is not None:  # "2:B5" – odd but harmless
        start_col = 1
    if end_col is not None and end_col < start_col:
        start_col, end_col = end_col, start_col
    if end_row is not None and end_row < start_row:
        start_row, end_row = end_row, start_row
    return Bounds(start_row, start_col, end_row, end_col)


def _split_sheet(text: str) -> tuple[str | None, str | None, bool]:
    """Split ``text`` into (sheet name, cell part, name was quoted)."""
    if text.startswith("'"):
        i, name = 1, []
        while i < len(text):
            ch = text[i]
            if ch == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    name.append("'")
                    i += 2
                    continue
                break
            name.append(ch)
            i += 1
        else:
            raise A1Error(text)  # unterminated quote
        rest = text[i + 1:]
        if rest == "":
            return "".join(name), None, True
        if not rest.startswith("!"):
            raise A1Error(text)
        return "".join(name), rest[1:], True
    if "!" in text:
        sheet, _, cells = text.rpartition("!")
        if not sheet:
            raise A1Error(text)
        return sheet, cells, False
    return None, text, False


def parse_a1(text: str) -> ParsedRange:
    """Parse a range without knowing the sheets (see ``resolve`` for bare names)."""
    if text is None or not str(text).strip():
        raise A1Error(text or "")
    text = str(text).strip()
    sheet, cells, quoted = _split_sheet(text)
    if sheet is not None and not sheet:
        raise A1Error(text)
    if cells is None:
        return ParsedRange(sheet, Bounds())
    if sheet is None:
        try:
            bounds = parse_cells(cells, text)
        except A1Error:
            return ParsedRange(None, Bounds(), bare=cells)  # maybe a sheet name
        return ParsedRange(None, bounds, bare=cells)
    if cells == "":
        raise A1Error(text)
    return ParsedRange(sheet, parse_cells(cells, text))


def find_sheet(titles: Sequence[str], name: str) -> str | None:
    """The title matching ``name`` exactly, else case-insensitively, else None."""
    if name in titles:
        return name
    low = name.casefold()
    for title in titles:
        if title.casefold() == low:
            return title
    return None


def resolve(text: str, titles: Sequence[str]) -> tuple[str, Bounds]:
    """Resolve ``text`` against the spreadsheet's sheet ``titles`` → (title, bounds).

    Raises ``A1Error`` for bad syntax or an unknown sheet (the API answers both with
    ``Unable to parse range``).
    """
    parsed = parse_a1(text)
    if parsed.sheet is not None:
        title = find_sheet(titles, parsed.sheet)
        if title is None:
            raise A1Error(text)
        return title, parsed.bounds
    bare = parsed.bare or ""
    title = find_sheet(titles, bare)
    if title is not None:
        return title, Bounds()
    if not titles:
        raise A1Error(text)
    try:
        return titles[0], parse_cells(bare, text)
    except A1Error:
        raise A1Error(text) from None


def quote_sheet(title: str) -> str:
    """Quote a sheet title the way the API does in the ranges it returns."""
    if _PLAIN_NAME.match(title) and not _CELL_LIKE.match(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def format_range(title: str, start_row: int, start_col: int, end_row: int, end_col: int) -> str:
    """``Leads!A1:H20`` (or ``Leads!A1`` for one cell)."""
    first = f"{index_to_col(start_col)}{start_row}"
    if start_row == end_row and start_col == end_col:
        return f"{quote_sheet(title)}!{first}"
    return f"{quote_sheet(title)}!{first}:{index_to_col(end_col)}{end_row}"
