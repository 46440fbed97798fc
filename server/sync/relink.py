"""Relink: rebuild a workspace's links and shadows from the two sides, after a lost or restored database.

The sheet's Lead ID column and the cards' ``Lead ID:`` markers (``description.find_lead_id``) say
which row belongs to which card. Per lead id found in the sheet:

- exactly one open card carries it: the link is made (or, if the stored link names another card,
  moved to this one) with the row's values as its shadow (the sheet wins, as in reconciliation);
  the card is written only if it differs from what that shadow says it should show;
- no card carries it, or a card carries a lead id the sheet lacks: reported, left to the next
  reconciliation (which creates what is missing);
- two or more cards carry it: reported as a problem, nothing guessed;
- a card that carries it is already linked to another lead: reported, nothing changed.

A link that is already right is kept as it is. Rows without a lead id and cards without a marker
are counted and left to reconciliation too. Reading, comparing and writing are the reconciler's
(``reconcile.Reconciler``): this pass only decides differently which pairs to link.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Link, Workspace
from ..models.card_extra import CardExtra
from ..models.enums import HistoryAction, HistorySide, Outcome
from ..models.sync import LINKED
from .history import record
from .providers import Providers
from .reconcile import CardLead, Plan, Progress, Reconciler, SheetLead
from .sheet_writer import HeaderCache

SHOWN = 20  # problems and one-sided leads listed by name (all are counted)


@dataclass
class RelinkPlan:
    """What a relink did (or, dry run, would do)."""

    linked: list[str] = field(default_factory=list)  # new links: lead ids
    relinked: list[str] = field(default_factory=list)  # stored links moved to the card with the marker
    kept: int = 0
    cards_to_update: int = 0
    sheet_only: list[str] = field(default_factory=list)
    trello_only: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rows_without_id: int = 0
    cards_without_marker: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"linked": len(self.linked), "relinked": len(self.relinked), "kept": self.kept,
                "cards_to_update": self.cards_to_update, "sheet_only": len(self.sheet_only),
                "trello_only": len(self.trello_only), "problems": len(self.problems),
                "rows_without_id": self.rows_without_id, "cards_without_marker": self.cards_without_marker}

    def lines(self) -> list[str]:
        """A human report: the counts, then the leads by name."""
        title = "relink plan (dry run, nothing changed)" if self.dry_run else "relink done"
        out = [f"{title}:"] + [f"  {key.replace('_', ' ')}: {value}" for key, value in self.as_dict().items()]
        for label, items in (("problem", self.problems),
                             ("only in the sheet (reconciliation will create its card)", self.sheet_only),
                             ("only on the board (reconciliation will add its row)", self.trello_only)):
            out += [f"  {label}: {item}" for item in items[:SHOWN]]
            if len(items) > SHOWN:
                out.append(f"  {label}: ... and {len(items) - SHOWN} more")
        return out


class Relinker(Reconciler):
    """A reconciler pass that only links rows and cards by their lead ids (see the module docstring)."""

    def __init__(self, session: Session, workspace: Workspace, providers: Providers, *, dry_run: bool = False,
                 progress: Progress | None = None) -> None:
        super().__init__(session, workspace, providers, HeaderCache(), dry_run=dry_run, progress=progress)
        self.result = RelinkPlan(dry_run=dry_run)
        self.reconciled_at = workspace.last_reconciled_at

    def relink(self) -> RelinkPlan:
        plan: Plan = self.run()
        self.result.cards_to_update = plan.cards_to_update
        return self.result

    def _compare(self, rows: dict[str, SheetLead], unidentified: list[SheetLead], cards: dict[str, CardLead]) -> None:
        result = self.result
        result.rows_without_id = len(unidentified)
        by_marker: dict[str, list[CardLead]] = defaultdict(list)
        for card in cards.values():
            if card.marker:
                by_marker[card.marker].append(card)
            else:
                result.cards_without_marker += 1
        links = {link.lead_id: link for link in self.session.scalars(
            select(Link).where(Link.workspace_id == self.workspace.id))}
        lead_of_card = {link.card_id: link.lead_id for link in links.values() if link.card_id}
        for lead_id, row in rows.items():
            marked = by_marker.pop(lead_id, [])
            link = links.get(lead_id)
            if len(marked) > 1:
                ids = ", ".join(card.id for card in marked)
                result.problems.append(f"lead {lead_id} is on {len(marked)} cards ({ids}): not linked; "
                                       "archive the copies, then run relink again")
            elif not marked:
                if link is None:
                    result.sheet_only.append(lead_id)
                else:
                    result.kept += 1  # its card is gone or unmarked: reconciliation applies the removal policy
            elif lead_of_card.get(marked[0].id, lead_id) != lead_id:
                result.problems.append(f"card {marked[0].id} carries lead {lead_id} but is linked to lead "
                                       f"{lead_of_card[marked[0].id]}: not changed")
            elif link is None:
                self._link_pair(row, marked[0])
                result.linked.append(lead_id)
            elif link.card_id != marked[0].id:
                self._move_link(link, row, marked[0])
                result.relinked.append(lead_id)
            else:
                result.kept += 1
        for lead_id in by_marker:
            if lead_id not in links:
                result.trello_only.append(lead_id)

    def _move_link(self, link: Link, row: SheetLead, card: CardLead) -> None:
        """A stored link that names another card than the one carrying the lead's marker (a restored
        database older than the board): point it at that card, the row's values as the shadow."""
        preamble = self._parse(card).preamble
        shadow = self._values(row)
        self._fix_card(link.lead_id, card, preamble, shadow)
        if self.dry_run:
            return
        link.card_id = card.id
        link.status = LINKED
        link.pending_op = None
        link.card_extra = replace(CardExtra.of(link), preamble=preamble).to_json()
        self.shadow_updates.append((link, shadow, row.row, []))

    def _record_summary(self) -> None:
        # Relinking is not a reconciliation: the next scheduled one must still run.
        self.workspace.last_reconciled_at = self.reconciled_at
        result = self.result
        result.cards_to_update = self.plan.cards_to_update
        if result.linked or result.relinked or result.problems:
            record(self.session, self.workspace.id, side=HistorySide.RECONCILE, action=HistoryAction.RELINK,
                   changes=result.as_dict(), outcome=Outcome.ERROR if result.problems else Outcome.OK,
                   message=(f"relinked from the lead ids: {len(result.linked)} new links, {len(result.relinked)} "
                            f"moved, {result.cards_to_update} cards updated, {len(result.problems)} problems"))


def relink(session: Session, workspace: Workspace, providers: Providers, *, dry_run: bool = False,
           progress: Progress | None = None) -> RelinkPlan:
    """Rebuild the workspace's links and shadows from the lead ids on both sides (see the module docstring)."""
    return Relinker(session, workspace, providers, dry_run=dry_run, progress=progress).relink()
