"""A verified Power-Up API call records when the Power-Up was last used on the workspace's board;
a refused one records nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from server.extensions import db
from server.models import Workspace
from server.powerup.jwt import clear_key_cache
from tests.conftest import make_app
from tests.powerup_support import (
    LINKED_CARD,
    PLUGIN_ID,
    KeyServer,
    new_key,
    public_pem,
    seed,
    sign,
)

KEY, OTHER_KEY = new_key(), new_key()


def test_powerup_calls_are_recorded_as_last_used(tmp_path):
    keys = KeyServer({"keys": [public_pem(KEY)]}).start()
    try:
        app = make_app(f"sqlite:///{tmp_path / 'app.db'}", TRELLO_POWERUP_ID=PLUGIN_ID, TRELLO_JWT_KEYS_URL=keys.url)
        with app.app_context():
            seed(db)
        clear_key_cache()
        client = app.test_client()

        def last_used():
            with app.app_context():
                return db.session.get(Workspace, "ws_ours").powerup_last_seen_at

        forged = client.get(f"/api/powerup/cards/{LINKED_CARD}", headers={"Authorization": f"Bearer {sign(OTHER_KEY)}"})
        assert forged.status_code == 401 and last_used() is None
        answer = client.get(f"/api/powerup/cards/{LINKED_CARD}", headers={"Authorization": f"Bearer {sign(KEY)}"})
        assert answer.status_code == 200 and answer.get_json()["linked"] is True
        seen = last_used()
        assert seen is not None and abs((datetime.now(UTC) - seen).total_seconds()) < 30
        with app.app_context():
            db.engine.dispose()
    finally:
        keys.stop()
