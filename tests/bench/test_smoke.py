"""Smoke test of the benchmark: ``bench/run.py --quick`` runs end to end and prints every figure.

Quick mode uses tiny sizes and 1-2 s runs, so its numbers are not comparable to the targets;
this only checks that every phase can measure and that the last line is the JSON summary.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FIGURES = [
    "ack_p50_ms", "ack_p99_ms", "ingest_max_per_s", "ack_p99_ms_postgres", "propagation_p50_ms",
    "propagation_p99_ms", "trello_calls_per_sheet_edit", "sheets_calls_per_100_card_moves",
    "bulk_ratio_to_rate_bound", "bulk_429s", "event_cost_ratio_100k_vs_1k_links", "worker_rss_mb", "web_rss_mb",
    "reconcile_noop_50k_s", "trello_calls_per_multi_field_edit", "trello_calls_per_custom_field_edit",
    "trello_calls_per_mixed_edit", "trello_reads_per_field_edit",
]
CONTEXT = ["cores", "python", "timestamp"]


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_quick_benchmark_prints_every_figure() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--quick"], cwd=REPO, check=False,
                          capture_output=True, text=True, timeout=230)
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no output; stderr:\n{proc.stderr[-3000:]}"
    summary = json.loads(lines[-1])
    assert proc.returncode == 0, f"exit {proc.returncode}: {summary.get('errors')}\n{proc.stderr[-3000:]}"
    for key in FIGURES:
        value = summary.get(key)
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{key} = {value!r}"
    for key in CONTEXT:
        assert summary.get(key), key
    assert summary["quick"] is True
    assert summary["trello_calls_per_sheet_edit"] > 0
    assert summary["reconcile_noop_writes"] == 0
    # call counts do not depend on the sizes: one PUT for the card's fields, one batch for its custom fields
    assert (summary["trello_calls_per_multi_field_edit"], summary["trello_calls_per_custom_field_edit"],
            summary["trello_calls_per_mixed_edit"]) == (1.0, 1.0, 2.0)
