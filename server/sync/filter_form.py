"""The filters as a person edits them (the mapping editor's form), and what a new filter changes.

Plain functions over plain values (no Flask), like ``mapping_form.py``: the form's fields are

- ``filter_column_N``, ``filter_op_N``, ``filter_value_N`` (N from 0): one row condition each; a
  row without a column is left out;
- ``card_lists_mode`` (``all``: every mapped list; ``some``: the ticked ``card_lists``) and
  ``card_labels`` (label names, comma-separated; empty: any card).

``filter_effect`` counts, over the sheet's rows and the board's cards as read now, how many the new
filters take in or leave out compared with the saved ones (the editor's preview says it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..models.filters import (
    MAX_CONDITIONS,
    MAX_VALUE_CHARS,
    NO_VALUE,
    OP_WORDS,
    CardFilter,
    Condition,
    FilterOp,
    RowFilter,
)
from ..models.mapping import Mapping
from .filters import card_takes, label_names, row_passes
from .mapping import cell_text

FORM_ROWS = 3  # empty condition rows the form offers below the saved ones
OP_CHOICES = {op.value: words for op, words in OP_WORDS.items()}
SAMPLES = 5


def clean(text: object, limit: int = MAX_VALUE_CHARS) -> str:
    return " ".join(str(text or "").split())[:limit]


def row_filter_from_form(get: Callable[[str], str | None], columns: Sequence[str]) -> tuple[RowFilter, list[str]]:
    """The row conditions submitted, and the problems in words naming the condition."""
    conditions: list[Condition] = []
    problems: list[str] = []
    for index in range(MAX_CONDITIONS + FORM_ROWS):
        column = get(f"filter_column_{index}")
        if column is None and get(f"filter_op_{index}") is None:
            break
        column = clean(column)
        if not column:
            continue
        op, value = get(f"filter_op_{index}") or "", clean(get(f"filter_value_{index}"))
        if column not in columns:
            problems.append(f"The row filter names the column “{column}”, which the sheet does not have.")
            continue
        try:
            kind = FilterOp(op)
        except ValueError:
            problems.append(f"Choose what the row filter checks of “{column}” (is, is not, contains…).")
            continue
        if kind not in NO_VALUE and not value:
            problems.append(f"The row filter's “{column} {OP_WORDS[kind]} …” needs a value.")
            continue
        conditions.append(Condition(column, kind, "" if kind in NO_VALUE else value))
    if len(conditions) > MAX_CONDITIONS:
        problems.append(f"The row filter takes at most {MAX_CONDITIONS} conditions.")
    return RowFilter(tuple(conditions[:MAX_CONDITIONS])), problems


def card_filter_from_form(get: Callable[[str], str | None], getlist: Callable[[str], list[str]],
                          lists: Sequence[tuple[str, str]]) -> tuple[CardFilter, list[str]]:
    """The card filter submitted (lists of the board only), and its problems in words."""
    problems: list[str] = []
    chosen: tuple[str, ...] | None = None
    if (get("card_lists_mode") or "all") == "some":
        known = [list_id for list_id, _ in lists]
        ticked = [list_id for list_id in getlist("card_lists") if list_id in known]
        if not ticked:
            problems.append("The card filter syncs only some lists: tick at least one list (or choose every list).")
        chosen = tuple(dict.fromkeys(ticked))
    labels = tuple(dict.fromkeys(n for n in (clean(p, 100) for p in (get("card_labels") or "").split(",")) if n))
    return CardFilter(chosen, labels[:20]), problems


def mapping_problems(mapping: Mapping, list_names: dict[str, str]) -> list[str]:
    """A card filter list without a status: a card there could not get a row."""
    return [f"The card filter takes the list “{list_names.get(list_id, list_id)}”, which has no status: give it "
            "one in the list → status table, or leave the list out of the card filter."
            for list_id in mapping.card_filter.lists or () if not mapping.status_for_list(list_id)]


def form_rows(row_filter: RowFilter) -> list[dict[str, str]]:
    """The condition rows the form shows: the filter's, then empty ones."""
    rows = [{"column": c.column, "op": c.op.value, "value": c.value} for c in row_filter.conditions]
    return rows + [{"column": "", "op": FilterOp.IS.value, "value": ""} for _ in range(FORM_ROWS)]


def form_answers(row_filter: RowFilter, card_filter: CardFilter) -> dict[str, Any]:
    """The filters as the form's answers (``answers["filters"]``)."""
    return {"rows": form_rows(row_filter), "lists_mode": "all" if card_filter.lists is None else "some",
            "lists": list(card_filter.lists or ()), "labels": ", ".join(card_filter.labels)}


def posted_answers(get: Callable[[str], str | None], getlist: Callable[[str], list[str]]) -> dict[str, Any]:
    """The filters as submitted, to show them again."""
    rows = []
    for index in range(MAX_CONDITIONS + FORM_ROWS):
        column = get(f"filter_column_{index}")
        if column is None and get(f"filter_op_{index}") is None:
            break
        rows.append({"column": clean(column), "op": get(f"filter_op_{index}") or "is",
                     "value": clean(get(f"filter_value_{index}"))})
    kept = [r for r in rows if r["column"]]
    return {"rows": kept + [{"column": "", "op": "is", "value": ""} for _ in range(FORM_ROWS)],
            "lists_mode": "some" if get("card_lists_mode") == "some" else "all",
            "lists": getlist("card_lists"), "labels": clean(get("card_labels"), 500)}


def words(mapping: Mapping) -> tuple[str, str]:
    """(which rows sync, which cards sync) in plain words, for the workspace's summary."""
    rows = ("every row" if not mapping.row_filter else f"rows where {mapping.row_filter.words}")
    if mapping.card_filter.lists is not None:
        rows += " whose status goes to a list the card filter takes"
    return rows, mapping.card_filter.words(mapping.list_names)


# --------------------------------------------------------------------------- a new filter's effect


@dataclass
class FilterEffect:
    """How many rows and cards a new filter takes in or leaves out (with the first names)."""

    rows_out: int = 0
    rows_in: int = 0
    cards_out: int = 0
    cards_in: int = 0
    samples: dict[str, list[str]] = field(default_factory=dict)
    rows_read: int = 0
    cards_read: int = 0

    def _note(self, kind: str, name: str) -> None:
        names = self.samples.setdefault(kind, [])
        if len(names) < SAMPLES:
            names.append(name)

    @property
    def anything(self) -> bool:
        return bool(self.rows_out or self.rows_in or self.cards_out or self.cards_in)


def filter_effect(old: Mapping, new: Mapping, rows: Sequence[dict[str, Any]],
                  cards: Sequence[dict[str, Any]]) -> FilterEffect:
    """Compare the old and new filters over the sheet's rows (``{column: cell}``, blank rows left
    out by the caller) and the board's open cards (``idList``, ``labels``, ``name``)."""
    out = FilterEffect(rows_read=len(rows), cards_read=len(cards))
    for row in rows:
        before, after = row_passes(old, row), row_passes(new, row)
        if before == after:
            continue
        title = cell_text(row.get(new.title_column)).strip() or "a row without a title"
        if after:
            out.rows_in += 1
            out._note("rows_in", f"“{title}”")
        else:
            out.rows_out += 1
            out._note("rows_out", f"“{title}”")
    for card in cards:
        names = label_names(card)
        before = card_takes(old, card.get("idList"), names)
        after = card_takes(new, card.get("idList"), names)
        if before == after:
            continue
        name = f"“{cell_text(card.get('name')).strip()}”"
        if after:
            out.cards_in += 1
            out._note("cards_in", name)
        else:
            out.cards_out += 1
            out._note("cards_out", name)
    return out


__all__ = [
    "FilterEffect",
    "OP_CHOICES",
    "card_filter_from_form",
    "filter_effect",
    "form_answers",
    "form_rows",
    "posted_answers",
    "row_filter_from_form",
    "words",
]
