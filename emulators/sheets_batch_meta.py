"""batchUpdate requests about the spreadsheet rather than cell values: protected ranges, named
ranges, developer metadata, spreadsheet properties; plus ``DataFilter`` matching for
``developerMetadata.search``."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from .sheets_errors import ApiError
from .sheets_grid import Batch, box, dimension_range, grid
from .sheets_model import Spreadsheet

_VISIBILITY = ("DOCUMENT", "PROJECT")


def _named(ss: Spreadsheet, named_id: Any) -> dict[str, Any] | None:
    return next((n for n in ss.named_ranges if n["namedRangeId"] == named_id), None)


def add_protected_range(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    spec = dict(p.get("protectedRange") or {})
    if "range" in spec and "namedRangeId" in spec:
        raise ApiError(400, f"{where}: Only one of range or namedRangeId may be set.")
    if spec.get("warningOnly") and spec.get("editors"):
        raise ApiError(400, f"{where}: Editors cannot be set on a warning-only protected range.")
    if "namedRangeId" in spec:
        named = _named(b.ss, spec["namedRangeId"])
        if named is None:
            raise ApiError(400, f"{where}: No named range with id: {spec['namedRangeId']}")
        sheet = grid(b.ss, named["range"].get("sheetId"), where)
    else:
        target = box(b.ss, spec.get("range") or {"sheetId": 0}, where)
        sheet = target.sheet
        spec["range"] = {k: v for k, v in (spec.get("range") or {}).items()}
        spec["range"].setdefault("sheetId", sheet.sheet_id)
    spec["protectedRangeId"] = b.ss.next_protected_id()
    spec["requestingUserCanEdit"] = True
    if not spec.get("warningOnly"):
        spec.setdefault("editors", {"users": ["owner@example.com"]})
    sheet.protected_ranges.append(spec)
    return {"addProtectedRange": {"protectedRange": copy.deepcopy(spec)}}


def _find_protected(b: Batch, pid: Any, where: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    for sheet in b.ss.sheets:
        for pr in sheet.protected_ranges:
            if str(pr.get("protectedRangeId")) == str(pid):
                return sheet.protected_ranges, pr
    raise ApiError(400, f"{where}: No protected range with id: {pid}")


def update_protected_range(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    spec = p.get("protectedRange") or {}
    _, pr = _find_protected(b, spec.get("protectedRangeId"), where)
    fields = [f.strip() for f in str(p.get("fields") or "").split(",") if f.strip()]
    if not fields:
        raise ApiError(400, f"{where}: At least one field must be updated.")
    for field in (["description", "warningOnly", "editors", "range", "unprotectedRanges"]
                  if "*" in fields else fields):
        if field in spec:
            pr[field] = copy.deepcopy(spec[field])
        else:
            pr.pop(field, None)
    return {}


def delete_protected_range(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    ranges, pr = _find_protected(b, p.get("protectedRangeId"), where)
    ranges.remove(pr)
    return {}


def add_named_range(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    spec = dict(p.get("namedRange") or {})
    name = spec.get("name")
    if not isinstance(name, str) or not name or not (name[0].isalpha() or name[0] == "_") \
            or not all(ch.isalnum() or ch == "_" for ch in name):
        raise ApiError(400, f"{where}: Invalid name for a named range: {name}")
    if any(n["name"].casefold() == name.casefold() for n in b.ss.named_ranges):
        raise ApiError(400, f"{where}: Named range with name \"{name}\" already exists.")
    target = box(b.ss, spec.get("range"), where)
    named_id = str(spec.get("namedRangeId") or f"{b.rng.randrange(10**9, 10**10)}")
    if _named(b.ss, named_id) is not None:
        raise ApiError(400, f"{where}: Named range with id {named_id} already exists.")
    stored = {"namedRangeId": named_id, "name": name, "range": target.grid_range()}
    b.ss.named_ranges.append(stored)
    return {"addNamedRange": {"namedRange": copy.deepcopy(stored)}}


def delete_named_range(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    named = _named(b.ss, p.get("namedRangeId"))
    if named is None:
        raise ApiError(400, f"{where}: No named range with id: {p.get('namedRangeId')}")
    b.ss.named_ranges.remove(named)
    return {}


def update_spreadsheet_properties(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    props = p.get("properties") or {}
    fields = [f.strip() for f in str(p.get("fields") or "").split(",") if f.strip()]
    if not fields:
        raise ApiError(400, f"{where}: At least one field must be updated.")
    setters: dict[str, Callable[[Any], None]] = {
        "title": lambda v: setattr(b.ss, "title", str(v or "")),
        "locale": lambda v: setattr(b.ss, "locale", str(v or "en_US")),
        "timeZone": lambda v: setattr(b.ss, "time_zone", str(v or "Etc/GMT")),
        "autoRecalc": lambda v: setattr(b.ss, "auto_recalc", _recalc(v, where)),
    }
    for field in (list(setters) if "*" in fields else fields):
        if field not in setters:
            raise ApiError(400, f"{where}: The emulator cannot update the property '{field}'")
        setters[field](props.get(field))
    return {}


def _recalc(value: Any, where: str) -> str:
    if value not in ("ON_CHANGE", "MINUTE", "HOUR"):
        raise ApiError(400, f"{where}: Invalid autoRecalc \"{value}\"")
    return str(value)


# ------------------------------------------------------------------ developer metadata


def _location(b: Batch, loc: Any, where: str) -> dict[str, Any]:
    if not isinstance(loc, Mapping):
        raise ApiError(400, f"{where}: developerMetadata.location must be set")
    if loc.get("spreadsheet"):
        return {"locationType": "SPREADSHEET", "spreadsheet": True}
    if "sheetId" in loc:
        sheet = grid(b.ss, loc["sheetId"], where)
        return {"locationType": "SHEET", "sheetId": sheet.sheet_id}
    if "dimensionRange" in loc:
        sheet, dim, start, end = dimension_range(b.ss, loc["dimensionRange"], where)
        return {"locationType": dim[:-1], "dimensionRange": {
            "sheetId": sheet.sheet_id, "dimension": dim, "startIndex": start, "endIndex": end}}
    raise ApiError(400, f"{where}: developerMetadata.location must name a spreadsheet, sheet "
                        "or dimension range")


def create_developer_metadata(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    spec = p.get("developerMetadata") or {}
    if not spec.get("metadataKey"):
        raise ApiError(400, f"{where}: developerMetadata.metadataKey must be set")
    visibility = spec.get("visibility")
    if visibility not in _VISIBILITY:
        raise ApiError(400, f"{where}: developerMetadata.visibility must be DOCUMENT or PROJECT")
    metadata_id = spec.get("metadataId")
    if metadata_id is not None and any(m["metadataId"] == metadata_id for m in b.ss.developer_metadata):
        raise ApiError(400, f"{where}: Developer metadata with id {metadata_id} already exists.")
    stored: dict[str, Any] = {
        "metadataId": int(metadata_id) if metadata_id is not None else b.ss.next_metadata_id(b.rng),
        "metadataKey": str(spec["metadataKey"]),
        "location": _location(b, spec.get("location"), where), "visibility": visibility}
    if spec.get("metadataValue") is not None:
        stored["metadataValue"] = str(spec["metadataValue"])
    b.ss.developer_metadata.append(stored)
    return {"createDeveloperMetadata": {"developerMetadata": copy.deepcopy(stored)}}


def _location_matches(meta: Mapping[str, Any], wanted: Mapping[str, Any], strategy: str) -> bool:
    loc = meta["location"]
    if wanted.get("spreadsheet"):
        return bool(loc.get("spreadsheet"))
    if "sheetId" in wanted:
        if strategy == "INTERSECTING_LOCATION":
            on = loc.get("sheetId", (loc.get("dimensionRange") or {}).get("sheetId"))
            return bool(on == wanted["sheetId"])
        return bool(loc.get("sheetId") == wanted["sheetId"] and "dimensionRange" not in loc)
    want = wanted.get("dimensionRange") or {}
    have = loc.get("dimensionRange")
    if not have or have.get("sheetId", 0) != want.get("sheetId", 0) \
            or have.get("dimension") != want.get("dimension"):
        return False
    if strategy == "INTERSECTING_LOCATION":
        return bool(have["startIndex"] < want.get("endIndex", 10**9)
                    and want.get("startIndex", 0) < have["endIndex"])
    return bool(have["startIndex"] == want.get("startIndex", 0) and have["endIndex"] == want.get("endIndex"))


def lookup_matches(meta: Mapping[str, Any], lookup: Mapping[str, Any]) -> bool:
    """Whether developer metadata matches a ``DeveloperMetadataLookup`` (all set fields)."""
    checks = [
        ("metadataId", lambda v: meta["metadataId"] == int(v)),
        ("metadataKey", lambda v: meta["metadataKey"] == v),
        ("metadataValue", lambda v: meta.get("metadataValue") == v),
        ("visibility", lambda v: meta["visibility"] == v),
        ("locationType", lambda v: meta["location"]["locationType"] == v),
        ("metadataLocation", lambda v: _location_matches(
            meta, v, lookup.get("locationMatchingStrategy") or "EXACT_LOCATION")),
    ]
    return all(test(lookup[key]) for key, test in checks if key in lookup)


def matching_metadata(ss: Spreadsheet, data_filter: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(data_filter, Mapping) or not isinstance(data_filter.get("developerMetadataLookup"), Mapping):
        raise ApiError(400, f"{where}: the emulator matches developer metadata only by "
                            "developerMetadataLookup")
    lookup = data_filter["developerMetadataLookup"]
    if not lookup:
        raise ApiError(400, f"{where}: developerMetadataLookup must set at least one field")
    return [m for m in ss.developer_metadata if lookup_matches(m, lookup)]


def delete_developer_metadata(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    gone = matching_metadata(b.ss, p.get("dataFilter"), where)
    b.ss.developer_metadata = [m for m in b.ss.developer_metadata if m not in gone]
    reply: dict[str, Any] = {}
    if gone:
        reply["deletedDeveloperMetadata"] = copy.deepcopy(gone)
    return {"deleteDeveloperMetadata": reply}


def update_developer_metadata(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    fields = [f.strip() for f in str(p.get("fields") or "").split(",") if f.strip()]
    if not fields:
        raise ApiError(400, f"{where}: At least one field must be updated.")
    spec = p.get("developerMetadata") or {}
    found: list[dict[str, Any]] = []
    for data_filter in p.get("dataFilters") or []:
        found.extend(m for m in matching_metadata(b.ss, data_filter, where) if m not in found)
    for meta in found:
        for field in fields:
            if field == "location":
                meta["location"] = _location(b, spec.get("location"), where)
            elif field in ("metadataKey", "metadataValue", "visibility"):
                meta[field] = spec.get(field)
            else:
                raise ApiError(400, f"{where}: Invalid field mask: {field}")
    reply: dict[str, Any] = {}
    if found:
        reply["developerMetadata"] = copy.deepcopy(found)
    return {"updateDeveloperMetadata": reply}


META_REQUESTS: dict[str, Callable[[Batch, Mapping[str, Any], str], dict[str, Any]]] = {
    "addProtectedRange": add_protected_range, "updateProtectedRange": update_protected_range,
    "deleteProtectedRange": delete_protected_range, "addNamedRange": add_named_range,
    "deleteNamedRange": delete_named_range,
    "updateSpreadsheetProperties": update_spreadsheet_properties,
    "createDeveloperMetadata": create_developer_metadata,
    "updateDeveloperMetadata": update_developer_metadata,
    "deleteDeveloperMetadata": delete_developer_metadata,
}
