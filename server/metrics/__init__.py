"""Prometheus metrics: instruments the engine updates, a scrape-time database collector, the
``/metrics`` view, and the workers' heartbeats (see docs/METRICS.md)."""

from .instruments import (
                          Direction,
                          card_created,
                          card_written,
                          conflicts,
                          count_responses,
                          event_parked,
                          limiter_outcome,
                          sheet_written,
)

__all__ = ["Direction", "card_created", "card_written", "conflicts", "count_responses", "event_parked",
           "limiter_outcome", "sheet_written"]
