r"""Card descriptions: a lead's synced fields in one delimited block that ends with its ``Lead ID:`` marker.

The Markdown stored in Trello (``render``) is a person's free text, then the block::

    Met them at the fair, call back in May.

    — Lead fields, synced with the sheet (type \\n for a line break) —
    Email: a@b.c
    Notes: Met at the fair\\nPhone: 555-0100
    Lead ID: L-0123456789ab
    — End of lead fields —

Each value is one line, in two escaping layers. *Text* (what Trello shows and a person types):
``\\`` a backslash, ``\n`` a line break, ``\r`` and ``\t``, ``\s`` a space at either end of the
value, ``\uXXXX`` any other invisible character (controls, line/paragraph separators, surrogates,
BOM) and, in column names only, ``\:`` a colon; an unknown ``\x`` is read as typed. *Markdown*: the
text's ``\ ` * _ [ ] < > ~ |`` (and ``&`` before an entity, ``:`` before an emoji code, a column
name's line-start marks) are backslash-escaped, so Trello shows the text as is; on reading, every
CommonMark escape and character reference is decoded, so the escapes Trello's editor adds change
nothing. A value that is too long for Trello's 16,384-character limit is cut to a prefix and
``TRUNCATED``; such a field is read back as missing (not as a change).

The block is ours: its first and last lines cannot come from a value (every value line has a
column and a colon), and the marker is only recognised as the block's last ``Lead ID:`` line.
A person's text above the block, a stray line inside it and text below it are all kept, folded
into ``preamble`` in that order (``render`` writes the preamble above the block). A description
without a block is read in the old format (``Column: value`` lines, then ``Lead ID: <id>``).
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

MARKER_PREFIX = "Lead ID:"
MAX_LENGTH = 16384  # Trello's description limit, in UTF-16 code units
TRUNCATED = "… (truncated, the full text is in the sheet)"
_START = "— Lead fields, synced with the sheet (type \\n for a line break) —"
_END = "— End of lead fields —"

_OLD_MARKER = re.compile(r"^\s*Lead ID:\s*(\S+)\s*$", re.MULTILINE)
_TEXT_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TEXT_UNESCAPES = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t", "s": " ", ":": ":"}
_TEXT_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|(.))", re.DOTALL)
_MD_ESCAPE = re.compile(r"[\\`*_\[\]<>~|]|&(?=#?\w+;)|:(?=[\w+-]+:)")
_MD_DECODE = re.compile(r"\\([!-/:-@\[-`{-~])|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_LINE_START = re.compile(r"^(\d*)([#>+=.)-])")
_FIELD = re.compile(r"((?:[^\\:]|\\.)*):(.*)", re.DOTALL)


@dataclass
class ParsedDescription:
    fields: dict[str, str] = field(default_factory=dict)
    preamble: str = ""
    lead_id: str | None = None


def marker(lead_id: str) -> str:
    return f"{MARKER_PREFIX} {lead_id}"


# ---------------------------------------------------------------------- escaping


def _text_char(char: str, edge: bool) -> str:
    if char in _TEXT_ESCAPES:
        return _TEXT_ESCAPES[char]
    if edge and char == " ":
        return "\\s"
    if (edge and char.isspace()) or char == "\ufeff" or unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp"):
        return f"\\u{ord(char):04x}"
    return char


def _text(value: str, colon: bool = False, cut: bool = False) -> str:
    """A value as one line of text a person can read and edit (``cut``: a prefix, its end not an edge)."""
    last = -1 if cut else len(value) - 1
    text = "".join(_text_char(c, i in (0, last)) for i, c in enumerate(value))
    return text.replace(":", "\\:") if colon else text


def _untext(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        return chr(int(m.group(1), 16)) if m.group(1) else _TEXT_UNESCAPES.get(m.group(2), m.group(0))

    return _TEXT_ESCAPE.sub(one, text)


def _md(text: str) -> str:
    """Text as Markdown that Trello shows as that text."""
    return _MD_ESCAPE.sub(lambda m: "\\" + m.group(), text)


def _unmd(source: str) -> str:
    return _MD_DECODE.sub(lambda m: m.group(1) or html.unescape(m.group()), source)


def _clean(line: str) -> str:
    """A Markdown line as text: surrounding spaces and a hard-break backslash dropped, escapes decoded."""
    line = line.strip()
    if (len(line) - len(line.rstrip("\\"))) % 2:
        line = line[:-1].rstrip()
    return _unmd(line)


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _u16(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _lines(desc: str) -> list[str]:
    return (desc or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")


# ---------------------------------------------------------------------- rendering


def _head(column: str) -> str:
    return _LINE_START.sub(r"\1\\\2", _md(_text(column, colon=True)))


def _body(value: str) -> str:
    text = _text(value)
    if text.endswith(TRUNCATED):  # a value that merely ends like the note is not read as truncated
        text = text[: -len(TRUNCATED)] + "\\u2026" + TRUNCATED[1:]
    return _md(text)


def _assemble(preamble: str, heads: list[str], bodies: list[str], lead_id: str) -> str:
    lines = [preamble, ""] if preamble else []
    lines.append(_md(_START))
    lines += [f"{head}: {body}" if body else f"{head}:" for head, body in zip(heads, bodies, strict=True)]
    lines += [f"{MARKER_PREFIX} {_md(_text(lead_id))}".rstrip(), _md(_END)]
    return "\n".join(lines)


@lru_cache(maxsize=4096)
def _cost(char: str, edge: bool) -> int:
    """An upper bound of a character's size in a value's Markdown (``&`` and ``:`` counted as escaped)."""
    return 2 if char in "&:" else _u16(_md(_text_char(char, edge)))


def _prefix_costs(value: str) -> list[int]:
    costs = [0]
    for i, char in enumerate(value):
        costs.append(costs[-1] + _cost(char, i == 0))
    return costs


def _cut(value: str, costs: list[int], room: int) -> str:
    """The value's longest prefix that fits ``room`` with the truncation note, as Markdown."""
    keep = max(bisect_right(costs, room - _u16(TRUNCATED)) - 1, 0)
    return _md(_text(value[:keep], cut=True)) + _md(TRUNCATED)


def _fit(preamble: str, heads: list[str], values: list[str], lead_id: str) -> str:
    """Cut the longest values to one common size, the largest that keeps the description in the limit."""
    bodies = [_body(v) for v in values]
    sizes = [_u16(b) for b in bodies]
    floor_ = _u16(TRUNCATED)
    costs = [_prefix_costs(v) if s > floor_ else [] for v, s in zip(values, sizes, strict=True)]

    def at(cap: int) -> list[str]:
        floor = max(cap, floor_)
        return [b if s <= floor else _cut(v, c, cap) for v, b, s, c in zip(values, bodies, sizes, costs, strict=True)]

    low, high = 0, max(sizes, default=0)
    while low < high:
        mid = (low + high + 1) // 2
        if _u16(_assemble(preamble, heads, at(mid), lead_id)) <= MAX_LENGTH:
            low = mid
        else:
            high = mid - 1
    return _assemble(preamble, heads, at(low), lead_id)


def render(values: dict[str, str], columns: Sequence[str], lead_id: str, preamble: str = "") -> str:
    """The preamble, then the block of ``columns`` and the marker; values cut only to fit Trello's limit.

    If the preamble and the block's fixed lines alone exceed the limit, the result does too.
    """
    pre = "\n".join(_lines(preamble)).strip()
    heads = [_head(c) for c in columns]
    values_ = [str(values.get(c, "")) for c in columns]
    desc = _assemble(pre, heads, [_body(v) for v in values_], lead_id)
    return desc if _u16(desc) <= MAX_LENGTH else _fit(pre, heads, values_, lead_id)


# ---------------------------------------------------------------------- parsing


_START_KEY, _END_KEY = _key(_START), _key(_END)


def _span(texts: list[str]) -> tuple[int, int] | None:
    """(start, end) line indexes of the block: the last start line with an end line after it.

    A start without an end runs to the last line; an end without a start, from the first line.
    """
    starts = [i for i, t in enumerate(texts) if _key(t) == _START_KEY]
    ends = [i for i, t in enumerate(texts) if _key(t) == _END_KEY]
    for start in reversed(starts):
        after = [e for e in ends if e > start]
        if after:
            return start, after[0]
    if starts:
        return starts[-1], len(texts)
    return (-1, ends[0]) if ends else None


def _field(text: str) -> tuple[str, str] | None:
    """(column as written, escaped value) of a ``Column: value`` text line."""
    match = _FIELD.fullmatch(text)
    return (_untext(match.group(1)), match.group(2).strip()) if match else None


def _marker_line(texts: list[str], start: int, end: int) -> int | None:
    for i in range(min(end, len(texts)) - 1, start, -1):
        parts = _field(texts[i])
        if parts and _key(parts[0]) == "lead id":
            return i
    return None


def _old_lead_id(desc: str) -> str | None:
    found = _OLD_MARKER.findall(desc or "")
    return found[-1] if found else None


def find_lead_id(desc: str) -> str | None:
    """The block's marker; in the old format, the last ``Lead ID:`` line."""
    texts = [_clean(line) for line in _lines(desc)]
    span = _span(texts)
    if span is None:
        return _old_lead_id(desc)
    line = _marker_line(texts, *span)
    parts = _field(texts[line]) if line is not None else None
    return (_untext(parts[1]) or None) if parts else None


def parse(desc: str, columns: Sequence[str]) -> ParsedDescription:
    """Read the fields back; a column whose line is missing (or truncated) is left out, not cleared."""
    lines = _lines(desc)
    texts = [_clean(line) for line in lines]
    span = _span(texts)
    if span is None:
        return _parse_old(desc, columns)
    start, end = span
    exact = {column: column for column in columns}
    folded = {_key(column): column for column in columns}
    mark = _marker_line(texts, start, end)
    result = ParsedDescription()
    stray: list[str] = []
    for i in range(start + 1, min(end, len(lines))):
        parts = _field(texts[i]) if texts[i] else None
        column = (exact[parts[0]] if parts[0] in exact else folded.get(_key(parts[0]))) if parts else None
        if i == mark and parts:
            result.lead_id = _untext(parts[1]) or None
        elif parts and column is not None:
            if not parts[1].endswith(TRUNCATED):
                result.fields[column] = _untext(parts[1])
        elif texts[i]:
            stray.append(lines[i])
    above = "\n".join(lines[: max(start, 0)]).strip()
    below = "\n".join(lines[end + 1:]).strip()
    result.preamble = "\n\n".join(p for p in (above, "\n".join(stray).strip(), below) if p)
    return result


def _parse_old(desc: str, columns: Sequence[str]) -> ParsedDescription:
    """The previous format, read as before (kept for cards written before the block existed)."""
    by_key = {column.casefold(): column for column in columns}
    result = ParsedDescription(lead_id=_old_lead_id(desc))
    preamble: list[str] = []
    current: str | None = None
    pending_blank = 0
    for line in (desc or "").replace("\r\n", "\n").split("\n"):
        if _OLD_MARKER.match(line):
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
