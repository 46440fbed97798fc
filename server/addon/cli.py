"""``flask addon ...``: the Google Sheets add-on's commands (registered by ``server.cli``)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask


def register_addon_cli(app: Flask) -> None:
    """``flask addon build``: the Google Sheets add-on as a ready-to-push Apps Script project."""
    addon = click.Group("addon", help="The Google Sheets add-on (Apps Script).")

    @addon.command("build")
    @click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory to write.")
    @click.option("--server-url", default=None, help="This deployment's address (default: PUBLIC_BASE_URL).")
    @click.option("--script-id", default="", help="The Apps Script project to push to (written to .clasp.json).")
    @click.option("--bound", is_flag=True, help="For a script bound to one spreadsheet: its own menu, not the "
                                                "Extensions add-on menu.")
    @click.option("--allow-http", is_flag=True, hidden=True, help="Local tests only: accept an http:// address.")
    def build_command(out_dir: str, server_url: str | None, script_id: str, bound: bool, allow_http: bool) -> None:
        """Write appsscript.json, Code.js, Sidebar.html and .clasp.json with this server built in."""
        from .build import BuildError, BuildOptions, build

        try:
            files = build(BuildOptions(server_url=server_url or app.config["PUBLIC_BASE_URL"], out_dir=Path(out_dir),
                                       script_id=script_id, editor_addon=not bound, allow_http=allow_http))
        except BuildError as exc:
            raise click.ClickException(str(exc)) from exc
        for path in files:
            click.echo(f"wrote {path}")
        click.echo(f"next: cd {out_dir} && clasp push   (then publish it: apps_script/README.md, section 2a)")

    app.cli.add_command(addon)
