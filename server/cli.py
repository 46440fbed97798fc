"""Command-line entry points (``flask --app server <command>``)."""

from __future__ import annotations

import signal

import click
from flask import Flask

from . import crypto


def register_cli(app: Flask) -> None:
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
