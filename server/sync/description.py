"""Card descriptions: the lead's fields as ``Header: value`` lines and a ``Lead ID:`` marker.

The marker lets a lost database be rebuilt from the board and lets crash recovery find a card
it created. Free text a person writes above the fields is kept as the card's preamble.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MARKER_PREFIX = "Lead ID:"
_MARKER = re.compile(r"^\s*Lead ID:\s*(\S+)\s*$", re.MULTILINE)


@dataclass
class ParsedDescription:
    fields: dict[str, str] = field(default_factory=dict)
    preamble: str = ""
    lead_id: str | None = None


def marker(lead_id: str) -> str:
    return f"{MARKER_PREFIX} {lead_id}"


def render(values: dict[str, str], columns: tuple[str, ...] | list[str], lead_id: str, preamble: str = "") -> str:
    lines: list[str] = []
    if preamble.strip():
        lines += [preamble.rstrip(), ""]
    for column in columns:
        lines.append(f"{column}: {values.get(column, '')}".rstrip())
    if columns:
        lines.append("")
    lines.append(marker(lead_id))
    return "\n".join(lines)


def find_lead_id(desc: str) -> str | None:
    match = _MARKER.search(desc or "")
    return match.group(1) if match else None


def parse(desc: str, columns: tuple[str, ...] | list[str]) -> ParsedDescription:
    """Read the field lines back; a column whose line is missing is left out (not cleared)."""
    by_key = {column.casefold(): column for column in columns}
    result = ParsedDescription(lead_id=find_lead_id(desc))
    preamble: list[str] = []
    current: str | None = None
    pending_blank = 0
    for line in (desc or "").replace("\r\n", "\n").split("\n"):
        if _MARKER.match(line):
            current = None
            continue
        head, sep, rest = line.partition(":")
        column = by_key.get(head.strip().casefold()) if sep else None
        if column is not None:
            result.fields[column] = rest.strip()
            current = column
            pending_blank = 0
        elif current is not None:
            if not line.strip():
                pending_blank += 1
                continue
            result.fields[current] += "\n" * (pending_blank + 1) + line.rstrip()
            pending_blank = 0
        elif not result.fields:
            preamble.append(line)
    result.preamble = "\n".join(preamble).strip()
    return result
