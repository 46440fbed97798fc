"""The typed form of ``Workspace.sync_progress``: the last full sync's (or the draft's preview's) progress.

Stored JSON (each key optional)::

    {"phase": "reading sheet", "done": 10, "total": 100, "started_at": iso, "finished_at": iso,
     "plan": {"cards_to_create": 3, ...},         # the finished pass's figures (``Plan.as_dict``)
     "queued_card_writes": 12,                    # card writes the pass queued as bulk events
     "dry_run": true, "for": "<fingerprint>", "queued_at": iso,   # a draft's preview, for these settings
     "retrying": "words", "error": "words",       # a preview that waits for a retry, or failed
     "details": {"conflicts": [...], "errors": [...], "samples": {"kind": [...]}, "warnings": [...]},
     "sheet_failures": 2}                         # sheet outbox writes failed in a row

``SyncProgress.from_json`` never fails: a key of the wrong type reads as absent (a page shows
"not run yet" rather than an error). ``to_json`` writes the keys that are set (``done`` and
``total`` with a phase), and keeps the keys this version does not know.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from .workspace import Workspace


class PreviewDetails(TypedDict):
    """The first conflicts, row errors, sample leads per kind of change, and warnings of a preview."""

    conflicts: list[str]
    errors: list[str]
    samples: dict[str, list[str]]
    warnings: list[str]


def _count(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else 0


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _details(raw: Any) -> PreviewDetails | None:
    if not isinstance(raw, dict):
        return None
    samples = raw.get("samples")
    return {"conflicts": _texts(raw.get("conflicts")), "errors": _texts(raw.get("errors")),
            "samples": {str(k): _texts(v) for k, v in samples.items()} if isinstance(samples, dict) else {},
            "warnings": _texts(raw.get("warnings"))}


def _plan(raw: Any) -> dict[str, int] | None:
    return {str(k): _count(v) for k, v in raw.items()} if isinstance(raw, dict) else None


_KNOWN_KEYS = frozenset({"phase", "done", "total", "started_at", "finished_at", "plan", "queued_card_writes",
                         "dry_run", "for", "queued_at", "retrying", "error", "details", "sheet_failures"})


@dataclass(frozen=True)
class SyncProgress:
    """Progress and outcome of a workspace's last full sync or preview (``Workspace.sync_progress``)."""

    phase: str = ""
    done: int = 0
    total: int = 0
    started_at: str | None = None  # ISO 8601, UTC
    finished_at: str | None = None
    plan: dict[str, int] | None = None
    queued_card_writes: int | None = None
    dry_run: bool = False
    preview_for: str | None = None  # stored as "for": the draft settings' fingerprint the preview is of
    queued_at: str | None = None
    retrying: str | None = None
    error: str | None = None
    details: PreviewDetails | None = None
    sheet_failures: int = 0
    unknown: dict[str, Any] = field(default_factory=dict)  # stored keys this version does not know

    @classmethod
    def from_json(cls, data: Any) -> SyncProgress:
        if not isinstance(data, dict):
            return cls()
        queued = data.get("queued_card_writes")
        return cls(
            phase=_text(data.get("phase")) or "", done=_count(data.get("done")), total=_count(data.get("total")),
            started_at=_text(data.get("started_at")), finished_at=_text(data.get("finished_at")),
            plan=_plan(data.get("plan")), queued_card_writes=None if queued is None else _count(queued),
            dry_run=data.get("dry_run") is True, preview_for=_text(data.get("for")),
            queued_at=_text(data.get("queued_at")), retrying=_text(data.get("retrying")),
            error=_text(data.get("error")), details=_details(data.get("details")),
            sheet_failures=_count(data.get("sheet_failures")),
            unknown={k: v for k, v in data.items() if k not in _KNOWN_KEYS},
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.unknown)
        if self.phase:
            out.update(phase=self.phase, done=self.done, total=self.total)
        optional = {"started_at": self.started_at, "finished_at": self.finished_at, "plan": self.plan,
                    "queued_card_writes": self.queued_card_writes, "for": self.preview_for,
                    "queued_at": self.queued_at, "retrying": self.retrying, "error": self.error,
                    "details": self.details}
        out.update({k: v for k, v in optional.items() if v is not None})
        if self.dry_run:
            out["dry_run"] = True
        if self.sheet_failures:
            out["sheet_failures"] = self.sheet_failures
        return out

    @classmethod
    def of(cls, workspace: Workspace) -> SyncProgress:
        return cls.from_json(workspace.sync_progress)


@dataclass(frozen=True)
class PreviewMark:
    """What tags a progress as a draft's preview: of which settings (their fingerprint), queued when."""

    preview_for: str
    queued_at: str | None = None

    def on(self, progress: SyncProgress) -> SyncProgress:
        return replace(progress, dry_run=True, preview_for=self.preview_for, queued_at=self.queued_at)


__all__ = ["PreviewDetails", "PreviewMark", "SyncProgress"]
