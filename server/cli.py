"""Command-line entry points (``flask --app server <command>``)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import Flask

from . import crypto


def register_cli(app: Flask) -> None:
    from .addon.cli import register_addon_cli

    register_addon_cli(app)   # flask addon build
    register_alerts_cli(app)  # flask alerts

    @app.cli.command("keygen")
    def keygen() -> None:
        """Print a new TOKEN_ENCRYPTION_KEY."""
        click.echo(crypto.generate_key())

    @app.cli.command("worker")
    @click.option("--drain", is_flag=True, help="Apply every ready event, then exit.")
    def worker(drain: bool) -> None:
        """Run the sync worker: claim stored events and apply them."""
        from .engine import build_workers

        runner = build_workers(app)
        if drain:
            runner.primary.drain()
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: runner.stop())
        from .metrics.multiproc import mark_dead, prune_dead

        prune_dead()  # metrics files this host's dead processes left (PROMETHEUS_MULTIPROC_DIR)
        runner.run_forever()
        mark_dead(os.getpid())

    @app.cli.command("purge-expired")
    def purge_expired_command() -> None:
        """Delete expired add-on nonces, sign-in sessions and OAuth flow states."""
        from .extensions import db_session
        from .maintenance import purge_expired

        counts = purge_expired(db_session(), app.config)
        click.echo(", ".join(f"{name}: {count}" for name, count in counts.items()))

    @app.cli.command("sync")
    @click.argument("workspace_id")
    @click.option("--dry-run", is_flag=True,
                  help="Print the plan (to create, link, update, conflicts); change nothing.")
    def sync(workspace_id: str, dry_run: bool) -> None:
        """Reconcile a workspace now: read both sides and repair what webhooks missed.

        The first sync of a new workspace is the same job. Safe to interrupt and run again.
        """
        from .engine import providers
        from .extensions import db_session
        from .sync.progress import CommittedProgress
        from .sync.reconcile import reconcile

        workspace = _workspace(workspace_id)
        with _progress_bar() as progress:
            plan = reconcile(db_session(), workspace, providers(app), dry_run=dry_run,
                             progress=CommittedProgress(db_session(), workspace, then=progress))
        title = "plan (dry run, nothing changed)" if dry_run else "done"
        click.echo(f"{title}:")
        for key, value in plan.as_dict().items():
            click.echo(f"  {key.replace('_', ' ')}: {value}")
        for line in plan.conflicts[:20]:
            click.echo(f"  conflict: {line}")
        for line in plan.errors[:20]:
            click.echo(f"  error: {line}")


    @app.cli.command("doctor")
    @click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
    @click.option("--timeout", default=10.0, show_default=True, help="Seconds each network call may take.")
    @click.option("--only", multiple=True, metavar="CHECK", help="Run only this check (repeatable).")
    def doctor(as_json: bool, timeout: float, only: tuple[str, ...]) -> None:
        """Check the configuration end to end: public URL, OAuth clients, Trello key, database, keys."""
        import json

        from .doctor import CHECKS, context_from_app, run_checks

        unknown = set(only) - {check.name for check in CHECKS}
        if unknown:
            raise click.BadParameter(f"unknown check(s) {', '.join(sorted(unknown))}; the checks are "
                                     f"{', '.join(check.name for check in CHECKS)}", param_hint="--only")
        ctx = context_from_app(app, timeout_s=timeout)
        try:
            report = run_checks(ctx, only=set(only) or None)
        finally:
            ctx.close()
        if as_json:
            click.echo(json.dumps(report.as_json(), indent=2))
        else:
            for line in report.lines():
                click.echo(line)
        if not report.ok:
            raise SystemExit(1)

    @app.cli.command("rotate-key")
    def rotate_key() -> None:
        """Re-encrypt every stored secret with the first key of TOKEN_ENCRYPTION_KEY.

        Put the new key first and the old one after it (comma-separated), run this, then drop the old key.
        """
        from .extensions import db
        from .stored_secrets import rotate

        if crypto.key_count() < 2:
            click.echo("note: TOKEN_ENCRYPTION_KEY holds one key; secrets are re-encrypted with that same key")
        with db.engine.begin() as connection:
            tally = rotate(connection, progress=lambda n: click.echo(f"  re-encrypted {n}", err=True))
        click.echo(f"re-encrypted {tally.rotated} of {tally.total} stored secret(s) with the first key")
        if tally.failed:
            for label, count in sorted(tally.undecryptable.items()):
                click.echo(f"  {label}: {count} value(s) no configured key decrypts (left unchanged)")
            raise SystemExit(1)

    @app.cli.command("relink")
    @click.argument("workspace_id")
    @click.option("--dry-run", is_flag=True, help="Print what would be linked; change nothing.")
    def relink_command(workspace_id: str, dry_run: bool) -> None:
        """Rebuild a workspace's links from the sheet's Lead ID column and the cards' markers.

        For a lost or restored database. Leads found on one side only are listed and left to the
        next sync; a lead id on two cards is listed as a problem. Exit code 1 when there are problems.
        """
        from .engine import providers
        from .extensions import db_session
        from .sync.progress import CommittedProgress
        from .sync.relink import relink

        workspace = _workspace(workspace_id)
        with _progress_bar() as progress:
            plan = relink(db_session(), workspace, providers(app), dry_run=dry_run,
                          progress=CommittedProgress(db_session(), workspace, then=progress))
        for line in plan.lines():
            click.echo(line)
        if plan.problems:
            raise SystemExit(1)


def _workspace(workspace_id: str) -> Any:
    """The workspace a command names, or a one-line error."""
    from .extensions import db
    from .models import Workspace

    workspace = db.session.get(Workspace, workspace_id)
    if workspace is None:
        raise click.ClickException(f"no workspace {workspace_id!r}")
    return workspace


@contextmanager
def _progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A tqdm bar fed by a job's ``(phase, done, total)`` progress calls."""
    from tqdm import tqdm

    bar = tqdm(total=0, unit="item", dynamic_ncols=True, leave=True)

    def progress(phase: str, done: int, total: int) -> None:
        bar.set_description(phase)
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield progress
    finally:
        bar.close()


def register_alerts_cli(app: Flask) -> None:
    """``flask alerts``: one alert round now (the worker runs them every ``ALERT_CHECK_INTERVAL_S``)."""

    @app.cli.command("alerts")
    def alerts() -> None:
        """Bring incidents up to date and send due alert emails, Slack messages and digests once."""
        from .alerts.channels import LiveChannels
        from .alerts.rounds import AlertSettings
        from .alerts.runner import AlertRunner
        from .extensions import db

        runner = AlertRunner(db.engine, LiveChannels(app), AlertSettings.from_config(app.config))
        report = runner.run_once()
        if report is None:
            click.echo("another process is running an alert round; nothing done")
            return
        click.echo(f"opened: {report.opened}, resolved: {report.resolved}, sent: {report.sent}, "
                   f"failed: {report.failed}, digests: {report.digests}")
