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
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from ..auth.session import login_required
from ..extensions import db, db_session
from ..models import History, ProviderAccount, Workspace
from ..models.enums import HistoryAction, HistorySide, Outcome
from ..models.mapping import Mapping, MappingError, normalise_status
from ..models.workspace import ACTIVE
from ..sheets.client import column_letter
from ..sheets.errors import SheetsError, sheets_error_message
from ..sync import customfield_make as making
from ..sync import filter_form, remap
from ..sync import mapping_form as form_checks
from ..sync.customfield_make import CUSTOM_FIELDS_OFF
from ..sync.history import record
from ..sync.mapping import cell_text
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


def _read_custom_fields(ws: Workspace, client: Any, mapping: Mapping, out: Sources) -> None:
    """Whether the board has Custom Fields, and which; a mapped field the board lost is said."""
    if client is None:
        out.custom_fields_note = "The board's custom fields could not be read (the workspace has no Trello account)."
        return
    try:
        if not client.custom_fields_available(ws.trello_board_id):
            out.custom_fields_note = CUSTOM_FIELDS_OFF
            if mapping.custom_fields:
                out.problems.append(fallback_words(list(mapping.custom_fields)))
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


def fallback_words(columns: list[str]) -> str:
    """The board has no Custom Fields but ``columns`` are mapped to some: said, and the fallback offered."""
    named = ", ".join(f"“{c}”" for c in columns)
    return (CUSTOM_FIELDS_OFF[:-1] + f": the columns mapped to custom fields ({named}) are not written to cards "
            "(each lead's history says so). They are checked below to sync as “Column: value” lines in the card "
            "description instead; preview, then save, and the next full sync writes them into every card's "
            "description. Untick them to keep them mapped for when Custom Fields are back.")


def _custom_answers(ws: Workspace, sources: Sources, form: Any = None) -> list[tuple[str, str]]:
    """(column, field id) submitted; with no custom fields to offer, the saved ones are kept as they are,
    except those checked as description lines (the fallback for a board without Custom Fields)."""
    form = request.form if form is None else form
    if not sources.custom_fields:
        described = set(form.getlist("description_columns"))
        return [(c, f) for c, f in Mapping.of_or_default(ws).custom_fields.items() if c not in described]
    return form_checks.custom_fields_from_form(form.get, [fid for fid, _, _ in sources.custom_fields])


# --------------------------------------------------------------------------- the form's content


def _form_from_saved(ws: Workspace, sources: Sources) -> dict[str, Any]:
    """The page's answers before any edit: the saved mapping, plus what the sync met unmapped."""
    mapping = Mapping.of_or_default(ws)
    described = list(mapping.description_columns)
    if sources.custom_fields_note == CUSTOM_FIELDS_OFF:  # the fallback, pre-checked: as description lines
        described.extend(c for c in mapping.custom_fields if c not in described)
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
            "due_column": mapping.due_column or "", "description_columns": described,
            "start_column": mapping.start_column or "", "due_done_column": mapping.due_done_column or "",
            "card_url_column": mapping.card_url_column or "", "labels_column": mapping.labels_column or "",
            "members_column": mapping.members_column or "", "checklist_column": mapping.checklist_column or "",
            "comment_column": mapping.comment_column or "",
            "member_emails": form_checks.member_emails_text(mapping.member_emails),
            "create_labels": mapping.create_labels,
            "directions": {f.column: f.direction.value for f in mapping.fields},
            "custom_fields": {fid: column for column, fid in mapping.custom_fields.items()},
            "rows": rows, "reverse": reverse, "default_status": mapping.default_status,
            "row_removed_policy": ws.row_removed_policy, "card_removed_policy": ws.card_removed_policy,
            "card_removed_status": ws.card_removed_status, "full_sync": True,
            "filters": filter_form.form_answers(mapping.row_filter, mapping.card_filter)}


def _form_from_post(ws: Workspace, sources: Sources, form: Any = None) -> dict[str, Any]:
    """The answers as submitted, to show them again (with the problems or the preview)."""
    form = request.form if form is None else form
    pairs = form_checks.status_pairs(form.get)
    rows, seen = [], set()
    for status, list_id in pairs:
        status = form_checks.clean(status)
        if status and normalise_status(status) not in seen:
            seen.add(normalise_status(status))
            rows.append({"status": status, "list_id": list_id, "new": False})
    return {"title_column": form.get("title_column", ""),
            "status_column": form.get("status_column", ""),
            "due_column": form.get("due_column", ""),
            "start_column": form.get("start_column", ""),
            "due_done_column": form.get("due_done_column", ""),
            "card_url_column": form.get("card_url_column", ""),
            "labels_column": form.get("labels_column", ""),
            "members_column": form.get("members_column", ""),
            "checklist_column": form.get("checklist_column", ""),
            "comment_column": form.get("comment_column", ""),
            "member_emails": form.get("member_emails", ""),
            "create_labels": form.get("create_labels") == "yes",
            "directions": form_checks.directions_from_form(form.get, sources.columns),
            "custom_fields": {fid: column for column, fid in _custom_answers(ws, sources, form)},
            "description_columns": form.getlist("description_columns"), "rows": rows,
            "reverse": {list_id: form_checks.clean(form.get(f"reverse_{list_id}", ""))
                        for list_id, _ in sources.lists},
            "default_status": form_checks.clean(form.get("default_status", "")),
            "row_removed_policy": form.get("row_removed_policy", ""),
            "card_removed_policy": form.get("card_removed_policy", ""),
            "card_removed_status": form_checks.clean(form.get("card_removed_status", "")),
            "full_sync": form.get("full_sync") == "yes",
            "filters": filter_form.posted_answers(form.get, form.getlist)}


@dataclass
class Checked:
    mapping: Mapping
    policies: form_checks.PolicyAnswer
    problems: list[str]


def _check(ws: Workspace, sources: Sources, form: Any = None) -> Checked:
    """Check the submitted answers; the new mapping as it would be stored."""
    form = request.form if form is None else form
    columns = form_checks.check_columns(sources.columns, form.get("title_column", ""),
                                        form.get("status_column", ""), form.get("due_column") or None,
                                        form.getlist("description_columns"),
                                        start=form.get("start_column") or None,
                                        due_done=form.get("due_done_column") or None,
                                        card_url=form.get("card_url_column") or None,
                                        labels=form.get("labels_column") or None,
                                        members=form.get("members_column") or None,
                                        checklist=form.get("checklist_column") or None,
                                        comment=form.get("comment_column") or None,
                                        member_emails=form.get("member_emails", ""),
                                        directions=form_checks.directions_from_form(form.get, sources.columns),
                                        custom_fields=_custom_answers(ws, sources, form))
    reverse = {list_id: form.get(f"reverse_{list_id}", "") for list_id, _ in sources.lists}
    statuses = form_checks.check_statuses(form_checks.status_pairs(form.get), reverse,
                                          form.get("default_status", ""), sources.lists)
    policies = form_checks.check_policies(form.get("row_removed_policy", ""),
                                          form.get("card_removed_policy", ""),
                                          form.get("card_removed_status", ""))
    row_filter, row_problems = filter_form.row_filter_from_form(form.get, sources.columns)
    card_filter, card_problems = filter_form.card_filter_from_form(form.get, form.getlist, sources.lists)
    saved = Mapping.of_or_default(ws)
    mapping = replace(saved, fields=columns.fields(), member_emails=columns.member_emails,
                      statuses_as_written=statuses.status_to_list, list_to_status=statuses.list_to_status,
                      default_status=statuses.default_status, list_names={**saved.list_names, **dict(sources.lists)},
                      row_filter=row_filter, card_filter=card_filter,
                      create_labels=bool(columns.labels_column) and form.get("create_labels") == "yes")
    routed = [f"“{saved.routing.column}” picks each row's board (see Boards): it cannot also be a card field."
              for f in mapping.fields if saved.routing and f.column == saved.routing.column][:1]
    if saved.routing and saved.routing.boards and mapping.card_filter.lists is not None \
            and mapping.card_filter.lists != saved.card_filter.lists:
        routed.append("The card filter's lists are the main board's, and this workspace sends rows to several "
                      "boards (see Boards): keep “every list” here, and filter rows by their status instead.")
    if saved.routing and saved.routing.boards and mapping.custom_fields:
        routed.append("Custom fields belong to one board, and this workspace sends rows to several (see Boards): "
                      "remove the other boards first to map columns to custom fields.")
    problems = [*columns.problems, *statuses.problems, *policies.problems, *row_problems, *card_problems, *routed]
    if not statuses.problems and not card_problems:
        problems += filter_form.mapping_problems(mapping, dict(sources.lists))
    return Checked(mapping, policies, problems)


def fingerprint(mapping: dict[str, Any], policies: Any = None) -> str:
    """A short hash of a mapping (and policies): what was previewed, or what the page was based on."""
    values = [mapping, [policies.row_removed_policy, policies.card_removed_policy,
                        policies.card_removed_status] if policies is not None else None]
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _render(ws: Workspace, sources: Sources, answers: dict[str, Any], *, problems: list[str] | None = None,
            effect: remap.Effect | None = None, previewed: str = "", base: str = "", status: int = 200,
            filters: tuple[filter_form.FilterEffect | None, str] = (None, "")) -> Response:
    saved_lists = set(Mapping.of_or_default(ws).list_to_status)
    statuses = [r["status"] for r in answers["rows"]]
    page = render_template(
        "dashboard/mapping.html", ws=ws, sources=sources, answers=answers, problems=problems or [],
        effect=effect, previewed=previewed, base=base or fingerprint(ws.mapping or {}),
        lists=sources.lists, new_lists=[lid for lid, _ in sources.lists if lid not in saved_lists],
        all_statuses=list(dict.fromkeys([*statuses, *(name for _, name in sources.lists)])),
        row_policies=form_checks.ROW_POLICIES, card_policies=form_checks.CARD_POLICIES,
        direction_choices=form_checks.DIRECTION_CHOICES, custom=sources.custom_fields,
        custom_note=sources.custom_fields_note, custom_types=making.FIELD_TYPES,
        custom_off=sources.custom_fields_note == CUSTOM_FIELDS_OFF,
        custom_fallback=[c for c in sources.columns if c in answers["description_columns"]],
        custom_creatable=bool(sources.custom_fields) or sources.custom_fields_note.startswith("The board has Custom"),
        unmatched=[r["status"] for r in answers["rows"] if not r["list_id"]],
        filter_ops=filter_form.OP_CHOICES, filter_effect=filters[0], filter_effect_note=filters[1])
    return current_app.make_response((page, status))


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
    if request.form.get("action") == "fallback":
        return _fallback_preview(ws, sources, base)
    checked = _check(ws, sources)
    if checked.problems:
        return _render(ws, sources, answers, problems=checked.problems, base=base, status=400)
    new_print = fingerprint(checked.mapping.to_json(), checked.policies)
    effect = remap.effect_of(db_session(), ws, checked.mapping)
    if request.form.get("action") != "save" or request.form.get("previewed") != new_print:
        if request.form.get("action") == "save":
            flash("The answers changed since the preview: check the preview below, then save.", "info")
        return _render(ws, sources, answers, effect=effect, previewed=new_print, base=base,
                       filters=_filter_effect(ws, checked.mapping))
    return _save(ws, checked, effect, full_sync=request.form.get("full_sync") == "yes")


def _create_custom_field(ws: Workspace, sources: Sources, answers: dict[str, Any], base: str) -> Response:
    """Make a custom field on the board for a sheet column (named after it) and map it there; the
    page then shows the answers again, to preview and save as ever."""
    wanted = making.NewField(request.form.get("new_custom_column", ""), request.form.get("new_custom_type", ""),
                             making.options_from_text(request.form.get("new_custom_options", "")))
    problems = []
    if not sources.custom_fields and sources.custom_fields_note == CUSTOM_FIELDS_OFF:
        problems.append(CUSTOM_FIELDS_OFF)
    problems.extend(making.problems(wanted, sources.columns, [name for _, name, _ in sources.custom_fields]))
    client = workspace_trello(ws)
    if client is None:
        problems.append("The workspace has no Trello account.")
    if problems or client is None:
        return _render(ws, sources, answers, problems=problems, base=base, status=400)
    made = making.make_all(client, ws.trello_board_id, [wanted])
    if made.error:
        return _render(ws, sources, answers, base=base, status=400, problems=[made.error])
    field_id = made.ids[wanted.column]
    record(db_session(), ws.id, side=HistorySide.SYSTEM, action=HistoryAction.MAPPING_CHANGED,
           message=f"{user().email} made the custom field {wanted.words()} on the board for the column "
                   f"“{wanted.column}”")
    db.session.commit()
    sources.custom_fields.append((field_id, wanted.name, wanted.kind))
    sources.custom_fields_note = ""
    answers["custom_fields"] = {**{k: v for k, v in answers.get("custom_fields", {}).items() if v != wanted.column},
                                field_id: wanted.column}
    flash(f"The custom field “{wanted.name}” is on the board and mapped to the column; preview, then save.", "info")
    return _render(ws, sources, answers, base=base)


def _fallback_form(ws: Workspace, sources: Sources) -> MultiDict[str, str]:
    """The saved answers as the page would submit them, with every custom field column switched
    to a “Column: value” description line (the workspace page's one-click fallback)."""
    answers = _form_from_saved(ws, sources)
    moved = set(Mapping.of_or_default(ws).custom_fields)
    form: MultiDict[str, str] = MultiDict()
    for key in ("title_column", "status_column", "due_column", "start_column", "due_done_column", "card_url_column",
                "labels_column", "members_column", "checklist_column", "comment_column", "member_emails",
                "default_status", "row_removed_policy", "card_removed_policy", "card_removed_status"):
        form.add(key, str(answers[key] or ""))
    filters = answers["filters"]  # kept as saved: the fallback changes only the custom field columns
    for index, condition in enumerate(filters["rows"]):
        form.add(f"filter_column_{index}", condition["column"])
        form.add(f"filter_op_{index}", condition["op"])
        form.add(f"filter_value_{index}", condition["value"])
    form.add("card_lists_mode", filters["lists_mode"])
    for list_id in filters["lists"]:
        form.add("card_lists", list_id)
    form.add("card_labels", filters["labels"])
    if answers["create_labels"]:
        form.add("create_labels", "yes")
    described = set(answers["description_columns"]) | moved
    for column in sources.columns:  # in the page's order, as a browser submits the boxes
        if column in described:
            form.add("description_columns", column)
        form.add(f"direction:{column}", answers["directions"].get(column, "both"))
    for field_id, column in answers["custom_fields"].items():
        if column not in moved:
            form.add(f"custom_field:{field_id}", column)
    for index, row in enumerate(answers["rows"]):
        form.add(f"status_name_{index}", row["status"])
        form.add(f"status_list_{index}", row["list_id"])
    for list_id, status in answers["reverse"].items():
        form.add(f"reverse_{list_id}", status)
    form.add("full_sync", "yes")
    return form


def _fallback_preview(ws: Workspace, sources: Sources, base: str) -> Response:
    """The custom field columns switched to description lines, previewed: one click from the
    workspace page, then Save as ever (the full sync after it writes the lines into the cards)."""
    form = _fallback_form(ws, sources)
    answers = _form_from_post(ws, sources, form)
    checked = _check(ws, sources, form)
    if checked.problems:
        return _render(ws, sources, answers, problems=checked.problems, base=base, status=400)
    moved = ", ".join(f"“{c}”" for c in Mapping.of_or_default(ws).custom_fields)
    flash(f"{moved} switched to “Column: value” lines in the card description: check the preview, then save.",
          "info")
    return _render(ws, sources, answers, effect=remap.effect_of(db_session(), ws, checked.mapping),
                   previewed=fingerprint(checked.mapping.to_json(), checked.policies), base=base)


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


def _filter_effect(ws: Workspace, new: Mapping) -> tuple[filter_form.FilterEffect | None, str]:
    """What a changed filter takes in or leaves out, over the sheet and the board as they are now
    (read only when the filters changed); or the words saying why it could not be counted."""
    old = Mapping.of_or_default(ws)
    if (old.row_filter, old.card_filter) == (new.row_filter, new.card_filter):
        return None, ""
    account = db.session.get(ProviderAccount, ws.google_account_id) if ws.google_account_id else None
    try:
        tab = sheet_tab(current_app, account, ws.spreadsheet_id, ws.sheet_name)
        header = tab.header(ws.header_row)
        count, _ = tab.grid_size()
        grid = tab.get(f"A{ws.header_row + 1}:{column_letter(max(len(header), 1))}{count}") \
            if count > ws.header_row else []
    except SheetsError as exc:
        return None, f"The sheet could not be read ({sheets_error_message(exc)}), so the rows were not counted."
    synced = [header.index(c) for c in new.synced_columns if c in header]
    rows = [{h: cell_text(cells[i]) if i < len(cells) else "" for i, h in enumerate(header) if h}
            for cells in grid if any(cell_text(cells[i]).strip() for i in synced if i < len(cells))]
    client = workspace_trello(ws)
    try:
        if client is None:
            raise TrelloError("no Trello account")
        cards = [c for page in client.iter_board_cards(ws.trello_board_id, fields="id,name,idList,labels")
                 for c in page]
    except TrelloError as exc:
        words = trello_error_message(exc) if client is not None else "the workspace has no Trello account"
        return None, f"The board could not be read ({words}), so the cards were not counted."
    return filter_form.filter_effect(old, new, rows, cards), ""


@bp.app_template_global("filter_summary")
def filter_summary(ws: Workspace) -> tuple[str, str]:
    """(which rows sync, which cards sync) in plain words, for the workspace's summary."""
    return filter_form.words(Mapping.of_or_default(ws))


@bp.app_template_global("mapping_offers")
def mapping_offers(ws: Workspace) -> list[remap.Offer]:
    """The unmapped statuses and lists parked events met (the workspace page offers to map them)."""
    if is_draft(ws):
        return []
    return remap.offers(db_session(), ws)


@dataclass
class Refused:
    """Custom field columns Trello refused since the mapping was last saved (the board lost Custom Fields)."""

    columns: list[str]
    base: str  # the saved mapping's fingerprint, for the editor's form
    at: Any = None  # when Trello last refused them (the history line's time)


@bp.app_template_global("custom_fields_refused")
def custom_fields_refused(ws: Workspace) -> Refused | None:
    """Whether the workspace's custom field columns meet a board without Custom Fields: the newest
    of its last 50 errors says so (the engine's per-column history line, Trello's 403) and no mapping
    was saved since. The workspace page then offers the fallback to description lines."""
    if is_draft(ws):
        return None
    mapping = Mapping.of_or_default(ws)
    if not mapping.custom_fields:
        return None
    errors = db.session.execute(select(History.id, History.message, History.created_at).where(
        History.workspace_id == ws.id, History.outcome == Outcome.ERROR).order_by(History.id.desc()).limit(50)).all()
    found, at = next(((hid, when) for hid, message, when in errors if making.UNAVAILABLE_MARK in (message or "")),
                     (None, None))
    if found is None:
        return None
    saved_since = db.session.scalar(select(History.id).where(
        History.workspace_id == ws.id, History.id > found, History.action == HistoryAction.MAPPING_CHANGED).limit(1))
    if saved_since is not None:
        return None
    return Refused(list(mapping.custom_fields), fingerprint(ws.mapping or {}), at)


__all__ = ["custom_fields_refused", "edit_mapping", "fingerprint", "mapping_offers"]
