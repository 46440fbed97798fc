"""Human pages of the Trello emulator for the local demo (self-contained HTML, no assets)."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from .trello_records import TrelloError, invalid

if TYPE_CHECKING:  # pragma: no cover
    from .trello import TrelloEmulator


def ui_action(emu: "TrelloEmulator", board_id: str, payload: dict[str, Any]) -> dict[str, Any]:
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


_BOARD_JS = r"""
const BOARD = %s;
let last = "";
const esc = s => String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",
  '"':"&quot;","'":"&#39;"}[c]));
async function act(payload) {
  const r = await fetch(`/_emulator/ui/boards/${BOARD}/action`, {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify(payload)});
  if (!r.ok) alert(await r.text());
  last = ""; await refresh();
}
function render(state) {
  document.getElementById("title").textContent = state.board.name;
  const lists = state.lists.filter(l => !l.closed);
  const opts = id => lists.map(l =>
    `<option value="${l.id}"${l.id === id ? " selected" : ""}>${esc(l.name)}</option>`).join("");
  document.getElementById("board").innerHTML = lists.map(l => {
    const cards = state.cards.filter(c => c.idList === l.id && !c.closed)
      .sort((a, b) => a.pos - b.pos);
    return `<section class="list"><h3>${esc(l.name)} <small>${cards.length}</small></h3>` +
      cards.map(c => `<div class="card" data-id="${c.id}"><b>${esc(c.name)}</b>
        <div class="desc">${esc(c.desc.split("\n").slice(0, 3).join("\n"))}</div>
        <div class="tools"><button data-op="rename">Rename</button>
        <select data-op="move">${opts(c.idList)}</select>
        <button data-op="archive">Archive</button></div></div>`).join("") +
      `<form class="add" data-list="${l.id}"><input name="name" placeholder="New card">
       <button>Add</button></form></section>`;
  }).join("");
}
async function refresh() {
  const focused = document.activeElement;
  if (focused && ["INPUT", "SELECT"].includes(focused.tagName)) return;
  const r = await fetch(`/_emulator/state?board=${BOARD}`);
  const text = await r.text();
  if (text !== last) { last = text; render(JSON.parse(text)); }
}
document.addEventListener("click", e => {
  const op = e.target.dataset && e.target.dataset.op;
  const card = e.target.closest(".card");
  if (!card || !op || e.target.tagName !== "BUTTON") return;
  if (op === "rename") {
    const name = prompt("New name", card.querySelector("b").textContent);
    if (name) act({op: "rename", idCard: card.dataset.id, name});
  } else if (op === "archive") act({op: "archive", idCard: card.dataset.id});
});
document.addEventListener("change", e => {
  const card = e.target.closest(".card");
  if (card && e.target.dataset.op === "move") {
    e.target.blur(); act({op: "move", idCard: card.dataset.id, idList: e.target.value});
  }
});
document.addEventListener("submit", e => {
  e.preventDefault();
  const input = e.target.elements.namedItem("name");
  const name = input.value.trim();
  input.blur();
  if (name) act({op: "create", idList: e.target.dataset.list, name});
});
refresh(); setInterval(refresh, 1000);
"""


def board_page(board_id: str) -> str:
    script = _BOARD_JS % json.dumps(board_id)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Trello emulator board</title>"
            "<style>body{font:14px system-ui,sans-serif;margin:0;background:#0079bf}"
            "header{color:#fff;padding:10px 16px}header a{color:#fff}"
            "#board{display:flex;gap:10px;padding:0 16px 16px;align-items:flex-start;"
            "overflow-x:auto}.list{background:#ebecf0;border-radius:6px;padding:8px;"
            "min-width:260px;max-width:260px}.list h3{margin:4px 4px 8px;font-size:15px}"
            ".card{background:#fff;border-radius:4px;padding:6px 8px;margin-bottom:8px;"
            "box-shadow:0 1px 0 #091e4240}.desc{color:#5e6c84;white-space:pre-line;"
            "font-size:12px;margin:4px 0}.tools{display:flex;gap:4px}.tools select{max-width:110px}"
            ".add{display:flex;gap:4px}.add input{flex:1}</style></head><body>"
            "<header><a href='/_emulator/ui'>&larr; boards</a> <b id='title'></b></header>"
            f"<div id='board'></div><script>{script}</script></body></html>")
