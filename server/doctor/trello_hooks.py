"""Check the board webhooks Trello holds for the active workspaces: present, active, not failing."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from .. import crypto
from ..models import ProviderAccount, Workspace, WorkspaceBoard
from ..models.workspace import ACTIVE
from ..trello.client import TrelloClient
from ..trello.errors import TrelloAuthError, TrelloError
from .context import DoctorContext
from .report import Finding, fail, ok, skip

SHOWN = 5


def _hooks_by_account(ctx: DoctorContext) -> dict[str, list[tuple[str, str]]] | None:
    """Per Trello token: the (workspace id, webhook id) pairs of its active workspaces."""
    query = (select(ProviderAccount.access_token, Workspace.id, Workspace.trello_webhook_id)
             .join(ProviderAccount, ProviderAccount.id == Workspace.trello_account_id)
             .where(Workspace.state == ACTIVE, Workspace.trello_webhook_id.is_not(None)))
    # and each further board's webhook (several boards per sheet), named "<workspace> (board <id>)"
    routed = (select(ProviderAccount.access_token, Workspace.id, WorkspaceBoard.board_id, WorkspaceBoard.webhook_id)
              .join(Workspace, Workspace.id == WorkspaceBoard.workspace_id)
              .join(ProviderAccount, ProviderAccount.id == Workspace.trello_account_id)
              .where(Workspace.state == ACTIVE, WorkspaceBoard.webhook_id.is_not(None)))
    grouped: dict[str, list[tuple[str, str]]] = defaultdict(list)
    with ctx.engine().connect() as connection:
        for token, workspace_id, webhook_id in connection.execute(query):
            if token:
                grouped[token].append((workspace_id, webhook_id))
        for token, workspace_id, board_id, webhook_id in connection.execute(routed):
            if token:
                grouped[token].append((f"{workspace_id} (board {board_id})", webhook_id))
    return grouped


def trello_webhooks(ctx: DoctorContext) -> Finding:
    """One call per Trello account (``/tokens/{token}/webhooks``) covers all its workspaces."""
    name = "trello_webhooks"
    if not ctx.trello_api_key:
        return skip(name, "TRELLO_API_KEY is empty (see trello_key)")
    try:
        grouped = _hooks_by_account(ctx)
    except SQLAlchemyError:
        return skip(name, "database unreachable (see database)")
    except crypto.DecryptionError:
        return skip(name, "the Trello tokens cannot be decrypted (see encryption_key)")
    if not grouped:
        return ok(name, "no active workspace has a Trello webhook yet")
    missing: list[str] = []
    inactive: list[str] = []
    failing: list[str] = []
    refused: list[str] = []
    checked = 0
    for token, pairs in grouped.items():
        client = TrelloClient(ctx.trello_api_key, token, base_url=ctx.trello_api_base_url, timeout=ctx.timeout_s)
        try:
            hooks: dict[str, dict[str, Any]] = {h["id"]: h for h in client.token_webhooks()}
        except TrelloAuthError as exc:
            if "invalid key" in str(exc).lower():
                return skip(name, "Trello refuses the API key (see trello_key)")
            refused.extend(workspace_id for workspace_id, _ in pairs)
            continue
        except (TrelloError, requests.RequestException) as exc:
            return fail(name, f"Trello's webhooks cannot be listed ({type(exc).__name__})",
                        "check TRELLO_API_BASE_URL and outbound network access")
        for workspace_id, webhook_id in pairs:
            checked += 1
            hook = hooks.get(webhook_id)
            if hook is None:
                missing.append(workspace_id)
            elif not hook.get("active", True):
                inactive.append(workspace_id)
            elif hook.get("consecutiveFailures"):
                failing.append(f"{workspace_id} ({hook['consecutiveFailures']} failures since "
                               f"{hook.get('firstConsecutiveFailDate')})")
    problems = [f"{label}: {', '.join(ids[:SHOWN])}{' ...' if len(ids) > SHOWN else ''}"
                for label, ids in (("deleted by Trello", missing), ("deactivated by Trello", inactive),
                                   ("failing deliveries", failing), ("token refused", refused)) if ids]
    if problems:
        return fail(name, f"{len(missing) + len(inactive) + len(failing) + len(refused)} of {checked + len(refused)} "
                          f"workspace webhook(s) need attention ({'; '.join(problems)})",
                    "make public_url pass first; the worker then registers missing or deactivated webhooks "
                    "within WEBHOOK_CHECK_INTERVAL_S (or press Disconnect, then Reconnect, on the workspace page); "
                    "a refused token needs its owner to connect Trello again; then Sync now")
    return ok(name, f"{checked} workspace webhook(s) active at Trello")
