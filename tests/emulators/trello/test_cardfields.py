"""The Trello emulator's card features over real HTTP: custom fields (all five types, the batch
endpoint, availability per board), labels, members, start/due dates, checklists and comments."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from emulators.trello import TrelloEmulator
from emulators.trello_records import CUSTOM_FIELDS_PLUGIN_ID
from tests.emulators.trello.http import Api, Receiver, webhook_for


@pytest.fixture
def world(emu: TrelloEmulator) -> dict[str, Any]:
    """A member with a token; a board (lists New / Won) with Custom Fields enabled; a card."""
    seeded = emu.seed(f"user{uuid.uuid4().hex[:8]}", "Leads", ["New", "Won"], custom_fields=True)
    seeded["api"] = api = Api(emu, seeded["token"])
    seeded["board_id"] = seeded["board"]["id"]
    seeded["list_ids"] = [lst["id"] for lst in seeded["lists"]]
    seeded["card"] = api.ok("POST", "/cards", json={"idList": seeded["list_ids"][0], "name": "Ada"})
    return seeded


def field(api: Api, board_id: str, name: str, field_type: str, **extra: Any) -> dict[str, Any]:
    return api.ok("POST", "/customFields", json={"idModel": board_id, "modelType": "board", "name": name,
                                                 "type": field_type, "pos": "bottom", **extra})


def actions(emu: TrelloEmulator, model_id: str, action_type: str) -> list[dict[str, Any]]:
    return [a for a in emu.actions(model_id) if a["type"] == action_type]


# --------------------------------------------------------------------------- custom fields


def test_custom_fields_need_the_board_to_have_them(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    """Off (a free board without the Power-Up): definitions and items still read, every write is
    a 403, and ``boardPlugins`` does not list the Custom Fields Power-Up; the control API turns
    it on and off."""
    api, board, card = world["api"], world["board_id"], world["card"]
    text = field(api, board, "Company", "text")
    api.ok("PUT", f"/cards/{card['id']}/customField/{text['id']}/item", json={"value": {"text": "Acme"}})
    assert api.ok("GET", f"/boards/{board}/boardPlugins") == [
        {"id": api.ok("GET", f"/boards/{board}/boardPlugins")[0]["id"], "idBoard": board,
         "idPlugin": CUSTOM_FIELDS_PLUGIN_ID}]
    off = requests.post(f"{emu.base_url}/_emulator/boards/{board}", json={"customFields": False}, timeout=5)
    assert off.json() == {"id": board, "customFields": False}
    assert api.ok("GET", f"/boards/{board}/boardPlugins") == []
    assert [f["id"] for f in api.ok("GET", f"/boards/{board}/customFields")] == [text["id"]]
    assert api.ok("GET", f"/cards/{card['id']}/customFieldItems")[0]["value"] == {"text": "Acme"}
    writes = [("POST", "/customFields", {"idModel": board, "modelType": "board", "name": "X", "type": "text"}),
              ("PUT", f"/customFields/{text['id']}", {"name": "Y"}),
              ("DELETE", f"/customFields/{text['id']}", None),
              ("PUT", f"/cards/{card['id']}/customField/{text['id']}/item", {"value": {"text": "B"}}),
              ("PUT", f"/cards/{card['id']}/customFields",
               {"customFieldItems": [{"idCustomField": text["id"], "value": ""}]})]
    for method, path, body in writes:
        resp = api.call(method, path, json=body)
        assert (resp.status_code, resp.text) == (403, "Custom Fields are not enabled on this board"), path
    assert api.ok("GET", f"/cards/{card['id']}/customFieldItems")[0]["value"] == {"text": "Acme"}
    emu.set_custom_fields(board, True)
    assert api.ok("GET", f"/boards/{board}/boardPlugins")[0]["idPlugin"] == CUSTOM_FIELDS_PLUGIN_ID
    fresh = emu.seed(f"user{uuid.uuid4().hex[:8]}", "Free board")
    assert Api(emu, fresh["token"]).ok("GET", f"/boards/{fresh['board']['id']}/boardPlugins") == []


def test_all_five_types_set_read_and_clear(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    api, board, card = world["api"], world["board_id"], world["card"]
    fields = {t: field(api, board, t.title(), t) for t in ("text", "number", "date", "checkbox")}
    fields["list"] = field(api, board, "Stage", "list",
                           options=[{"value": {"text": "Hot"}, "color": "red", "pos": 1},
                                    {"value": {"text": "Cold"}, "color": "blue", "pos": 2}])
    assert [o["value"]["text"] for o in fields["list"]["options"]] == ["Hot", "Cold"]
    assert all("options" not in fields[t] for t in ("text", "number", "date", "checkbox"))
    hot = fields["list"]["options"][0]["id"]
    writes = {"text": {"value": {"text": "Acme"}}, "number": {"value": {"number": "12.50"}},
              "date": {"value": {"date": "2030-05-01T10:00:00+02:00"}},
              "checkbox": {"value": {"checked": "true"}}, "list": {"idValue": hot}}
    for field_type, body in writes.items():
        item = api.ok("PUT", f"/cards/{card['id']}/customField/{fields[field_type]['id']}/item", json=body)
        assert item["idCustomField"] == fields[field_type]["id"] and item["modelType"] == "card"
        assert item["idModel"] == card["id"]
    read = {i["idCustomField"]: i for i in api.ok("GET", f"/cards/{card['id']}/customFieldItems")}
    assert read[fields["text"]["id"]]["value"] == {"text": "Acme"}
    assert read[fields["number"]["id"]]["value"] == {"number": "12.50"}
    assert read[fields["date"]["id"]]["value"] == {"date": "2030-05-01T08:00:00.000Z"}
    assert read[fields["checkbox"]["id"]]["value"] == {"checked": "true"}
    assert read[fields["list"]["id"]]["idValue"] == hot and read[fields["list"]["id"]]["value"] is None
    # customFieldItems=true on card, board-cards and list-cards reads
    one = api.ok("GET", f"/cards/{card['id']}", params={"fields": "name", "customFieldItems": "true"})
    assert set(one) == {"id", "name", "customFieldItems"} and len(one["customFieldItems"]) == 5
    [listed] = api.ok("GET", f"/boards/{board}/cards", params={"fields": "name", "customFieldItems": "true"})
    assert listed["customFieldItems"] == one["customFieldItems"]
    [in_list] = api.ok("GET", f"/lists/{world['list_ids'][0]}/cards", params={"customFieldItems": "true"})
    assert in_list["customFieldItems"] == one["customFieldItems"]
    assert "customFieldItems" not in api.ok("GET", f"/cards/{card['id']}")
    # clearing: an empty value, an empty idValue, or an empty body
    api.ok("PUT", f"/cards/{card['id']}/customField/{fields['text']['id']}/item", json={"value": ""})
    api.ok("PUT", f"/cards/{card['id']}/customField/{fields['list']['id']}/item", json={"idValue": ""})
    cleared = api.ok("PUT", f"/cards/{card['id']}/customField/{fields['number']['id']}/item", json={})
    assert cleared["value"] is None and cleared["idValue"] is None
    left = {i["idCustomField"] for i in api.ok("GET", f"/cards/{card['id']}/customFieldItems")}
    assert left == {fields["date"]["id"], fields["checkbox"]["id"]}
    changes = actions(emu, card["id"], "updateCustomFieldItem")
    assert len(changes) == 8
    assert changes[-3]["data"]["old"] == {"value": {"text": "Acme"}}
    assert changes[-3]["data"]["customFieldItem"]["value"] is None
    assert changes[-2]["data"]["old"] == {"idValue": hot}


@pytest.mark.parametrize("field_type, body", [
    ("number", {"value": {"number": "twelve"}}), ("number", {"value": {"text": "12"}}),
    ("date", {"value": {"date": "tomorrow"}}), ("checkbox", {"value": {"checked": "yes"}}),
    ("text", {"idValue": "5e85e736f62cb7125713b720"}), ("list", {"value": {"text": "Hot"}}),
])
def test_values_a_field_cannot_take_are_refused(world: dict[str, Any], field_type: str,
                                                body: dict[str, Any]) -> None:
    api, card = world["api"], world["card"]
    made = field(api, world["board_id"], "F", field_type)
    resp = api.call("PUT", f"/cards/{card['id']}/customField/{made['id']}/item", json=body)
    assert (resp.status_code, resp.text) == (400, "Invalid custom field item value.")
    assert api.ok("GET", f"/cards/{card['id']}/customFieldItems") == []


def test_an_option_of_another_field_or_an_unknown_field_is_refused(world: dict[str, Any]) -> None:
    api, board, card = world["api"], world["board_id"], world["card"]
    stage = field(api, board, "Stage", "list", options=[{"value": {"text": "Hot"}}])
    other = field(api, board, "Other", "list", options=[{"value": {"text": "Hot"}}])
    resp = api.call("PUT", f"/cards/{card['id']}/customField/{stage['id']}/item",
                    json={"idValue": other["options"][0]["id"]})
    assert (resp.status_code, resp.text) == (400, "invalid value for idValue")
    resp = api.call("PUT", f"/cards/{card['id']}/customField/{'f' * 24}/item", json={"value": ""})
    assert (resp.status_code, resp.text) == (400, "invalid value for idCustomField")


def test_the_batch_endpoint_writes_all_or_nothing_with_one_action_per_change(
        emu: TrelloEmulator, world: dict[str, Any], receiver: Receiver) -> None:
    api, board, card = world["api"], world["board_id"], world["card"]
    company, amount = field(api, board, "Company", "text"), field(api, board, "Amount", "number")
    stage = field(api, board, "Stage", "list", options=[{"value": {"text": "Hot"}}])
    _hook, path = webhook_for({"api": api, "board": {"id": board}}, receiver)
    bad = [{"idCustomField": company["id"], "value": {"text": "Acme"}},
           {"idCustomField": amount["id"], "value": {"number": "NaN"}}]
    resp = api.call("PUT", f"/cards/{card['id']}/customFields", json={"customFieldItems": bad})
    assert resp.status_code == 400 and api.ok("GET", f"/cards/{card['id']}/customFieldItems") == []
    good = [{"idCustomField": company["id"], "value": {"text": "Acme"}},
            {"idCustomField": amount["id"], "value": {"number": "1200"}},
            {"idCustomField": stage["id"], "idValue": stage["options"][0]["id"]}]
    assert api.ok("PUT", f"/cards/{card['id']}/customFields", json={"customFieldItems": good}) == {}
    assert len(api.ok("GET", f"/cards/{card['id']}/customFieldItems")) == 3
    again = [{"idCustomField": company["id"], "value": {"text": "Acme"}},
             {"idCustomField": amount["id"], "value": {"number": "1300"}}]
    api.ok("PUT", f"/cards/{card['id']}/customFields", json={"customFieldItems": again})
    assert emu.wait_for_deliveries(5)
    delivered = [a for a in receiver.actions(path) if a["type"] == "updateCustomFieldItem"]
    assert [a["data"]["customField"]["name"] for a in delivered] == ["Company", "Amount", "Stage", "Amount"]
    assert delivered[-1]["data"]["old"] == {"value": {"number": "1200"}}
    assert delivered[-1]["appCreator"] == {"id": emu.app_id}
    read = api.ok("GET", f"/cards/{card['id']}/actions", params={"filter": "updateCustomFieldItem"})
    assert [a["id"] for a in read] == [a["id"] for a in reversed(delivered)]
    twice = [{"idCustomField": company["id"], "value": ""}, {"idCustomField": company["id"], "value": ""}]
    resp = api.call("PUT", f"/cards/{card['id']}/customFields", json={"customFieldItems": twice})
    assert (resp.status_code, resp.text) == (400, "invalid value for customFieldItems")


def test_definitions_and_options_can_be_changed(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    api, board, card = world["api"], world["board_id"], world["card"]
    stage = field(api, board, "Stage", "list", options=[{"value": {"text": "Hot"}}])
    assert api.ok("GET", f"/customFields/{stage['id']}")["name"] == "Stage"
    warm = api.ok("POST", f"/customFields/{stage['id']}/options", json={"value": {"text": "Warm"}, "color": "yellow"})
    assert warm == {"id": warm["id"], "idCustomField": stage["id"], "value": {"text": "Warm"}, "color": "yellow",
                    "pos": warm["pos"]}
    assert api.ok("GET", f"/customFields/{stage['id']}/options/{warm['id']}") == warm
    assert [o["value"]["text"] for o in api.ok("GET", f"/customFields/{stage['id']}/options")] == ["Hot", "Warm"]
    api.ok("PUT", f"/cards/{card['id']}/customField/{stage['id']}/item", json={"idValue": warm["id"]})
    assert api.ok("DELETE", f"/customFields/{stage['id']}/options/{warm['id']}") == {}
    assert api.ok("GET", f"/cards/{card['id']}/customFieldItems") == []  # the chosen option went
    renamed = api.ok("PUT", f"/customFields/{stage['id']}", json={"name": "Phase", "display/cardFront": False})
    assert renamed["name"] == "Phase" and renamed["display"] == {"cardFront": False}
    [change] = actions(emu, board, "updateCustomField")
    assert change["data"]["old"] == {"name": "Stage", "display": {"cardFront": True}}
    assert change["display"]["translationKey"] == "action_rename_custom_field"
    text = field(api, board, "Company", "text", display_cardFront=False)
    assert text["display"] == {"cardFront": False}
    api.ok("PUT", f"/cards/{card['id']}/customField/{text['id']}/item", json={"value": {"text": "Acme"}})
    assert api.ok("DELETE", f"/customFields/{text['id']}") == {}
    assert api.ok("GET", f"/cards/{card['id']}/customFieldItems") == []
    assert [f["name"] for f in api.ok("GET", f"/boards/{board}/customFields")] == ["Phase"]
    assert [a["type"] for a in emu.actions(board) if "CustomField" in a["type"]] == [
        "createCustomField", "updateCustomFieldItem", "updateCustomField", "createCustomField",
        "updateCustomFieldItem", "deleteCustomField"]  # removing an option makes no item action
    for bad in ({"type": "money"}, {"name": ""}, {"modelType": "card"}):
        body = {"idModel": board, "modelType": "board", "name": "X", "type": "text", **bad}
        assert api.call("POST", "/customFields", json=body).status_code == 400


def test_a_persons_change_in_trello_has_no_app(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    api, board, card = world["api"], world["board_id"], world["card"]
    made = emu.add_custom_field(board, "Amount", "number")
    item = emu.set_custom_field_item(card["id"], made["id"], {"number": "5"})
    assert item["value"] == {"number": "5"}
    [change] = actions(emu, card["id"], "updateCustomFieldItem")
    assert change["appCreator"] is None and change["data"]["old"] == {"value": None}
    assert [f["id"] for f in api.ok("GET", f"/boards/{board}", params={"customFields": "true"})["customFields"]] == [
        made["id"]]


def test_copies_and_board_moves_keep_what_trello_keeps(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    api, board, card = world["api"], world["board_id"], world["card"]
    amount = field(api, board, "Amount", "number")
    api.ok("PUT", f"/cards/{card['id']}/customField/{amount['id']}/item", json={"value": {"number": "3"}})
    emu.add_checklist(card["id"], "Steps", ["Call", "Send quote"])
    api.ok("PUT", f"/cards/{card['id']}", json={"start": "2030-01-01T00:00:00Z"})
    copy = api.ok("POST", "/cards", json={"idList": world["list_ids"][1], "idCardSource": card["id"],
                                          "keepFromSource": "all"})
    assert copy["start"] == "2030-01-01T00:00:00.000Z" and copy["badges"]["checkItems"] == 2
    assert api.ok("GET", f"/cards/{copy['id']}/customFieldItems")[0]["value"] == {"number": "3"}
    other = emu.add_board("Other", world["member"]["id"], ["Inbox"])
    api.ok("PUT", f"/cards/{card['id']}", json={"idBoard": other["id"]})
    assert api.ok("GET", f"/cards/{card['id']}/customFieldItems") == []
    assert api.ok("GET", f"/cards/{card['id']}/checklists")[0]["idBoard"] == other["id"]


# --------------------------------------------------------------------------- labels and members


def test_labels(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    api, board, card = world["api"], world["board_id"], world["card"]
    vip = api.ok("POST", f"/boards/{board}/labels", json={"name": "VIP", "color": "red"})
    assert vip == {"id": vip["id"], "idBoard": board, "name": "VIP", "color": "red"}
    hot = api.ok("POST", "/labels", json={"name": "Hot", "color": "orange_dark", "idBoard": board})
    plain = api.ok("POST", "/labels", data={"name": "Plain", "idBoard": board})
    assert plain["color"] is None
    resp = api.call("POST", "/labels", json={"name": "X", "color": "mauve", "idBoard": board})
    assert (resp.status_code, resp.text) == (400, "invalid value for color")
    listed = api.ok("GET", f"/boards/{board}/labels")
    assert [label["name"] for label in listed][-3:] == ["VIP", "Hot", "Plain"]
    assert all(set(label) == {"id", "idBoard", "name", "color"} for label in listed)
    assert "uses" in api.ok("GET", f"/boards/{board}/labels", params={"fields": "all"})[0]
    assert api.ok("POST", f"/cards/{card['id']}/idLabels", data={"value": vip["id"]}) == [vip["id"]]
    resp = api.call("POST", f"/cards/{card['id']}/idLabels", data={"value": vip["id"]})
    assert (resp.status_code, resp.text) == (400, "that label is already on the card")
    assert api.ok("PUT", f"/cards/{card['id']}", json={"idLabels": [vip["id"], hot["id"]]})["idLabels"] == [
        vip["id"], hot["id"]]
    read = api.ok("GET", f"/cards/{card['id']}", params={"fields": "labels,idLabels"})
    assert [(label["name"], label["uses"]) for label in read["labels"]] == [("VIP", 1), ("Hot", 1)]
    assert api.ok("DELETE", f"/cards/{card['id']}/idLabels/{vip['id']}") == [hot["id"]]
    resp = api.call("DELETE", f"/cards/{card['id']}/idLabels/{vip['id']}")
    assert (resp.status_code, resp.text) == (400, "invalid value for idLabel")
    other = emu.seed(f"user{uuid.uuid4().hex[:8]}", "Other")
    foreign = Api(emu, other["token"]).ok("GET", f"/boards/{other['board']['id']}/labels")[0]
    resp = api.call("POST", f"/cards/{card['id']}/idLabels", data={"value": foreign["id"]})
    assert (resp.status_code, resp.text) == (400, "invalid value for value")
    kinds = [(a["type"], a["data"]["label"]["name"]) for a in emu.actions(card["id"]) if "Label" in a["type"]]
    assert kinds == [("addLabelToCard", "VIP"), ("addLabelToCard", "Hot"), ("removeLabelFromCard", "VIP")]
    assert [a["type"] for a in emu.actions(board) if a["type"] == "createLabel"] == ["createLabel"] * 3


def test_members(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    api, board, card, me = world["api"], world["board_id"], world["card"], world["member"]
    resp = requests.post(f"{emu.base_url}/_emulator/boards/{board}/members",
                         json={"username": f"bo{uuid.uuid4().hex[:6]}", "fullName": "Bo Owner"}, timeout=5)
    bo = resp.json()
    assert bo["fullName"] == "Bo Owner" and board in bo["idBoards"]
    outsider = emu.add_member(f"out{uuid.uuid4().hex[:6]}", "Out Sider")
    assert api.ok("GET", f"/boards/{board}/members") == [
        {"id": me["id"], "fullName": me["fullName"], "username": me["username"]},
        {"id": bo["id"], "fullName": "Bo Owner", "username": bo["username"]}]
    added = api.ok("POST", f"/cards/{card['id']}/idMembers", data={"value": bo["id"]})
    assert [m["id"] for m in added] == [bo["id"]] and added[0]["fullName"] == "Bo Owner"
    resp = api.call("POST", f"/cards/{card['id']}/idMembers", data={"value": bo["id"]})
    assert (resp.status_code, resp.text) == (400, "member is already on the card")
    resp = api.call("POST", f"/cards/{card['id']}/idMembers", data={"value": outsider["id"]})
    assert (resp.status_code, resp.text) == (400, "invalid value for value")
    api.ok("PUT", f"/cards/{card['id']}", data={"idMembers": f"{bo['id']},{me['id']}"})
    assert api.ok("GET", f"/cards/{card['id']}", params={"fields": "idMembers"})["idMembers"] == [bo["id"], me["id"]]
    assert [m["id"] for m in api.ok("DELETE", f"/cards/{card['id']}/idMembers/{bo['id']}")] == [me["id"]]
    kinds = [(a["type"], a["display"]["translationKey"], a["member"]["id"]) for a in emu.actions(card["id"])
             if "Member" in a["type"]]
    assert kinds == [("addMemberToCard", "action_added_member_to_card", bo["id"]),
                     ("addMemberToCard", "action_member_joined_card", me["id"]),
                     ("removeMemberFromCard", "action_removed_member_from_card", bo["id"])]
    again = requests.post(f"{emu.base_url}/_emulator/boards/{board}/members", json={"member": outsider["username"]},
                          timeout=5)
    assert again.json()["id"] == outsider["id"] and len(api.ok("GET", f"/boards/{board}/members")) == 3


# --------------------------------------------------------------------------- dates, checklists, comments


def test_start_due_and_done_in_one_put(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    api, card = world["api"], world["card"]
    assert card["start"] is None and card["badges"]["start"] is None
    made = api.ok("POST", "/cards", json={"idList": world["list_ids"][0], "name": "B",
                                          "start": "2030-01-01T00:00:00Z"})
    assert made["start"] == "2030-01-01T00:00:00.000Z"
    updated = api.ok("PUT", f"/cards/{card['id']}", json={
        "name": "Ada L.", "start": "2030-01-01T09:00:00Z", "due": "2030-01-31T17:00:00Z", "dueComplete": True})
    assert (updated["start"], updated["due"], updated["dueComplete"]) == (
        "2030-01-01T09:00:00.000Z", "2030-01-31T17:00:00.000Z", True)
    [change] = actions(emu, card["id"], "updateCard")
    assert change["data"]["old"] == {"name": "Ada", "due": None, "start": None, "dueComplete": False}
    assert {k: change["data"]["card"][k] for k in ("name", "due", "start", "dueComplete")} == {
        "name": "Ada L.", "due": "2030-01-31T17:00:00.000Z", "start": "2030-01-01T09:00:00.000Z",
        "dueComplete": True}
    api.ok("PUT", f"/cards/{card['id']}", json={"start": None})
    last = actions(emu, card["id"], "updateCard")[-1]
    assert last["data"]["old"] == {"start": "2030-01-01T09:00:00.000Z"}
    assert last["display"]["translationKey"] == "action_removed_a_start_date"
    resp = api.call("PUT", f"/cards/{card['id']}", json={"start": "soon"})
    assert (resp.status_code, resp.text) == (400, "invalid value for start")


def test_checklists_and_progress(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    api, card = world["api"], world["card"]
    checklist = api.ok("POST", f"/cards/{card['id']}/checklists", json={"name": "Steps"})
    assert checklist["checkItems"] == [] and checklist["idCard"] == card["id"]
    items = [api.ok("POST", f"/checklists/{checklist['id']}/checkItems", json={"name": n}) for n in ("Call", "Quote")]
    done = api.ok("POST", f"/checklists/{checklist['id']}/checkItems", json={"name": "Met", "checked": True})
    assert done["state"] == "complete" and items[0]["state"] == "incomplete"
    second = api.ok("POST", "/checklists", json={"idCard": card["id"], "name": "More"})
    api.ok("POST", f"/checklists/{second['id']}/checkItems", json={"name": "Sign"})
    badges = api.ok("GET", f"/cards/{card['id']}", params={"fields": "badges"})["badges"]
    assert (badges["checkItemsChecked"], badges["checkItems"]) == (1, 4)
    ticked = api.ok("PUT", f"/cards/{card['id']}/checkItem/{items[0]['id']}", json={"state": "complete"})
    assert ticked["state"] == "complete" and ticked["idChecklist"] == checklist["id"]
    api.ok("PUT", f"/cards/{card['id']}/checkItem/{items[0]['id']}", json={"state": "complete"})  # no change
    assert api.ok("GET", f"/cards/{card['id']}")["badges"]["checkItemsChecked"] == 2
    resp = api.call("PUT", f"/cards/{card['id']}/checkItem/{items[0]['id']}", json={"state": "done"})
    assert (resp.status_code, resp.text) == (400, "invalid value for state")
    full = api.ok("GET", f"/cards/{card['id']}", params={"checklists": "all", "fields": "idChecklists"})
    assert full["idChecklists"] == [checklist["id"], second["id"]]
    assert [c["name"] for c in full["checklists"]] == ["Steps", "More"]
    assert api.ok("GET", f"/checklists/{checklist['id']}")["checkItems"][0]["state"] == "complete"
    assert len(api.ok("GET", f"/checklists/{checklist['id']}/checkItems")) == 3
    assert api.ok("GET", f"/cards/{card['id']}/checkItem/{done['id']}")["name"] == "Met"
    assert len(actions(emu, card["id"], "updateCheckItemStateOnCard")) == 1
    copied = api.ok("POST", f"/cards/{card['id']}/checklists", json={"idChecklistSource": checklist["id"]})
    assert copied["name"] == "Steps" and [i["name"] for i in copied["checkItems"]] == ["Call", "Quote", "Met"]
    api.ok("DELETE", f"/cards/{card['id']}")
    assert api.call("GET", f"/checklists/{checklist['id']}").status_code == 404


def test_checklists_and_check_items_deleted(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    api, card = world["api"], world["card"]
    checklist = api.ok("POST", f"/cards/{card['id']}/checklists", json={"name": "Steps"})
    items = [api.ok("POST", f"/checklists/{checklist['id']}/checkItems", json={"name": n}) for n in ("A", "B", "C")]
    api.ok("DELETE", f"/checklists/{checklist['id']}/checkItems/{items[0]['id']}")
    api.ok("DELETE", f"/cards/{card['id']}/checkItem/{items[1]['id']}")
    assert api.ok("GET", f"/cards/{card['id']}", params={"fields": "badges"})["badges"]["checkItems"] == 1
    assert api.call("DELETE", f"/checklists/{checklist['id']}/checkItems/{items[0]['id']}").status_code == 404
    [deleted, _] = actions(emu, card["id"], "deleteCheckItem")
    assert set(deleted["data"]) == {"checkItem", "card", "checklist", "board"}
    assert deleted["data"]["card"]["id"] == card["id"]
    api.ok("DELETE", f"/checklists/{checklist['id']}")
    assert api.ok("GET", f"/cards/{card['id']}", params={"fields": "badges"})["badges"]["checkItems"] == 0
    assert api.call("GET", f"/checklists/{checklist['id']}").status_code == 404
    [removed] = actions(emu, card["id"], "removeChecklistFromCard")
    assert removed["data"]["checklist"] == {"id": checklist["id"], "name": "Steps"}
    # board comments, newest first, for reconciliation's one read
    for text in ("one", "two"):
        api.ok("POST", f"/cards/{card['id']}/actions/comments", data={"text": text})
    page = api.ok("GET", f"/boards/{world['board_id']}/actions", params={"filter": "commentCard", "limit": "1000"})
    assert [a["data"]["text"] for a in page] == ["two", "one"]


def test_comments_latest_first_and_counted(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    api, card = world["api"], world["card"]
    assert card["url"].startswith(f"https://trello.com/c/{card['shortLink']}/") and \
        card["shortUrl"] == f"https://trello.com/c/{card['shortLink']}"
    for text in ("first", "second"):
        answer = api.ok("POST", f"/cards/{card['id']}/actions/comments", data={"text": text})
        assert answer["data"]["text"] == text and answer["entities"][-1] == {"type": "comment", "text": text}
    emu.update_card(card["id"], name="Renamed")
    [latest] = api.ok("GET", f"/cards/{card['id']}/actions", params={"filter": "commentCard", "limit": "1"})
    assert latest["data"]["text"] == "second" and "entities" not in latest
    assert api.ok("GET", f"/cards/{card['id']}", params={"fields": "badges"})["badges"]["comments"] == 2


def test_the_board_state_shows_custom_fields(emu: TrelloEmulator, world: dict[str, Any]) -> None:
    api, board, card = world["api"], world["board_id"], world["card"]
    made = field(api, board, "Amount", "number")
    api.ok("PUT", f"/cards/{card['id']}/customField/{made['id']}/item", json={"value": {"number": "7"}})
    state = requests.get(f"{emu.base_url}/_emulator/state", params={"board": board}, timeout=5).json()
    assert state["customFieldsEnabled"] is True and state["customFields"][0]["id"] == made["id"]
    assert state["cards"][0]["customFieldItems"][0]["value"] == {"number": "7"}
    seeded = requests.post(f"{emu.base_url}/_emulator/seed", json={"username": f"s{uuid.uuid4().hex[:6]}",
                                                                 "customFields": True}, timeout=5).json()
    assert Api(emu, seeded["token"]).ok("GET", f"/boards/{seeded['board']['id']}/boardPlugins")
