"""Two workspaces (tabs) on one board: a card's card-back answers from the workspace whose lead it is."""

from __future__ import annotations

from server.extensions import db
from server.models import Link, Workspace
from server.powerup.jwt import clear_key_cache
from tests.conftest import make_app
from tests.powerup_support import BOARD_ID, LINKED_CARD, PLUGIN_ID, KeyServer, new_key, public_pem, seed, sign

KEY = new_key()
TAB_B_CARD = "60a0000000000000000000b1"


def test_the_card_back_of_another_tabs_card_shows_that_tabs_lead(tmp_path):
    keys = KeyServer({"keys": [public_pem(KEY)]}).start()
    try:
        app = make_app(f"sqlite:///{tmp_path / 'app.db'}", TRELLO_POWERUP_ID=PLUGIN_ID, TRELLO_JWT_KEYS_URL=keys.url)
        with app.app_context():
            seed(db)
            ours = db.session.get(Workspace, "ws_ours")
            tab_b = Workspace(id="ws_tab_b", name="Outbound", owner_id=ours.owner_id, spreadsheet_id="sheet-123",
                              sheet_name="Outbound", trello_board_id=BOARD_ID, mapping=ours.mapping)
            db.session.add(tab_b)
            db.session.flush()
            db.session.add(Link(workspace_id="ws_tab_b", lead_id="L-out", card_id=TAB_B_CARD, row_number=2,
                                sync_state="synced", shadow={"Name": "Otto Outbound", "Status": "New"}))
            db.session.commit()
        clear_key_cache()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {sign(KEY)}"}
        answer = client.get(f"/api/powerup/cards/{TAB_B_CARD}", headers=headers).get_json()
        assert answer["linked"] is True and answer["workspace"]["name"] == "Outbound"
        assert answer["lead"]["lead_id"] == "L-out"
        first = client.get(f"/api/powerup/cards/{LINKED_CARD}", headers=headers).get_json()
        assert first["linked"] is True and first["workspace"]["name"] == "Acme leads"
        unknown = client.get("/api/powerup/cards/60a0000000000000000000c1", headers=headers).get_json()
        assert unknown["linked"] is False and unknown["workspace"]["name"] == "Acme leads"  # the oldest, as before
    finally:
        keys.stop()
