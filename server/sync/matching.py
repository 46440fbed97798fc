"""Matching sheet statuses to Trello lists by name, for the wizard and the mapping editor.

A status matches a list when their names are the same ignoring case, spacing and punctuation
("Demo-booked " is "demo booked"), or close enough in spelling ("Contaced" is "Contacted").
What matches nothing is reported as unmatched, never sent to some default list: a person
chooses its list.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CLOSE_CUTOFF = 0.8  # difflib ratio: catches a typo or two, not "won" for "new"
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def match_key(name: object) -> str:
    """A name as matching compares it: accents, case, punctuation and spacing folded away."""
    text = unicodedata.normalize("NFKD", str(name or ""))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(_NOT_WORD.sub(" ", text.casefold()).split())


def best_match(name: str, candidates: Sequence[tuple[str, str]], cutoff: float = CLOSE_CUTOFF) -> str | None:
    """The id of the candidate (``(id, name)`` pairs) whose name matches ``name``, or None.

    An exact match of the folded names wins; otherwise the closest spelling above ``cutoff``.
    """
    key = match_key(name)
    if not key:
        return None
    by_key: dict[str, str] = {}
    for candidate_id, candidate_name in candidates:
        by_key.setdefault(match_key(candidate_name), candidate_id)
    if key in by_key:
        return by_key[key]
    close = difflib.get_close_matches(key, [k for k in by_key if k], n=1, cutoff=cutoff)
    return by_key[close[0]] if close else None


@dataclass
class StatusMatch:
    """Each status's list (None: no list matched) and, per list, the status a card moved there writes."""

    status_to_list: dict[str, str | None] = field(default_factory=dict)
    list_to_status: dict[str, str] = field(default_factory=dict)

    @property
    def unmatched(self) -> list[str]:
        return [status for status, list_id in self.status_to_list.items() if list_id is None]


def match_statuses(statuses: Iterable[str], lists: Sequence[tuple[str, str]],
                   saved: dict[str, str] | None = None) -> StatusMatch:
    """Match every status to a list; ``saved`` (status → list id, a person's earlier choice) wins."""
    saved_by_key = {match_key(s): list_id for s, list_id in (saved or {}).items()}
    list_ids = {list_id for list_id, _ in lists}
    result = StatusMatch()
    for status in statuses:
        if not match_key(status) or status in result.status_to_list:
            continue
        chosen = saved_by_key.get(match_key(status))
        result.status_to_list[status] = chosen if chosen in list_ids else best_match(status, lists)
    result.list_to_status = reverse_table(lists, result.status_to_list)
    return result


def reverse_table(lists: Sequence[tuple[str, str]], status_to_list: dict[str, str | None],
                  saved: dict[str, str] | None = None) -> dict[str, str]:
    """Per list, the status a card moved there gives its row.

    A saved choice is kept while it still leads back to its list (or names no mapped status);
    otherwise the first status mapped to the list, else the list's own name. The same rule runs
    in the browser (``static/mapping.js``) as the forward table is edited.
    """
    mapped = {match_key(status): list_id for status, list_id in status_to_list.items() if list_id}
    out: dict[str, str] = {}
    for list_id, name in lists:
        kept = (saved or {}).get(list_id)
        if kept and mapped.get(match_key(kept), list_id) == list_id:
            out[list_id] = kept
            continue
        first = next((status for status, target in status_to_list.items() if target == list_id), None)
        out[list_id] = first or name
    return out


__all__ = ["CLOSE_CUTOFF", "StatusMatch", "best_match", "match_key", "match_statuses", "reverse_table"]
