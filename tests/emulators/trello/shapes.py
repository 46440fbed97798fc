"""Comparing the Trello emulator's answers with REAL recorded Trello payloads: the recordings, a
structural difference (keys at every level, JSON types), and a world with a board and a webhook."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from emulators.trello import TrelloEmulator
from server.trello.client import TrelloClient
from tests.emulators.trello.http import KEY, Receiver

FIXTURES = Path(__file__).parents[1] / "fixtures" / "trello"

# Keys whose value is null in some recordings and a value in others (a board without a
# background image, a member without an avatar, an action made in Trello's UI or by an app...).
NULLABLE = {"appCreator", "limits", "avatarHash", "avatarUrl", "idOrganization", "due",
            "background", "backgroundColor", "backgroundImage", "backgroundImageScaled",
            "firstConsecutiveFailDate", "color"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    kinds: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return kinds[type(value)]


def shape_diff(real: Any, ours: Any, path: str = "$") -> list[str]:
    """Every structural difference: missing or extra keys, different JSON types (recursively;
    arrays compare their first elements)."""
    key = path.rsplit(".", 1)[-1]
    if _kind(real) != _kind(ours):
        if key in NULLABLE and "null" in (_kind(real), _kind(ours)):
            return []
        return [f"{path}: Trello has {_kind(real)}, emulator has {_kind(ours)}"]
    if isinstance(real, dict):
        out = [f"{path}.{k}: missing in the emulator" for k in real if k not in ours]
        out += [f"{path}.{k}: not in Trello's" for k in ours if k not in real]
        for k in real:
            if k in ours:
                out += shape_diff(real[k], ours[k], f"{path}.{k}")
        return out
    if isinstance(real, list) and real and ours:
        return shape_diff(real[0], ours[0], f"{path}[0]")
    return []


def entity_types(action: dict[str, Any]) -> dict[str, str]:
    return {name: e["type"] for name, e in action["display"]["entities"].items()}


# --------------------------------------------------------------------------- the world


class World:
    """A member (with a token), a board with three lists, a webhook on it, a REST client."""

    def __init__(self, emu: TrelloEmulator, receiver: Receiver) -> None:
        self.emu, self.receiver = emu, receiver
        seeded = emu.seed(f"u{uuid.uuid4().hex[:8]}", "Leads", ["New", "Doing", "Won"])
        self.member_id = seeded["member"]["id"]
        self.board_id = seeded["board"]["id"]
        self.list_ids = [lst["id"] for lst in seeded["lists"]]
        self.client = TrelloClient(KEY, seeded["token"], base_url=emu.api_base_url)
        self.path = f"/hook/{uuid.uuid4().hex}"
        self.hook = self.client.create_webhook(callback_url=receiver.url(self.path),
                                               id_model=self.board_id, description="fidelity")

    def bodies(self) -> list[dict[str, Any]]:
        assert self.emu.wait_for_deliveries(5)
        return [json.loads(p["body"]) for p in self.receiver.requests_to(self.path)]

    def actions(self) -> list[dict[str, Any]]:
        return [body["action"] for body in self.bodies()]

    def card(self, name: str = "Ada Lovelace", list_index: int = 0) -> dict[str, Any]:
        return self.emu.add_card(self.list_ids[list_index], name)

    def last(self, action_type: str) -> dict[str, Any]:
        return [a for a in self.actions() if a["type"] == action_type][-1]
