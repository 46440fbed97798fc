"""What the convergence soaks share: the delivery faults and the worker's lag as Hypothesis rules,
and the invariant that no lead ever has two open cards. A soak's machine subclasses
``DeliverySoak``, makes ``self.world`` in its ``@initialize``, and says which cards are open
(``open_cards``: one board's, or every routed board's)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from server.sync import description


class DeliverySoak(RuleBasedStateMachine):
    world: Any

    def open_cards(self) -> list[dict[str, Any]]:
        return list(self.world.cards())

    # ------------------------------------------------------------------ delivery faults and timing

    @rule(on=st.booleans())
    def duplicate_deliveries(self, on: bool) -> None:
        self.world.trello.duplicate_deliveries = on
        self.world.sheets.duplicate_events = on

    @rule(side=st.sampled_from(["trello", "sheets"]))
    def drop_next_delivery(self, side: str) -> None:
        if side == "trello":
            self.world.trello.drop_next_deliveries(1)
        else:
            self.world.sheets.drop_next_events(1)

    @rule(batches=st.integers(1, 3))
    def process_some(self, batches: int) -> None:
        self.world.trello.wait_for_deliveries(timeout=10)
        self.world.sheets.wait_for_events(timeout=10)
        for _ in range(batches):
            self.world.worker.run_once()

    @invariant()
    def never_two_open_cards_for_one_lead(self) -> None:
        if not hasattr(self, "world"):
            return
        markers = Counter(description.find_lead_id(c["desc"]) for c in self.open_cards())
        markers.pop(None, None)
        assert all(n == 1 for n in markers.values()), markers
