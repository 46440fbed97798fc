"""The demo's page, ``/demo``: the emulated sheet with the add-on's sidebar, the emulated board with
the Power-Up, links to the dashboard, and buttons that make another spreadsheet or board.

Registered only by ``demo.run`` (never in a deployment). The page frames the emulators' UIs;
its Content-Security-Policy allows exactly their origins (``DEMO_FRAME_ORIGINS``, see
``server.security``) and no inline script or style.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    url_for,
)
from werkzeug.wrappers import Response

from .world import DEMO_EMAIL, DemoWorld

# The page and its stylesheet live beside it, outside the production package.
bp = Blueprint("demo", __name__, template_folder="templates", static_folder="static",
               static_url_path="/demo/static")

EXTENSION = "leads_sync_demo"


def world() -> DemoWorld:
    demo: DemoWorld = current_app.extensions[EXTENSION]
    return demo


def install(app: Flask, demo: DemoWorld, sheet_url: str, board_url: str) -> None:
    """Register the page on ``app`` for this demo run."""
    app.extensions[EXTENSION] = demo
    app.config["DEMO_MAIN_SHEET_URL"] = sheet_url
    app.config["DEMO_MAIN_BOARD_URL"] = board_url
    app.register_blueprint(bp)


@bp.get("/demo")
def page() -> str:
    demo = world()
    return render_template("demo/index.html", sheet_url=current_app.config["DEMO_MAIN_SHEET_URL"],
                           board_url=current_app.config["DEMO_MAIN_BOARD_URL"], made=list(demo.made),
                           email=DEMO_EMAIL, mails=demo.mailbox.mails(),
                           sheets_ui=f"{demo.sheets.base_url}/_emulator/ui",
                           trello_ui=f"{demo.trello.base_url}/_emulator/ui")


@bp.post("/demo/spreadsheets")
def new_spreadsheet() -> Response:
    made = world().new_spreadsheet()
    flash(f"Spreadsheet \u201c{made.name}\u201d is ready: give the wizard its address (below).", "success")
    return redirect(url_for("demo.page") + "#try-the-wizard")


@bp.post("/demo/boards")
def new_board() -> Response:
    made = world().new_board()
    flash(f"Board \u201c{made.name}\u201d is ready: the wizard lists it under the demo Trello account.", "success")
    return redirect(url_for("demo.page") + "#try-the-wizard")


__all__ = ["bp", "install"]
