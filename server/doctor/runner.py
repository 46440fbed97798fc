"""The table of checks and the run: each check in its own thread, given up on after its timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from . import credentials, storage, trello_hooks, web
from .context import DoctorContext
from .report import Finding, Report, fail

CheckFn = Callable[[DoctorContext], Finding]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    run: CheckFn
    timeout_s: float | None = None  # None: the context's timeout plus a margin


CHECKS: tuple[Check, ...] = (
    Check("database", storage.database),
    Check("migrations", storage.migrations),
    Check("encryption_key", storage.encryption_key),
    Check("public_url", web.public_url),
    Check("webhook_callbacks", web.webhook_callbacks),
    Check("trello_webhooks", trello_hooks.trello_webhooks),
    Check("trello_key", credentials.trello_key),
    Check("trello_secret", credentials.trello_secret),
    Check("trello_redirect_uri", web.trello_redirect_uri),
    Check("google_client", credentials.google_client),
    Check("google_redirect_uri", web.google_redirect_uri),
)


def _run_one(check: Check, ctx: DoctorContext) -> Finding:
    limit = check.timeout_s if check.timeout_s is not None else ctx.timeout_s * 2 + 1
    box: list[Finding] = []

    def target() -> None:
        try:
            box.append(check.run(ctx))
        except Exception as exc:  # noqa: BLE001 - a check that crashes is reported, the others still run
            box.append(fail(check.name, f"the check itself failed: {type(exc).__name__}: {exc}",
                            "report this with the line above"))

    started = time.monotonic()
    thread = threading.Thread(target=target, name=f"doctor-{check.name}", daemon=True)
    thread.start()
    thread.join(limit)
    elapsed = int((time.monotonic() - started) * 1000)
    if not box:
        return fail(check.name, f"no answer within {limit:g} s", "check the network path to the service named")
    return replace(box[0], check=check.name, elapsed_ms=elapsed)


def run_checks(ctx: DoctorContext, checks: tuple[Check, ...] = CHECKS, *, only: set[str] | None = None) -> Report:
    """Run the checks in order (later ones reuse what earlier ones warmed, e.g. the connection pool)."""
    return Report([_run_one(check, ctx) for check in checks if only is None or check.name in only])
