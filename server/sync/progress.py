"""Progress of a reconciliation pass, committed so the dashboard can show it while the pass runs."""

from __future__ import annotations

import time
from typing import Callable

from sqlalchemy.orm import Session

from ..models import Workspace
from ..models.sync_progress import PreviewMark, SyncProgress

SAVE_EVERY_S = 1.0
# While the sides are read (and when comparing starts) the reconciler has nothing pending in the
# session but its progress, so committing there is safe; while it writes, it commits on its own.
READING_PHASES = ("reading sheet", "reading board", "comparing")

Progress = Callable[[str, int, int], None]


class CommittedProgress:
    """A reconciler ``progress`` callback that commits the stored progress at most every
    ``SAVE_EVERY_S`` while the sheet and board are read (a 50,000-row sheet takes a while), so the
    dashboard's progress bar moves before any write. ``mark`` tags every stored progress (the
    preview tags its own); ``then`` is called too (the CLI's progress bar).
    """

    def __init__(self, session: Session, workspace: Workspace, *, mark: PreviewMark | None = None,
                 then: Progress | None = None) -> None:
        self.session, self.workspace = session, workspace
        self.mark = mark
        self.then = then
        self.saved_phase = ""
        self.saved_at = float("-inf")

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.mark is not None:
            self.workspace.sync_progress = self.mark.on(SyncProgress.of(self.workspace)).to_json()
        if self.then is not None:
            self.then(phase, done, total)
        if phase not in READING_PHASES:
            return
        if phase == self.saved_phase and time.monotonic() - self.saved_at < SAVE_EVERY_S:
            return
        self.saved_phase, self.saved_at = phase, time.monotonic()
        self.session.commit()
