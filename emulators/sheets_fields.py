"""FieldMask support (the ``fields`` system parameter) for the Sheets emulator's answers.

Syntax as Google documents it: comma-separated paths, ``a.b`` for nested fields and
``a(b,c(d))`` for several sub-fields; ``*`` selects everything at its level. A mask applies to
every element of a list it passes through (``sheets(properties(title,sheetId))``).
"""

from __future__ import annotations

from typing import Any

from .sheets_errors import ApiError

Mask = dict[str, "Mask"]  # an empty dict means "the whole field"


def _bad(text: str) -> ApiError:
    return ApiError(400, f"Invalid field selection {text}", details=[{
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": "fields", "description": f"Invalid field selection {text}"}]}])


def parse_mask(text: str) -> Mask:
    """Parse ``text`` into a tree; raises a 400 ApiError for unbalanced or empty parts."""
    pos = 0

    def parse_list(depth: int) -> Mask:
        nonlocal pos
        mask: Mask = {}
        while True:
            start = pos
            while pos < len(text) and text[pos] not in ",()":
                pos += 1
            path = text[start:pos].strip()
            if not path:
                raise _bad(text)
            names = path.split(".")
            if any(not n.strip() for n in names):
                raise _bad(text)
            node = mask
            for name in names[:-1]:
                node = node.setdefault(name.strip(), {})
            leaf = node.setdefault(names[-1].strip(), {})
            if pos < len(text) and text[pos] == "(":
                pos += 1
                _merge(leaf, parse_list(depth + 1))
                if pos >= len(text) or text[pos] != ")":
                    raise _bad(text)
                pos += 1
            if pos >= len(text):
                if depth:
                    raise _bad(text)
                return mask
            if text[pos] == ")":
                if not depth:
                    raise _bad(text)
                return mask
            if text[pos] == ",":
                pos += 1
                continue
            raise _bad(text)

    return parse_list(0)


def _merge(into: Mask, other: Mask) -> None:
    for key, sub in other.items():
        _merge(into.setdefault(key, {}), sub)


def apply_mask(value: Any, mask: Mask) -> Any:
    """Keep only the masked fields of ``value`` (lists are masked element by element)."""
    if not mask or "*" in mask and len(mask) == 1:
        return value
    if isinstance(value, list):
        return [apply_mask(v, mask) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, sub in mask.items():
        if key == "*":
            for k, v in value.items():
                out.setdefault(k, v)
        elif key in value:
            out[key] = apply_mask(value[key], sub)
    return out


def check_known(mask: Mask, sample: dict[str, Any], known: set[str]) -> None:
    """Google rejects a top-level field the response type does not have."""
    for key in mask:
        if key != "*" and key not in known and key not in sample:
            raise _bad(key)
