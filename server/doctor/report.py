"""What a doctor run found: one ``Finding`` per check, rendered as one line each or as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, TypedDict


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but is worth changing (not counted as a problem)
    FAIL = "fail"  # a problem: the exit code is non-zero
    SKIP = "skip"  # could not be checked because something it needs failed


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    status: Status
    message: str
    fix: str = ""
    elapsed_ms: int = 0


def ok(check: str, message: str) -> Finding:
    return Finding(check, Status.OK, message)


def warn(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Status.WARN, message, fix)


def fail(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Status.FAIL, message, fix)


def skip(check: str, message: str) -> Finding:
    return Finding(check, Status.SKIP, message)


class ReportJSON(TypedDict):
    ok: bool
    summary: dict[str, int]
    checks: list[dict[str, Any]]


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status is Status.FAIL]

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        return {status.value: sum(1 for f in self.findings if f.status is status) for status in Status}

    def by_check(self) -> dict[str, Finding]:
        return {f.check: f for f in self.findings}

    def lines(self) -> list[str]:
        """One line per check (a problem carries its fix on the same line), then the summary."""
        out = []
        for f in self.findings:
            line = f"{f.status.value.upper():4} {f.check}: {f.message}"
            if f.fix:
                line += f" -> fix: {f.fix}"
            out.append(line)
        counts = self.counts()
        verdict = "all checks passed" if self.ok else f"{counts['fail']} problem(s) found"
        out.append(f"doctor: {verdict} ({counts['ok']} ok, {counts['warn']} warning(s), "
                   f"{counts['fail']} failed, {counts['skip']} skipped)")
        return out

    def as_json(self) -> ReportJSON:
        return {"ok": self.ok, "summary": self.counts(),
                "checks": [{**asdict(f), "status": f.status.value} for f in self.findings]}
