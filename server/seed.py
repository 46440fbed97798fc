"""Create a user, connected accounts and a workspace without the OAuth dance.

Used by the local demo and the tests, where the "accounts" belong to the emulators.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .models import GOOGLE, TRELLO, ProviderAccount, User, Workspace

DEMO_HEADER = ["Name", "Email", "Phone", "Company", "Status", "Notes", "Lead ID"]
DEMO_LISTS = ["New", "Contacted", "Qualified", "Closed"]
# Many statuses to one list: Won and Lost both live in "Closed"; a card moved there reads "Won".
DEMO_STATUS_TO_LIST_NAME = {"New": "New", "Contacted": "Contacted", "Qualified": "Qualified",
                            "Won": "Closed", "Lost": "Closed"}
DEMO_LIST_TO_STATUS = {"New": "New", "Contacted": "Contacted", "Qualified": "Qualified", "Closed": "Won"}


def demo_mapping(list_ids: dict[str, str]) -> dict[str, Any]:
    """The demo mapping, given the board's list ids by name."""
    return {
        "title_column": "Name",
        "status_column": "Status",
        "description_columns": ["Email", "Phone", "Company", "Notes"],
        "due_column": None,
        "status_to_list": {status: list_ids[name] for status, name in DEMO_STATUS_TO_LIST_NAME.items()},
        "list_to_status": {list_ids[name]: status for name, status in DEMO_LIST_TO_STATUS.items()},
        "default_status": "New",
    }


def seed_workspace(session: Session, *, email: str, trello_member_id: str, trello_username: str,
                   trello_token: str, google_token: str, spreadsheet_id: str, sheet_name: str, board_id: str,
                   mapping: dict[str, Any], name: str = "Leads", sheet_gid: int | None = None,
                   **workspace_fields: Any) -> Workspace:
    """A user with Google and Trello accounts and one workspace (committed).

    ``sheet_gid`` is the tab's numeric id (its ``gid``), for links that open the right tab.
    """
    user = session.query(User).filter_by(email=email).one_or_none()
    if user is None:
        user = User(email=email, name=email.split("@")[0].title())
        session.add(user)
        session.flush()
    trello = ProviderAccount(user_id=user.id, provider=TRELLO, provider_user_id=trello_member_id,
                             username=trello_username, access_token=trello_token, scopes="read,write")
    google = ProviderAccount(user_id=user.id, provider=GOOGLE, provider_user_id=f"google-{email}", username=email,
                             access_token=google_token,
                             scopes="https://www.googleapis.com/auth/spreadsheets")
    session.add_all([trello, google])
    session.flush()
    workspace = Workspace(name=name, owner_id=user.id, google_account_id=google.id, trello_account_id=trello.id,
                          spreadsheet_id=spreadsheet_id, sheet_name=sheet_name, sheet_gid=sheet_gid,
                          trello_board_id=board_id, mapping=mapping, **workspace_fields)
    session.add(workspace)
    session.commit()
    return workspace
