"""Reconciliation progress is committed while the sides are read, at most once a second per phase."""

from __future__ import annotations

from types import SimpleNamespace

from server.models.sync_progress import PreviewMark
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
    report = CommittedProgress(session, workspace, mark=PreviewMark("f1ngerpr1nt"),
                               then=lambda phase, done, total: seen.append((phase, done)))

    report("reading sheet", 0, 50_000)
    report("reading sheet", 5_000, 50_000)  # same phase, same second: not again
    clock[0] += 1.5
    report("reading sheet", 10_000, 50_000)
    report("reading board", 1_000, 0)  # a new phase is saved at once
    report("creating cards", 50, 100)  # the reconciler commits its writes itself
    assert session.commits == 3
    assert seen[-1] == ("creating cards", 50)
    assert workspace.sync_progress["dry_run"] is True and workspace.sync_progress["for"] == "f1ngerpr1nt"


def test_stored_progress_reads_typed_and_writes_back_what_it_read():
    from server.models.sync_progress import SyncProgress

    stored = {"phase": "done", "done": 120, "total": 120, "started_at": "2026-12-01T10:00:00+00:00",
              "finished_at": "2026-12-01T10:01:00+00:00", "plan": {"cards_to_create": 3, "rows_to_append": 0},
              "dry_run": True, "for": "abc123", "queued_at": "2026-12-01T09:59:00+00:00",
              "details": {"conflicts": ["c"], "errors": [], "samples": {"cards_to_create": ["Ada"]}, "warnings": []},
              "sheet_failures": 2, "queued_card_writes": 7, "from_a_newer_version": 1}
    progress = SyncProgress.from_json(stored)
    assert (progress.phase, progress.done, progress.total, progress.preview_for) == ("done", 120, 120, "abc123")
    assert progress.plan == {"cards_to_create": 3, "rows_to_append": 0} and progress.sheet_failures == 2
    assert progress.to_json() == stored
    assert SyncProgress(phase="queued").to_json() == {"phase": "queued", "done": 0, "total": 0}


def test_malformed_stored_progress_reads_as_not_run_and_the_page_still_shows_it():
    from server.dashboard.workspace import progress_view
    from server.models.sync_progress import SyncProgress

    for stored in (None, [], "done", {"phase": 3, "done": "lots", "total": -5, "finished_at": 1, "plan": [1],
                                      "details": "none", "dry_run": "yes", "sheet_failures": True}):
        progress = SyncProgress.from_json(stored)
        assert (progress.phase, progress.done, progress.total, progress.finished_at) == ("", 0, 0, None)
        assert progress.plan is None and progress.details is None and not progress.dry_run
        assert progress.sheet_failures == 0
        view = progress_view(SimpleNamespace(sync_progress=stored))
        assert view["phase"] == "" and view["percent"] == 0 and not view["finished"]
