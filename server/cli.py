"""Command-line entry points (``flask --app server <command>``)."""

from __future__ import annotations

import signal

import click
from flask import Flask

from . import crypto


def register_cli(app: Flask) -> None:
    register_alerts_cli(app)

    @app.cli.command("keygen")
    def keygen() -> None:
        """Print a new TOKEN_ENCRYPTION_KEY."""
        click.echo(crypto.generate_key())

    @app.cli.command("worker")
    @click.option("--drain", is_flag=True, help="Apply every ready event, then exit.")
    def worker(drain: bool) -> None:
        """Run the sync worker: claim stored events and apply them."""
        from .engine import build_worker

        runner = build_worker(app)
        if drain:
            runner.drain()
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: runner.stop())
        runner.run_forever()

    @app.cli.command("purge-expired")
    def purge_expired_command() -> None:
        """Delete expired add-on nonces, sign-in sessions and OAuth flow states."""
        from .extensions import db
        from .maintenance import purge_expired

        counts = purge_expired(db.session, app.config)
        click.echo(", ".join(f"{name}: {count}" for name, count in counts.items()))

    @app.cli.command("sync")
    @click.argument("workspace_id")
    @click.option("--dry-run", is_flag=True, help="Print the plan (to create, link, update, conflicts); change nothing.")
    def sync(workspace_id: str, dry_run: bool) -> None:
        """Reconcile a workspace now: read both sides and repair what webhooks missed.

        The first sync of a new workspace is the same job. Safe to interrupt and run again.
        """
        from tqdm import tqdm

        from .engine import providers
        from .extensions import db
        from .models import Workspace
        from .sync.progress import CommittedProgress
        from .sync.reconcile import reconcile

        workspace = db.session.get(Workspace, workspace_id)
        if workspace is None:
            raise click.ClickException(f"no workspace {workspace_id!r}")
        bar = tqdm(total=0, unit="item", dynamic_ncols=True, leave=True)

        def progress(phase: str, done: int, total: int) -> None:
            bar.set_description(phase)
            if total and bar.total != total:
                bar.total = total
            bar.n = done
            bar.refresh()

        try:
            plan = reconcile(db.session, workspace, providers(app), dry_run=dry_run,
                             progress=CommittedProgress(db.session, workspace, then=progress))
        finally:
            bar.close()
        title = "plan (dry run, nothing changed)" if dry_run else "done"
        click.echo(f"{title}:")
        for key, value in plan.as_dict().items():
            click.echo(f"  {key.replace('_', ' ')}: {value}")
        for line in plan.conflicts[:20]:
            click.echo(f"  conflict: {line}")
        for line in plan.errors[:20]:
            click.echo(f"  error: {line}")



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
