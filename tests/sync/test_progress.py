"""Reconciliation progress is committed while the sides are read, at most once a second per phase."""

from __future__ import annotations

from types import SimpleNamespace

from server.sync import progress as progress_module
from server.sync.progress import CommittedProgress


class CountingSession:
    def __init__(self) -> None:
        self.commits = 0

    def commit(self) -> None:
        self.commits += 1


def test_reading_phases_are_committed_at_most_once_a_second(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock[0])
    session, seen = CountingSession(), []
    workspace = SimpleNamespace(sync_progress={"phase": "reading sheet"})
    report = CommittedProgress(session, workspace, marks={"dry_run": True},
                               then=lambda phase, done, total: seen.append((phase, done)))

    report("reading sheet", 0, 50_000)
    report("reading sheet", 5_000, 50_000)  # same phase, same second: not again
    clock[0] += 1.5
    report("reading sheet", 10_000, 50_000)
    report("reading board", 1_000, 0)  # a new phase is saved at once
    report("creating cards", 50, 100)  # the reconciler commits its writes itself
    assert session.commits == 3
    assert seen[-1] == ("creating cards", 50)
    assert workspace.sync_progress["dry_run"] is True
