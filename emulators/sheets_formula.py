"""A small formula evaluator for the Sheets emulator.

Covers arithmetic (``+ - * / ^``, unary minus), comparisons, ``&``, cell references (``A1``,
``$B$2``, ``Other!C3``, ``'My sheet'!A1:B9``, ``A:A``), and the functions in ``FUNCTIONS``.
Any other function or name gives ``#NAME?`` as Sheets does; a reference that loops back on
itself gives ``#REF!``; text that does not parse gives ``#ERROR!``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .sheets_a1 import col_to_index, index_to_col

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"]|"")*")
  | (?P<func>[A-Za-z_][A-Za-z0-9_.]*)(?=\s*\()
  | (?P<ref>(?:(?P<sheet>'(?:[^']|'')+'|[A-Za-z_][A-Za-z0-9_]*)!)?
        (?P<cells>\$?[A-Za-z]{1,3}\$?[0-9]+(?::\$?[A-Za-z]{1,3}\$?[0-9]+)?
                 |\$?[A-Za-z]{1,3}:\$?[A-Za-z]{1,3}))
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<op><>|<=|>=|[-+*/^&=<>(),:;%])
""", re.VERBOSE)
_CELL = re.compile(r"^(\$?)([A-Za-z]{1,3})(\$?)([0-9]+)?$")


@dataclass(frozen=True)
class CellError:
    """A formula error value (``#DIV/0!``…); ``type`` is the API's ``ErrorValue.type``."""

    code: str
    message: str

    @property
    def type(self) -> str:
        return ERROR_TYPES[self.code]


ERROR_TYPES = {"#NAME?": "NAME", "#DIV/0!": "DIVIDE_BY_ZERO", "#VALUE!": "VALUE", "#REF!": "REF",
               "#ERROR!": "ERROR", "#N/A": "N_A", "#NUM!": "NUM"}


class _Fail(Exception):
    def __init__(self, error: CellError) -> None:
        self.error = error


def _fail(code: str, message: str) -> _Fail:
    return _Fail(CellError(code, message))


class Cells(Protocol):
    """What the evaluator needs from the spreadsheet: evaluated cell values by position."""

    def value(self, sheet: str | None, row: int, col: int) -> Any: ...

    def box(self, sheet: str | None, r1: int, c1: int, r2: int | None, c2: int | None) -> list[Any]: ...


@dataclass(frozen=True)
class Ref:
    sheet: str | None
    r1: int
    c1: int
    r2: int | None
    c2: int | None

    @property
    def single(self) -> bool:
        return self.r1 == self.r2 and self.c1 == self.c2


def _tokens(text: str) -> list[tuple[str, str, Any]]:
    out: list[tuple[str, str, Any]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise _fail("#ERROR!", "Formula parse error.")
        pos = m.end()
        kind = m.lastgroup if m.lastgroup not in ("sheet", "cells") else "ref"
        if kind == "ws":
            continue
        out.append((kind or "op", m.group(0), m))
    return out


def _parse_ref(m: re.Match[str]) -> Ref:
    sheet = m.group("sheet")
    if sheet and sheet.startswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    ends = []
    for part in m.group("cells").split(":"):
        cm = _CELL.match(part)
        assert cm is not None
        ends.append((int(cm[4]) if cm[4] else None, col_to_index(cm[2])))
    (r1, c1) = ends[0]
    (r2, c2) = ends[-1]
    return Ref(sheet, r1 or 1, min(c1, c2), r2 if r1 else None, max(c1, c2))


def _number(v: Any) -> float:
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, CellError):
        raise _Fail(v)
    if hasattr(v, "serial"):
        return float(v.serial)
    try:
        return float(str(v).strip())
    except ValueError:
        raise _fail("#VALUE!", f"Function expects number values. But '{v}' is a text and cannot "
                               "be coerced to a number.") from None


def _text(v: Any) -> str:
    if isinstance(v, CellError):
        raise _Fail(v)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else format(v, ".15g")
    if hasattr(v, "text"):
        return str(v.text())
    return str(v)


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        if v.upper() in ("TRUE", "FALSE"):
            return v.upper() == "TRUE"
        raise _fail("#VALUE!", f"Function IF parameter 1 expects boolean values. But '{v}' is a "
                               "text and cannot be coerced to a boolean.")
    return bool(_number(v))


def _numbers(args: list[Any]) -> list[float]:
    """Numbers of the arguments: ranges contribute only their numbers, scalars are coerced."""
    out: list[float] = []
    for arg in args:
        if isinstance(arg, list):
            for v in arg:
                if isinstance(v, CellError):
                    raise _Fail(v)
                if isinstance(v, (int, float)) and not isinstance(v, bool) or hasattr(v, "serial"):
                    out.append(_number(v))
        elif arg is not None:
            out.append(_number(arg))
    return out


def _average(args: list[Any]) -> float:
    nums = _numbers(args)
    if not nums:
        raise _fail("#DIV/0!", "Evaluation of function AVERAGE caused a divide by zero error.")
    return sum(nums) / len(nums)


def _count(args: list[Any]) -> float:
    n = 0
    for arg in args:
        values = arg if isinstance(arg, list) else [arg]
        n += sum(1 for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
                 or hasattr(v, "serial"))
    return float(n)


def _counta(args: list[Any]) -> float:
    return float(sum(sum(1 for v in a if v not in (None, "")) if isinstance(a, list) else 1
                     for a in args))


FUNCTIONS: dict[str, Callable[[list[Any]], Any]] = {
    "SUM": lambda a: sum(_numbers(a)),
    "AVERAGE": _average,
    "MIN": lambda a: min(_numbers(a), default=0.0),
    "MAX": lambda a: max(_numbers(a), default=0.0),
    "COUNT": _count,
    "COUNTA": _counta,
    "CONCATENATE": lambda a: "".join(_text(v) for arg in a
                                     for v in (arg if isinstance(arg, list) else [arg])),
}

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b,
    ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
}


def _div(a: float, b: float) -> float:
    if b == 0:
        raise _fail("#DIV/0!", "Function DIVIDE parameter 2 cannot be zero.")
    return a / b


_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": _div,
    "^": lambda a, b: a ** b,
}


def _comparable(v: Any) -> tuple[int, Any]:
    if v is None:
        return (0, 0.0)
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, str):
        return (1, v.casefold())
    return (0, _number(v))


class _Parser:
    """Recursive descent over the tokens, evaluating as it goes (no AST needed)."""

    def __init__(self, tokens: list[tuple[str, str, Any]], cells: Cells) -> None:
        self.tokens = tokens
        self.pos = 0
        self.cells = cells

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str, Any]:
        if self.pos >= len(self.tokens):
            raise _fail("#ERROR!", "Formula parse error.")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def expect(self, text: str) -> None:
        if self.take()[1] != text:
            raise _fail("#ERROR!", "Formula parse error.")

    def scalar(self, v: Any) -> Any:
        if isinstance(v, Ref):
            if not v.single:
                raise _fail("#VALUE!", "An array value could not be found.")
            v = self.cells.value(v.sheet, v.r1, v.c1)
        if isinstance(v, CellError):
            raise _Fail(v)
        return v

    def expression(self) -> Any:
        left = self.concat()
        while self.peek() in _COMPARE:
            op = self.take()[1]
            right = self.scalar(self.concat())
            left = _COMPARE[op](_comparable(self.scalar(left)), _comparable(right))
        return left

    def concat(self) -> Any:
        left = self.additive()
        while self.peek() == "&":
            self.take()
            left = _text(self.scalar(left)) + _text(self.scalar(self.additive()))
        return left

    def additive(self) -> Any:
        left = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            left = _ARITH[op](_number(self.scalar(left)), _number(self.scalar(self.term())))
        return left

    def term(self) -> Any:
        left = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()[1]
            left = _ARITH[op](_number(self.scalar(left)), _number(self.scalar(self.unary())))
        return left

    def unary(self) -> Any:
        if self.peek() in ("-", "+"):
            sign = -1.0 if self.take()[1] == "-" else 1.0
            return sign * _number(self.scalar(self.unary()))
        return self.power()

    def power(self) -> Any:
        left = self.primary()
        while self.peek() == "^":
            self.take()
            left = _ARITH["^"](_number(self.scalar(left)), _number(self.scalar(self.primary())))
        if self.peek() == "%":
            self.take()
            left = _number(self.scalar(left)) / 100
        return left

    def primary(self) -> Any:
        kind, text, m = self.take()
        if kind == "number":
            return float(text)
        if kind == "string":
            return text[1:-1].replace('""', '"')
        if kind == "ref":
            return _parse_ref(m)
        if kind == "func":
            return self.call(text.upper())
        if kind == "name":
            if text.upper() in ("TRUE", "FALSE"):
                return text.upper() == "TRUE"
            raise _fail("#NAME?", f"Unknown range name: '{text.upper()}'.")
        if text == "(":
            value = self.expression()
            self.expect(")")
            return value
        raise _fail("#ERROR!", "Formula parse error.")

    def arguments(self) -> list[Any]:
        self.expect("(")
        args: list[Any] = []
        if self.peek() == ")":
            self.take()
            return args
        while True:
            args.append(self.expression())
            sep = self.take()[1]
            if sep == ")":
                return args
            if sep not in (",", ";"):
                raise _fail("#ERROR!", "Formula parse error.")

    def call(self, name: str) -> Any:
        if name == "IF":
            return self.call_if()
        if name not in FUNCTIONS:
            raise _fail("#NAME?", f"Unknown function: '{name}'.")
        # a reference argument, even to one cell, is a range: SUM(A1) ignores text in A1
        args = [self.cells.box(a.sheet, a.r1, a.c1, a.r2, a.c2) if isinstance(a, Ref)
                else self.scalar(a) for a in self.arguments()]
        return FUNCTIONS[name](args)

    def call_if(self) -> Any:
        args = self.arguments()
        if not 2 <= len(args) <= 3:
            raise _fail("#N/A", f"Wrong number of arguments to IF. Expected between 2 and 3 "
                                f"arguments, but got {len(args)} arguments.")
        chosen = args[1] if _truthy(self.scalar(args[0])) else (args[2] if len(args) == 3 else False)
        return self.scalar(chosen)


def evaluate(text: str, cells: Cells) -> Any:
    """The value of formula ``text`` (with its leading ``=``): float, str, bool or CellError."""
    try:
        parser = _Parser(_tokens(text[1:]), cells)
        value = parser.scalar(parser.expression())
        if parser.pos != len(parser.tokens):
            raise _fail("#ERROR!", "Formula parse error.")
    except _Fail as failed:
        return failed.error
    except (OverflowError, ZeroDivisionError):
        return CellError("#NUM!", "The result is too large.")
    if value is None:
        return 0.0
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return value


def shift_refs(text: str, d_rows: int, d_cols: int) -> str:
    """Formula ``text`` with its relative references moved (copy-paste semantics)."""
    out: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() != pos:
            return text  # not tokenizable: keep as written
        pos = m.end()
        if m.lastgroup not in ("ref", "sheet", "cells"):
            out.append(m.group(0))
            continue
        prefix = m.group(0)[: m.start("cells") - m.start()]
        parts = []
        for part in m.group("cells").split(":"):
            cm = _CELL.match(part)
            assert cm is not None
            col = col_to_index(cm[2]) + (0 if cm[1] else d_cols)
            row = int(cm[4]) + (0 if cm[3] else d_rows) if cm[4] else None
            if col < 1 or (row is not None and row < 1):
                return _broken(text, m)
            parts.append(f"{cm[1]}{index_to_col(col)}{cm[3]}{'' if row is None else row}")
        out.append(prefix + ":".join(parts))
    return "".join(out) if pos == len(text) else text


def _broken(text: str, m: re.Match[str]) -> str:
    return text[: m.start()] + "#REF!" + text[m.end():]
