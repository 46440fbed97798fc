"""Editing a workspace's mapping after it was created (``/app/workspaces/<id>/mapping``).

The page reads the sheet's header and statuses and the board's lists, and shows the columns,
status → list and list → status tables and the removal policies, with the statuses and lists
the sync met unmapped (parked events) offered first. "Preview changes" checks the answers and
says what saving changes (``server/sync/remap.py``); "Save" stores the mapping, queues again the
parked events it clears and, if asked, a full sync. Bad answers are shown in words and change
nothing. The checks are ``server/sync/mapping_form.py``'s, shared with the wizard.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..auth.session import login_required
from ..extensions import db, db_session
from ..models import ProviderAccount, Workspace
from ..models.enums import HistoryAction, HistorySide
from ..models.mapping import Mapping, MappingError, normalise_status
from ..models.workspace import ACTIVE
from ..sheets.errors import SheetsError, sheets_error_message
from ..sync import mapping_form as form_checks
from ..sync import remap
from ..sync.history import record
from ..sync.matching import best_match, reverse_table
from ..sync.queue import RECONCILE, enqueue_command
from ..trello.errors import TrelloError, trello_error_message
from .blueprint import bp
from .google import reader, sheet_tab
from .helpers import is_draft, user, wake_worker, workspace_or_404, workspace_trello

log = structlog.get_logger(__name__)


@dataclass
class Sources:
    """What the page offers: the sheet's columns and statuses and the board's lists, as read now."""

    columns: list[str]
    statuses: list[str]
    lists: list[tuple[str, str]]
    problems: list[str] = field(default_factory=list)
    # the board's custom fields that can be mapped (id, name, type); ``custom_fields_note`` says in
    # words why there are none to offer (no Custom Fields on the board, or they could not be read)
    custom_fields: list[tuple[str, str, str]] = field(default_factory=list)
    custom_fields_note: str = ""


def _read_sources(ws: Workspace) -> Sources:
    """Read the header, the status column and the lists; on failure, fall back to what is saved."""
    problems: list[str] = []
    try:
        mapping = Mapping.of(ws)
    except MappingError as exc:
        mapping = Mapping(lead_id_column=ws.lead_id_column)
        problems.append(f"The saved mapping could not be read ({exc}); choose the columns and lists again below.")
    saved_names = mapping.list_names
    out = Sources(columns=[c for c in mapping.synced_columns], statuses=[],
                  lists=[(list_id, saved_names.get(list_id, list_id)) for list_id in mapping.list_to_status],
                  problems=problems)
    account = db.session.get(ProviderAccount, ws.google_account_id) if ws.google_account_id else None
    try:
        tab = sheet_tab(current_app, account, ws.spreadsheet_id, ws.sheet_name)
        header = tab.header(ws.header_row)
        out.columns = list(dict.fromkeys(h for h in header if h and h != ws.lead_id_column))
        gone = [c for c in mapping.synced_columns if c not in out.columns]
        if gone:
            out.problems.append("The sheet's header row no longer has " + ", ".join(f"“{c}”" for c in gone)
                                + ": choose the columns again below (the sync parks edits it cannot place).")
        out.statuses = reader(current_app, account, ws.spreadsheet_id).column_values(
            tab, header, mapping.status_column, ws.header_row)
    except SheetsError as exc:
        out.problems.append(f"The sheet could not be read ({sheets_error_message(exc)}); "
                            "the columns shown are the saved ones.")
    client = workspace_trello(ws)
    try:
        if client is None:
            raise TrelloError("no Trello account")
        lists = client.lists(ws.trello_board_id)
        out.lists = [(str(lst["id"]), str(lst.get("name") or "")[:100]) for lst in lists][:60]
    except TrelloError as exc:
        words = trello_error_message(exc) if client is not None else "the workspace has no Trello account"
        out.problems.append(f"The board's lists could not be read ({words}); the lists shown are the saved ones.")
    _read_custom_fields(ws, client, mapping, out)
    return out


CUSTOM_FIELDS_OFF = ("This Trello board has no Custom Fields (they need a paid Trello plan or the board's Custom "
                     "Fields Power-Up), so no column can be mapped to one.")


def _read_custom_fields(ws: Workspace, client: Any, mapping: Mapping, out: Sources) -> None:
    """Whether the board has Custom Fields, and which; a mapped field the board lost is said."""
    if client is None:
        out.custom_fields_note = "The board's custom fields could not be read (the workspace has no Trello account)."
        return
    try:
        if not client.custom_fields_available(ws.trello_board_id):
            out.custom_fields_note = CUSTOM_FIELDS_OFF
            if mapping.custom_fields:
                out.problems.append(CUSTOM_FIELDS_OFF[:-1] + ": the columns mapped to custom fields ("
                                    + ", ".join(f"“{c}”" for c in mapping.custom_fields)
                                    + ") are not written to cards; each lead's history says so. Saving keeps them "
                                      "mapped for when Custom Fields are back.")
            return
        defined = client.board_custom_fields(ws.trello_board_id)
    except TrelloError as exc:
        out.custom_fields_note = f"The board's custom fields could not be read ({trello_error_message(exc)})."
        return
    out.custom_fields = [(str(f["id"]), str(f.get("name") or "")[:100], str(f.get("type") or ""))
                         for f in defined if isinstance(f, dict) and f.get("id")][:50]
    if not out.custom_fields:
        out.custom_fields_note = ("The board has Custom Fields but none defined yet: add them in Trello to map "
                                  "them here.")
    known = {fid for fid, _, _ in out.custom_fields}
    lost = [c for c, fid in mapping.custom_fields.items() if fid not in known]
    if lost:
        out.problems.append("The board no longer has the custom field of " + ", ".join(f"“{c}”" for c in lost)
                            + ": choose its field again below, or none.")


def _custom_answers(ws: Workspace, sources: Sources) -> list[tuple[str, str]]:
    """(column, field id) submitted; with no custom fields to offer, the saved ones are kept as they are."""
    if not sources.custom_fields:
        return list(Mapping.of_or_default(ws).custom_fields.items())
    return form_checks.custom_fields_from_form(request.form.get, [fid for fid, _, _ in sources.custom_fields])


# --------------------------------------------------------------------------- the form's content


def _form_from_saved(ws: Workspace, sources: Sources) -> dict[str, Any]:
    """The page's answers before any edit: the saved mapping, plus what the sync met unmapped."""
    mapping = Mapping.of_or_default(ws)
    saved = dict(mapping.statuses_as_written)
    offered = [o.value for o in remap.offers(db_session(), ws) if o.kind is remap.GapKind.STATUS]
    asked = form_checks.clean(request.args.get("status", ""))
    statuses = list(dict.fromkeys([*saved, *sources.statuses, *offered, *([asked] if asked else [])]))
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    for status in statuses:
        key = normalise_status(status)
        if not key or key in seen:
            continue
        seen.add(key)
        list_id = mapping.status_to_list.get(key) or best_match(status, sources.lists) or ""
        rows.append({"status": status, "list_id": list_id, "new": key not in mapping.status_to_list})
    saved_reverse = {lid: s for lid, s in mapping.list_to_status.items()}
    reverse = reverse_table(sources.lists, {r["status"]: r["list_id"] or None for r in rows}, saved_reverse)
    return {"title_column": mapping.title_column, "status_column": mapping.status_column,
            "due_column": mapping.due_column or "", "description_columns": list(mapping.description_columns),
            "start_column": mapping.start_column or "", "due_done_column": mapping.due_done_column or "",
            "card_url_column": mapping.card_url_column or "", "labels_column": mapping.labels_column or "",
            "directions": {f.column: f.direction.value for f in mapping.fields},
            "custom_fields": {fid: column for column, fid in mapping.custom_fields.items()},
            "rows": rows, "reverse": reverse, "default_status": mapping.default_status,
            "row_removed_policy": ws.row_removed_policy, "card_removed_policy": ws.card_removed_policy,
            "card_removed_status": ws.card_removed_status, "full_sync": True}


def _form_from_post(ws: Workspace, sources: Sources) -> dict[str, Any]:
    """The answers as submitted, to show them again (with the problems or the preview)."""
    pairs = form_checks.status_pairs(request.form.get)
    rows, seen = [], set()
    for status, list_id in pairs:
        status = form_checks.clean(status)
        if status and normalise_status(status) not in seen:
            seen.add(normalise_status(status))
            rows.append({"status": status, "list_id": list_id, "new": False})
    return {"title_column": request.form.get("title_column", ""),
            "status_column": request.form.get("status_column", ""),
            "due_column": request.form.get("due_column", ""),
            "start_column": request.form.get("start_column", ""),
            "due_done_column": request.form.get("due_done_column", ""),
            "card_url_column": request.form.get("card_url_column", ""),
            "labels_column": request.form.get("labels_column", ""),
            "directions": form_checks.directions_from_form(request.form.get, sources.columns),
            "custom_fields": {fid: column for column, fid in _custom_answers(ws, sources)},
            "description_columns": request.form.getlist("description_columns"), "rows": rows,
            "reverse": {list_id: form_checks.clean(request.form.get(f"reverse_{list_id}", ""))
                        for list_id, _ in sources.lists},
            "default_status": form_checks.clean(request.form.get("default_status", "")),
            "row_removed_policy": request.form.get("row_removed_policy", ""),
            "card_removed_policy": request.form.get("card_removed_policy", ""),
            "card_removed_status": form_checks.clean(request.form.get("card_removed_status", "")),
            "full_sync": request.form.get("full_sync") == "yes"}


@dataclass
class Checked:
    mapping: Mapping
    policies: form_checks.PolicyAnswer
    problems: list[str]


def _check(ws: Workspace, sources: Sources) -> Checked:
    """Check the submitted answers; the new mapping as it would be stored."""
    columns = form_checks.check_columns(sources.columns, request.form.get("title_column", ""),
                                        request.form.get("status_column", ""), request.form.get("due_column") or None,
                                        request.form.getlist("description_columns"),
                                        start=request.form.get("start_column") or None,
                                        due_done=request.form.get("due_done_column") or None,
                                        card_url=request.form.get("card_url_column") or None,
                                        labels=request.form.get("labels_column") or None,
                                        directions=form_checks.directions_from_form(request.form.get, sources.columns),
                                        custom_fields=_custom_answers(ws, sources))
    reverse = {list_id: request.form.get(f"reverse_{list_id}", "") for list_id, _ in sources.lists}
    statuses = form_checks.check_statuses(form_checks.status_pairs(request.form.get), reverse,
                                          request.form.get("default_status", ""), sources.lists)
    policies = form_checks.check_policies(request.form.get("row_removed_policy", ""),
                                          request.form.get("card_removed_policy", ""),
                                          request.form.get("card_removed_status", ""))
    saved = Mapping.of_or_default(ws)
    mapping = replace(saved, fields=columns.fields(),
                      statuses_as_written=statuses.status_to_list, list_to_status=statuses.list_to_status,
                      default_status=statuses.default_status, list_names={**saved.list_names, **dict(sources.lists)})
    routed = [f"“{saved.routing.column}” picks each row's board (see Boards): it cannot also be a card field."
              for f in mapping.fields if saved.routing and f.column == saved.routing.column][:1]
    if saved.routing and saved.routing.boards and mapping.custom_fields:
        routed.append("Custom fields belong to one board, and this workspace sends rows to several (see Boards): "
                      "remove the other boards first to map columns to custom fields.")
    return Checked(mapping, policies, [*columns.problems, *statuses.problems, *policies.problems, *routed])


def fingerprint(mapping: dict[str, Any], policies: Any = None) -> str:
    """A short hash of a mapping (and policies): what was previewed, or what the page was based on."""
    values = [mapping, [policies.row_removed_policy, policies.card_removed_policy,
                        policies.card_removed_status] if policies is not None else None]
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _render(ws: Workspace, sources: Sources, answers: dict[str, Any], *, problems: list[str] | None = None,
            effect: remap.Effect | None = None, previewed: str = "", base: str = "", status: int = 200) -> Response:
    saved_lists = set(Mapping.of_or_default(ws).list_to_status)
    statuses = [r["status"] for r in answers["rows"]]
    page = render_template(
        "dashboard/mapping.html", ws=ws, sources=sources, answers=answers, problems=problems or [],
        effect=effect, previewed=previewed, base=base or fingerprint(ws.mapping or {}),
        lists=sources.lists, new_lists=[lid for lid, _ in sources.lists if lid not in saved_lists],
        all_statuses=list(dict.fromkeys([*statuses, *(name for _, name in sources.lists)])),
        row_policies=form_checks.ROW_POLICIES, card_policies=form_checks.CARD_POLICIES,
        direction_choices=form_checks.DIRECTION_CHOICES, custom=sources.custom_fields,
        custom_note=sources.custom_fields_note, custom_types=CUSTOM_FIELD_TYPES,
        custom_creatable=bool(sources.custom_fields) or sources.custom_fields_note.startswith("The board has Custom"),
        unmatched=[r["status"] for r in answers["rows"] if not r["list_id"]])
    response = current_app.make_response((page, status))
    response.headers["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- the view


@bp.route("/workspaces/<workspace_id>/mapping", methods=["GET", "POST"])
@login_required
def edit_mapping(workspace_id: str) -> Response:
    ws = workspace_or_404(workspace_id)
    if is_draft(ws):
        flash("This workspace is a draft: change its mapping in the wizard.", "info")
        return redirect(url_for("dashboard.setup", workspace_id=ws.id))
    sources = _read_sources(ws)
    if request.method == "GET":
        return _render(ws, sources, _form_from_saved(ws, sources))
    answers = _form_from_post(ws, sources)
    base = request.form.get("base", "")
    if base and base != fingerprint(ws.mapping or {}):
        return _render(ws, sources, _form_from_saved(ws, sources), status=409, problems=[
            ("Someone changed this workspace's mapping while you were editing it. This page now shows the "
             "saved mapping; make your changes again.")])
    if request.form.get("action") == "create_custom_field":
        return _create_custom_field(ws, sources, answers, base)
    checked = _check(ws, sources)
    if checked.problems:
        return _render(ws, sources, answers, problems=checked.problems, base=base, status=400)
    new_print = fingerprint(checked.mapping.to_json(), checked.policies)
    effect = remap.effect_of(db_session(), ws, checked.mapping)
    if request.form.get("action") != "save" or request.form.get("previewed") != new_print:
        if request.form.get("action") == "save":
            flash("The answers changed since the preview: check the preview below, then save.", "info")
        return _render(ws, sources, answers, effect=effect, previewed=new_print, base=base)
    return _save(ws, checked, effect, full_sync=request.form.get("full_sync") == "yes")


CUSTOM_FIELD_TYPES = {"text": "Text", "number": "Number", "date": "Date", "checkbox": "Checkbox",
                      "list": "List of options"}


def _create_custom_field(ws: Workspace, sources: Sources, answers: dict[str, Any], base: str) -> Response:
    """Make a custom field on the board for a sheet column (named after it) and map it there; the
    page then shows the answers again, to preview and save as ever."""
    column = request.form.get("new_custom_column", "")
    kind = request.form.get("new_custom_type", "")
    options = [o for o in (" ".join(p.split()) for p in request.form.get("new_custom_options", "").split(",")) if o]
    problems = []
    if not sources.custom_fields and sources.custom_fields_note == CUSTOM_FIELDS_OFF:
        problems.append(CUSTOM_FIELDS_OFF)
    if column not in sources.columns:
        problems.append("Choose the column the new custom field is for.")
    elif any(name.casefold() == column.casefold() for _, name, _ in sources.custom_fields):
        problems.append(f"The board already has a custom field named “{column}”: map it to the column above.")
    if kind not in CUSTOM_FIELD_TYPES:
        problems.append("Choose the new custom field's type.")
    if kind == "list" and not options:
        problems.append("Give the new list field's options, separated by commas (“Hot, Warm, Cold”).")
    client = workspace_trello(ws)
    if client is None:
        problems.append("The workspace has no Trello account.")
    if problems or client is None:
        return _render(ws, sources, answers, problems=problems, base=base, status=400)
    try:
        made = client.create_custom_field(ws.trello_board_id, column[:100], kind, options=options[:50])
    except TrelloError as exc:
        return _render(ws, sources, answers, base=base, status=400,
                       problems=[f"Trello did not make the custom field ({trello_error_message(exc)})."])
    record(db_session(), ws.id, side=HistorySide.SYSTEM, action=HistoryAction.MAPPING_CHANGED,
           message=f"{user().email} made the custom field “{column}” ({kind}) on the board for the column “{column}”")
    db.session.commit()
    sources.custom_fields.append((str(made["id"]), column[:100], kind))
    sources.custom_fields_note = ""
    answers["custom_fields"] = {**{k: v for k, v in answers.get("custom_fields", {}).items() if v != column},
                                str(made["id"]): column}
    flash(f"The custom field “{column}” is on the board and mapped to the column; preview, then save.", "info")
    return _render(ws, sources, answers, base=base)


def _save(ws: Workspace, checked: Checked, effect: remap.Effect, *, full_sync: bool) -> Response:
    me = user()
    ws.mapping = checked.mapping.to_json()
    ws.row_removed_policy = checked.policies.row_removed_policy
    ws.card_removed_policy = checked.policies.card_removed_policy
    ws.card_removed_status = checked.policies.card_removed_status
    requeued = remap.requeue_cleared(db_session(), ws, checked.mapping)
    queued_sync = full_sync and ws.state == ACTIVE and enqueue_command(
        db_session(), ws.id, RECONCILE, {"requested_by": me.id}) is not None
    record(db_session(), ws.id, side=HistorySide.SYSTEM, action=HistoryAction.MAPPING_CHANGED,
           message=f"Mapping changed by {me.email}; {requeued} parked event(s) queued again"
                   + ("; a full sync is queued." if queued_sync else "."))
    wake_worker()
    log.info("mapping_saved", workspace_id=ws.id, user_id=me.id, requeued=requeued, full_sync=bool(queued_sync))
    flash("The mapping is saved." + (f" {requeued} parked event(s) are queued again." if requeued else "")
          + (" A full sync is queued to apply it to every lead." if queued_sync else ""), "success")
    if effect.still_parked:
        flash(f"{len(effect.still_parked)} parked event(s) still wait for the mapping "
              f"({', '.join(words for _, words in effect.still_parked[:3])}).", "error")
    if full_sync and ws.state != ACTIVE:
        flash("The workspace is not syncing, so no full sync was queued; resume it to apply the mapping.", "info")
    return redirect(url_for("dashboard.workspace", workspace_id=ws.id))


@bp.app_template_global("mapping_offers")
def mapping_offers(ws: Workspace) -> list[remap.Offer]:
    """The unmapped statuses and lists parked events met (the workspace page offers to map them)."""
    if is_draft(ws):
        return []
    return remap.offers(db_session(), ws)


__all__ = ["edit_mapping", "fingerprint", "mapping_offers"]
