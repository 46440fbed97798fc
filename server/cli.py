"""Command-line entry points (``flask --app server <command>``)."""

from __future__ import annotations

import click
from flask import Flask

from . import crypto


def register_cli(app: Flask) -> None:
    @app.cli.command("keygen")
    def keygen() -> None:
        """Print a new TOKEN_ENCRYPTION_KEY."""
        click.echo(crypto.generate_key())
