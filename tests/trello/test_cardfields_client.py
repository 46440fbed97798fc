"""``TrelloClient``'s card-field methods (``server/trello/cardfields.py``) against the Trello
emulator over real HTTP: custom fields of every type in one batched call, availability, labels,
members, start/due dates, checklist progress and the latest comment — each one Trello call
through the client's throttle (the shared rate limiter's hook)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from emulators.trello import TrelloEmulator
from server.trello import CustomFieldsUnavailable, TrelloBadRequest, TrelloClient
from server.trello.cardfields import custom_field_item, custom_field_value

KEY = "cardfields-key"


@pytest.fixture(scope="module")
def emu() -> Iterator[TrelloEmulator]:
    emulator = TrelloEmulator(KEY, "cardfields-secret", token_limit=(1000, 10.0), key_limit=(100000, 10.0))
    emulator.start()
    yield emulator
    emulator.stop()


class Counted:
    """A throttle that counts the calls it lets through (as the shared token buckets would)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


class World:
    def __init__(self, emu: TrelloEmulator, custom_fields: bool = True) -> None:
        seeded = emu.seed(f"u{uuid.uuid4().hex[:8]}", "Leads", ["New", "Won"], full_name="Sam Seller",
                          custom_fields=custom_fields)
        self.emu = emu
        self.member = seeded["member"]
        self.board_id = seeded["board"]["id"]
        self.list_id = seeded["lists"][0]["id"]
        self.throttle = Counted()
        self.client = TrelloClient(KEY, seeded["token"], base_url=emu.api_base_url, throttle=self.throttle)
        self.card = self.client.create_card(id_list=self.list_id, name="Acme deal")

    def one_call(self) -> "_OneCall":
        return _OneCall(self)


class _OneCall:
    """``with world.one_call():`` the block makes exactly one Trello request, through the throttle."""

    def __init__(self, world: World) -> None:
        self.world = world

    def __enter__(self) -> None:
        self.before = (self.world.throttle.calls, self.world.client.calls)

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            assert (self.world.throttle.calls - self.before[0], self.world.client.calls - self.before[1]) == (1, 1)


@pytest.fixture
def world(emu: TrelloEmulator) -> World:
    return World(emu)


# --------------------------------------------------------------------------- custom fields


def test_availability_is_asked_before_writing(emu: TrelloEmulator) -> None:
    free = World(emu, custom_fields=False)
    with free.one_call():
        assert free.client.custom_fields_available(free.board_id) is False
    with pytest.raises(CustomFieldsUnavailable) as refused:
        free.client.create_custom_field(free.board_id, "Amount", "number")
    assert refused.value.status == 403 and isinstance(refused.value, TrelloBadRequest)
    assert "paid plan" in str(refused.value)
    emu.set_custom_fields(free.board_id, True)
    field = free.client.create_custom_field(free.board_id, "Amount", "number")
    emu.set_custom_fields(free.board_id, False)
    with pytest.raises(CustomFieldsUnavailable):
        free.client.set_card_custom_fields(free.card["id"], [custom_field_item(field, 3)])
    with pytest.raises(CustomFieldsUnavailable):
        free.client.set_card_custom_field(free.card["id"], custom_field_item(field, 3))
    assert free.client.board_custom_fields(free.board_id)[0]["id"] == field["id"]  # reads still work
    emu.set_custom_fields(free.board_id, True)
    assert free.client.custom_fields_available(free.board_id) is True


def test_every_type_written_in_one_batched_call_and_read_back(world: World) -> None:
    client = world.client
    fields = {t: client.create_custom_field(world.board_id, t.title(), t,
                                            options=["Hot", "Warm", "Cold"] if t == "list" else ())
              for t in ("text", "number", "date", "checkbox", "list")}
    assert [f["name"] for f in client.board_custom_fields(world.board_id)] == [
        "Text", "Number", "Date", "Checkbox", "List"]
    values = {"text": "Acme Inc.", "number": Decimal("1250.50"),
              "date": datetime(2030, 5, 1, 10, 0, tzinfo=timezone.utc), "checkbox": True, "list": "warm"}
    items = [custom_field_item(fields[t], v) for t, v in values.items()]
    world.emu.reset_stats()
    with world.one_call():
        client.set_card_custom_fields(world.card["id"], items)
    assert world.emu.stats()["calls"] == {"PUT /1/cards/{id}/customFields": 1}
    card = client.get_card_details(world.card["id"])
    by_field = {i["idCustomField"]: i for i in card["customFieldItems"]}
    read = {t: custom_field_value(fields[t], by_field.get(fields[t]["id"])) for t in fields}
    assert read == {"text": "Acme Inc.", "number": 1250.5, "date": "2030-05-01T10:00:00.000Z",
                    "checkbox": True, "list": "Warm"}
    assert {"start", "due", "dueComplete", "labels", "idMembers", "badges", "url"} <= set(card)
    # clearing two, changing one: one call again
    with world.one_call():
        client.set_card_custom_fields(world.card["id"], [custom_field_item(fields["text"], None),
                                                         custom_field_item(fields["list"], ""),
                                                         custom_field_item(fields["checkbox"], False)])
    left = {i["idCustomField"]: i for i in client.card_custom_field_items(world.card["id"])}
    assert set(left) == {fields[t]["id"] for t in ("number", "date", "checkbox")}
    assert custom_field_value(fields["checkbox"], left[fields["checkbox"]["id"]]) is False
    before = client.calls
    client.set_card_custom_fields(world.card["id"], [])
    assert client.calls == before  # nothing to write: no call at all
    changes = [a for a in world.emu.actions(world.card["id"]) if a["type"] == "updateCustomFieldItem"]
    assert len(changes) == 8 and all(a["appCreator"] == {"id": world.emu.app_id} for a in changes)


def test_one_field_at_a_time_and_options(world: World) -> None:
    client = world.client
    stage = client.create_custom_field(world.board_id, "Stage", "list", options=["Lead"])
    won = client.add_custom_field_option(stage["id"], "Won", color="green")
    assert won["value"] == {"text": "Won"} and won["color"] == "green"
    [stage] = client.board_custom_fields(world.board_id)
    with world.one_call():
        item = client.set_card_custom_field(world.card["id"], custom_field_item(stage, won["id"]))
    assert item["idValue"] == won["id"]
    when = client.create_custom_field(world.board_id, "Follow up", "date", card_front=False)
    assert when["display"] == {"cardFront": False}
    client.set_card_custom_field(world.card["id"], custom_field_item(when, date(2030, 1, 2)))
    assert custom_field_value(when, client.card_custom_field_items(world.card["id"])[1]) == \
        "2030-01-02T00:00:00.000Z"
    with pytest.raises(ValueError):
        client.create_custom_field(world.board_id, "Money", "money")


@pytest.mark.parametrize("field_type, value", [
    ("number", "twelve"), ("number", True), ("number", float("nan")), ("checkbox", "yes"),
    ("date", "tomorrow"), ("list", "Unknown"), ("list", "hot"),
])
def test_values_a_field_cannot_take_are_refused_before_sending(field_type: str, value: Any) -> None:
    field = {"id": "f" * 24, "name": "F", "type": field_type,
             "options": [{"id": "a" * 24, "value": {"text": "Hot"}}, {"id": "b" * 24, "value": {"text": "HOT"}}]}
    with pytest.raises(ValueError):
        custom_field_item(field, value)


def test_items_have_trellos_shapes() -> None:
    text, number = {"id": "t" * 24, "type": "text"}, {"id": "n" * 24, "type": "number"}
    stage = {"id": "s" * 24, "type": "list", "options": [{"id": "o" * 24, "value": {"text": "Hot"}}]}
    assert custom_field_item(text, "x") == {"idCustomField": "t" * 24, "value": {"text": "x"}}
    assert custom_field_item(number, 3.0) == {"idCustomField": "n" * 24, "value": {"number": "3"}}
    assert custom_field_item(number, 2.5) == {"idCustomField": "n" * 24, "value": {"number": "2.5"}}
    assert custom_field_item(number, None) == {"idCustomField": "n" * 24, "value": ""}
    assert custom_field_item(stage, "Hot") == {"idCustomField": "s" * 24, "idValue": "o" * 24}
    assert custom_field_item(stage, None) == {"idCustomField": "s" * 24, "idValue": ""}
    naive = custom_field_item({"id": "d" * 24, "type": "date"}, datetime(2030, 1, 1, 9, 30))
    assert naive["value"] == {"date": "2030-01-01T09:30:00.000Z"}
    assert custom_field_value(text, None) is None


def test_board_card_details_in_pages(world: World) -> None:
    client = world.client
    amount = client.create_custom_field(world.board_id, "Amount", "number")
    for n in range(4):
        card = client.create_card(id_list=world.list_id, name=f"Deal {n}")
        client.set_card_custom_fields(card["id"], [custom_field_item(amount, n * 100)])
    pages = list(client.iter_board_card_details(world.board_id, page_size=2))
    assert [len(p) for p in pages] == [2, 2, 1]
    amounts = [custom_field_value(amount, (c["customFieldItems"] or [None])[0]) for p in pages for c in p]
    assert amounts == [None, 0.0, 100.0, 200.0, 300.0]


# --------------------------------------------------------------------------- labels and members


def test_labels(world: World) -> None:
    client = world.client
    vip = client.create_label(world.board_id, "VIP", "red")
    plain = client.create_label(world.board_id, "Referral")
    assert plain["color"] is None
    with world.one_call():
        labels = client.board_labels(world.board_id)
    assert {"VIP", "Referral"} <= {label["name"] for label in labels}
    with world.one_call():
        assert client.add_card_label(world.card["id"], vip["id"]) == [vip["id"]]
    client.add_card_label(world.card["id"], plain["id"])
    with world.one_call():
        client.remove_card_label(world.card["id"], vip["id"])
    assert [label["name"] for label in client.get_card_details(world.card["id"])["labels"]] == ["Referral"]
    with pytest.raises(TrelloBadRequest):
        client.add_card_label(world.card["id"], plain["id"])


def test_members(world: World) -> None:
    client, emu = world.client, world.emu
    owner = emu.add_member(f"o{uuid.uuid4().hex[:8]}", "Olive Owner")
    emu.add_board_member(world.board_id, owner["id"])
    with world.one_call():
        members = client.board_members(world.board_id)
    assert [(m["fullName"], m["username"]) for m in members] == [
        ("Sam Seller", world.member["username"]), ("Olive Owner", owner["username"])]
    with world.one_call():
        client.add_card_member(world.card["id"], owner["id"])
    client.add_card_member(world.card["id"], world.member["id"])
    with world.one_call():
        client.remove_card_member(world.card["id"], world.member["id"])
    assert client.get_card_details(world.card["id"])["idMembers"] == [owner["id"]]


# --------------------------------------------------------------------------- dates, checklists, comments


def test_start_due_and_done_with_other_fields_in_one_put(world: World) -> None:
    client = world.client
    with world.one_call():
        card = client.update_card_dates(world.card["id"], start="2030-01-01T09:00:00Z",
                                        due="2030-01-31T17:00:00Z", due_complete=False, name="Acme renewal")
    assert (card["start"], card["due"], card["dueComplete"], card["name"]) == (
        "2030-01-01T09:00:00.000Z", "2030-01-31T17:00:00.000Z", False, "Acme renewal")
    card = client.update_card_dates(world.card["id"], due_complete=True)
    assert card["start"] == "2030-01-01T09:00:00.000Z" and card["dueComplete"] is True
    card = client.update_card_dates(world.card["id"], start=None)
    assert card["start"] is None and card["due"] == "2030-01-31T17:00:00.000Z"
    updates = [a["data"]["old"] for a in world.emu.actions(world.card["id"]) if a["type"] == "updateCard"]
    assert updates == [{"name": "Acme deal", "due": None, "start": None},
                       {"dueComplete": False}, {"start": "2030-01-01T09:00:00.000Z"}]


def test_checklist_progress(world: World) -> None:
    client = world.client
    with world.one_call():
        assert client.checklist_progress(world.card["id"]) == (0, 0)
    checklist = client.create_checklist(world.card["id"], "Steps")
    items = [client.add_check_item(checklist["id"], name) for name in ("Call", "Quote", "Sign")]
    client.add_check_item(checklist["id"], "Met", checked=True)
    client.set_check_item_state(world.card["id"], items[0]["id"], True)
    assert client.checklist_progress(world.card["id"]) == (2, 4)
    world.emu.set_check_item(world.card["id"], items[0]["id"], False)  # a person unticks it in Trello
    assert client.checklist_progress(world.card["id"]) == (1, 4)


def test_latest_comment(world: World) -> None:
    client = world.client
    with world.one_call():
        assert client.latest_comment(world.card["id"]) is None
    posted = client.add_comment(world.card["id"], "Called, sending a quote")
    assert posted["type"] == "commentCard"
    world.emu.comment_card(world.card["id"], "Quote accepted")
    with world.one_call():
        latest = client.latest_comment(world.card["id"])
    assert latest is not None and latest["data"]["text"] == "Quote accepted"
    assert latest["memberCreator"]["fullName"] == "Sam Seller"
    details = client.get_card_details(world.card["id"])
    assert details["badges"]["comments"] == 2
    assert details["url"].startswith("https://trello.com/c/") and details["shortUrl"].startswith("https://trello.com/c/")
