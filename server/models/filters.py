"""The typed form of a mapping's filters: which rows and which cards a workspace syncs.

Stored in ``Workspace.mapping`` as two optional keys (a mapping without them syncs every row and
every card of its mapped lists, as before)::

    "row_filter": [{"column": "Status", "op": "is_not", "value": "Lost"},
                   {"column": "Email", "op": "is_not_empty"}],
    "card_filter": {"lists": ["<list id>", ...], "labels": ["Hot", ...]}

A row passes when every condition holds. Values compare as statuses do: ignoring case and
surrounding or repeated spaces ("  EAST " is "east"); ``contains`` looks for the value inside
the cell the same way. A card passes when it is in one of ``lists`` (absent: every list the mapping
gives a status or sends a status to) and, when ``labels`` names some, carries at least one of them
(label names compare ignoring case).

``RowFilter.from_json`` / ``CardFilter.from_json`` raise ``MappingError`` naming the key and what is
wrong, like every key of the mapping; ``to_json`` writes them back.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FilterOp(StrEnum):
    """What a row condition checks of its column."""

    IS = "is"
    IS_NOT = "is_not"
    IS_EMPTY = "is_empty"
    IS_NOT_EMPTY = "is_not_empty"
    CONTAINS = "contains"


#: the words each operator reads as, for pages and history ("Status is not “Lost”")
OP_WORDS: dict[FilterOp, str] = {FilterOp.IS: "is", FilterOp.IS_NOT: "is not", FilterOp.IS_EMPTY: "is empty",
                                 FilterOp.IS_NOT_EMPTY: "is not empty", FilterOp.CONTAINS: "contains"}
#: operators that take no value
NO_VALUE = frozenset({FilterOp.IS_EMPTY, FilterOp.IS_NOT_EMPTY})
MAX_CONDITIONS = 10
MAX_VALUE_CHARS = 200


def _fold(value: Any) -> str:
    """A cell or a condition's value as conditions compare it: spaces folded, case ignored."""
    return " ".join(str(value if value is not None else "").split()).casefold()


def _error(message: str) -> Exception:
    from .mapping import MappingError  # mapping.py imports this module at its top

    return MappingError(message)


@dataclass(frozen=True, slots=True)
class Condition:
    """One row condition: ``column`` ``op`` ``value`` (no value for the two "empty" operators)."""

    column: str
    op: FilterOp
    value: str = ""

    def holds(self, values: AnyMapping[str, Any]) -> bool:
        """Whether the row (``{column: cell}``; a column it lacks reads as empty) meets it."""
        cell = _fold(values.get(self.column, ""))
        wanted = _fold(self.value)
        match self.op:
            case FilterOp.IS:
                return cell == wanted
            case FilterOp.IS_NOT:
                return cell != wanted
            case FilterOp.IS_EMPTY:
                return not cell
            case FilterOp.IS_NOT_EMPTY:
                return bool(cell)
            case FilterOp.CONTAINS:
                return wanted in cell
        return True  # pragma: no cover - every operator is matched above

    @property
    def words(self) -> str:
        """``Status is not “Lost”``; ``Email is not empty``."""
        if self.op in NO_VALUE:
            return f"{self.column} {OP_WORDS[self.op]}"
        return f"{self.column} {OP_WORDS[self.op]} “{self.value}”"

    def to_json(self) -> dict[str, str]:
        out = {"column": self.column, "op": self.op.value}
        if self.op not in NO_VALUE:
            out["value"] = self.value
        return out


@dataclass(frozen=True, slots=True)
class RowFilter:
    """Which rows sync: all of ``conditions`` hold (none: every row)."""

    conditions: tuple[Condition, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.conditions)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.column for c in self.conditions))

    def passes(self, values: AnyMapping[str, Any]) -> bool:
        return all(c.holds(values) for c in self.conditions)

    def failing(self, values: AnyMapping[str, Any]) -> list[Condition]:
        """The conditions a row does not meet (for the history's words)."""
        return [c for c in self.conditions if not c.holds(values)]

    @property
    def words(self) -> str:
        """``Status is not “Lost” and Region is “East”``; ``every row`` when there is no condition."""
        return " and ".join(c.words for c in self.conditions) or "every row"

    @classmethod
    def from_json(cls, data: Any) -> RowFilter:
        """The stored ``row_filter`` (None: no filter); ``MappingError`` naming what is wrong."""
        if data is None:
            return cls()
        if not isinstance(data, list):
            raise _error(f"the mapping's “row_filter” is {_what(data)}, not a list of conditions")
        if len(data) > MAX_CONDITIONS:
            raise _error(f"the mapping's “row_filter” has {len(data)} conditions; it takes at most {MAX_CONDITIONS}")
        out = []
        for index, item in enumerate(data, start=1):
            where = f"the mapping's “row_filter” condition {index}"
            if not isinstance(item, dict):
                raise _error(f"{where} is {_what(item)}, not an object with “column”, “op” and “value”")
            column, op, value = item.get("column"), item.get("op"), item.get("value", "")
            if not isinstance(column, str) or not column.strip():
                raise _error(f"{where} names no column (“column” must be a column's name)")
            try:
                kind = FilterOp(str(op)) if isinstance(op, str) else FilterOp("")
            except ValueError:
                choices = ", ".join(f"“{o.value}”" for o in FilterOp)
                raise _error(f"{where} has the operator {_shown(op)}; it takes {choices}") from None
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise _error(f"{where} has {_what(value)} for its value, not text")
            if kind not in NO_VALUE and not value.strip():
                raise _error(f"{where} ({column} {OP_WORDS[kind]} …) has no value to compare with")
            if len(value) > MAX_VALUE_CHARS:
                raise _error(f"{where} has a value longer than {MAX_VALUE_CHARS} characters")
            out.append(Condition(column.strip(), kind, "" if kind in NO_VALUE else value.strip()))
        return cls(tuple(out))

    def to_json(self) -> list[dict[str, str]]:
        return [c.to_json() for c in self.conditions]


@dataclass(frozen=True, slots=True)
class CardFilter:
    """Which cards sync: those in ``lists`` (None: every mapped list) carrying one of ``labels`` (if any)."""

    lists: tuple[str, ...] | None = None
    labels: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.lists is not None or bool(self.labels)

    def takes_list(self, list_id: str | None, mapped: Iterable[str]) -> bool:
        """Whether a card in ``list_id`` may sync (``mapped``: the lists the mapping knows)."""
        if not list_id:
            return False
        return list_id in (self.lists if self.lists is not None else tuple(mapped))

    def takes_labels(self, names: Iterable[str]) -> bool:
        """Whether a card with these label names may sync (always, without a label condition)."""
        if not self.labels:
            return True
        wanted = {_fold(n) for n in self.labels}
        return any(_fold(n) in wanted for n in names)

    def words(self, list_names: AnyMapping[str, str]) -> str:
        """``cards in “New” or “Won”, labelled “Hot”``; ``cards in every mapped list`` by default."""
        if self.lists is None:
            where = "cards in every mapped list"
        elif not self.lists:
            where = "no card (no list is chosen)"
        else:
            where = "cards in " + " or ".join(f"“{list_names.get(i, i)}”" for i in self.lists)
        if self.labels:
            where += ", labelled " + " or ".join(f"“{n}”" for n in self.labels)
        return where

    @classmethod
    def from_json(cls, data: Any) -> CardFilter:
        """The stored ``card_filter`` (None: every card of the mapped lists); ``MappingError`` if malformed."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise _error(f"the mapping's “card_filter” is {_what(data)}, not an object with “lists” and “labels”")
        unknown = sorted(set(data) - {"lists", "labels"})
        if unknown:
            raise _error(f"the mapping's “card_filter” has {', '.join(f'“{k}”' for k in unknown)}; "
                         "it takes “lists” and “labels”")
        lists = data.get("lists")
        if lists is not None:
            if not isinstance(lists, list) or not all(isinstance(i, str) and i for i in lists):
                raise _error("the mapping's “card_filter” “lists” must be a list of Trello list ids")
            lists = tuple(dict.fromkeys(lists))
        labels = data.get("labels")
        if labels is None:
            labels = []
        if not isinstance(labels, list) or not all(isinstance(n, str) and n.strip() for n in labels):
            raise _error("the mapping's “card_filter” “labels” must be a list of label names")
        return cls(lists, tuple(dict.fromkeys(" ".join(n.split()) for n in labels)))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.lists is not None:
            out["lists"] = list(self.lists)
        if self.labels:
            out["labels"] = list(self.labels)
        return out


def _what(value: Any) -> str:
    names = {list: "a list", dict: "an object", str: "text", bool: "true or false", int: "a number",
             float: "a number"}
    return names.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    return f"“{value}”" if isinstance(value, str) else _what(value)


__all__ = ["CardFilter", "Condition", "FilterOp", "NO_VALUE", "OP_WORDS", "RowFilter"]
