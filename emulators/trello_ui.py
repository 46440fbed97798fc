"""Human pages of the Trello emulator for the local demo.

Served whole: the board page inlines trello_board.js and .css.
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .trello_records import TrelloError, invalid

if TYPE_CHECKING:  # pragma: no cover
    from .trello import TrelloEmulator


def ui_action(emu: TrelloEmulator, board_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Change a card as the board's first member (actions and webhooks as for API calls).

    ``payload``: ``{"op": "create", "idList", "name", "desc"}``, ``{"op": "rename", "idCard",
    "name"}``, ``{"op": "desc", "idCard", "desc"}``, ``{"op": "move", "idCard", "idList"}`` or
    ``{"op": "archive", "idCard"}``.
    """
    op = payload.get("op")
    state = emu.state
    with emu._lock:
        board = state.board(board_id)
        member = state.members[board.member_ids[0]]
        if op == "create":
            lst = state.list(str(payload.get("idList", "")))
            if lst.board_id != board.id:
                raise invalid("idList")
            card = state.create_card(member, lst, str(payload.get("name", "")),
                                     str(payload.get("desc", "")))
            return state.card_json(card)
        card = state.card(str(payload.get("idCard", "")))
        if card.board_id != board.id:
            raise invalid("idCard")
        if op == "rename":
            changes: dict[str, Any] = {"name": str(payload.get("name", ""))}
        elif op == "desc":
            changes = {"desc": str(payload.get("desc", ""))}
        elif op == "move":
            changes = {"idList": str(payload.get("idList", ""))}
        elif op == "archive":
            changes = {"closed": True}
        else:
            raise TrelloError(400, "invalid value for op")
        state.update_card(member, card, changes)
        return state.card_json(card)


def index_page(boards: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<li><a href='/_emulator/ui/boards/{html.escape(b['id'])}'>{html.escape(b['name'])}</a>"
        f" <small>({b['cards']} open cards, members: {html.escape(', '.join(b['members']))})"
        f"</small></li>" for b in boards) or "<li>No boards yet.</li>"
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Trello emulator</title>"
            "<style>body{font:15px system-ui,sans-serif;margin:24px}</style></head><body>"
            f"<h1>Trello emulator: boards</h1><ul>{rows}</ul></body></html>")


_HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=4)
def _asset(name: str) -> str:
    return (_HERE / name).read_text(encoding="utf-8")


def board_page(board_id: str) -> str:
    """``/_emulator/ui/boards/<id>``: lists and cards, refreshed every second, with the enabled Power-Up."""
    script = _asset("trello_board.js").replace("</", "<\\/")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Trello emulator board</title>"
            f"<style>{_asset('trello_board.css')}</style></head><body data-board='{html.escape(board_id)}'>"
            "<header><a href='/_emulator/ui'>&larr; boards</a> <b id='title'></b>"
            "<span id='board-buttons'></span></header>"
            "<div id='board'></div>"
            "<div id='detail' hidden><div class='window' role='dialog' aria-labelledby='detail-name'>"
            "<button type='button' class='close' id='detail-close'>Close</button>"
            "<h2 id='detail-name'></h2><p class='in-list' id='detail-list'></p>"
            "<div class='badges' id='detail-badges'></div><div class='desc' id='detail-desc'></div>"
            "<div id='detail-sections'></div></div></div>"
            "<div id='popup' hidden></div><div id='alert' hidden></div>"
            f"<script>{script}</script></body></html>")
