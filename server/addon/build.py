"""``flask addon build``: a ready-to-push Apps Script project of the add-on for this deployment.

It writes ``appsscript.json`` (the manifest with the server's address as the only
``urlFetchWhitelist`` entry), ``Code.js`` (with ``LEADS_SYNC_BUILD`` set to that address, so the
sidebar's one-click connect and the menu need no typed address), ``Sidebar.html`` and
``.clasp.json`` (the script id to push to, or a placeholder), from ``apps_script/``. No hand editing:
``clasp push`` uploads the result as it is (see ``apps_script/README.md``).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

SOURCE_DIR = Path(__file__).resolve().parents[2] / "apps_script"
BUILD_LINE = "var LEADS_SYNC_BUILD = {serverUrl: '', editorAddon: false};"
SCRIPT_ID_PLACEHOLDER = "PASTE-THE-SCRIPT-ID-HERE"
OUTPUT_FILES = ("appsscript.json", "Code.js", "Sidebar.html", ".clasp.json")
SCRIPT_ID = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


class BuildError(ValueError):
    """The build cannot be made as asked (a plain sentence for the command line)."""


@dataclass(frozen=True)
class BuildOptions:
    server_url: str
    out_dir: Path
    script_id: str = ""
    editor_addon: bool = True
    allow_http: bool = False   # local tests only: Apps Script fetches https:// addresses only


def normalise_server_url(url: str, *, allow_http: bool = False) -> str:
    """``https://leads.example.com/`` → ``https://leads.example.com``; refuses what Apps Script could not fetch."""
    text = (url or "").strip().rstrip("/")
    parts = urlsplit(text)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise BuildError(f"the server address must start with https:// (got {url!r}); Apps Script fetches "
                         "https:// addresses only. Set PUBLIC_BASE_URL or pass --server-url.")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise BuildError(f"the server address must be a plain address without query, fragment or user (got {url!r})")
    return text


def manifest(source: dict, server_url: str) -> dict:
    """The source manifest with ``server_url`` + ``/`` as the one allowed fetch prefix."""
    built = dict(source)
    built["urlFetchWhitelist"] = [server_url + "/"]
    return built


def code_js(source: str, server_url: str, editor_addon: bool) -> str:
    """``Code.js`` with the deployment's constants in place of the empty ``LEADS_SYNC_BUILD``."""
    if source.count(BUILD_LINE) != 1:
        raise BuildError(f"Code.js must contain the line {BUILD_LINE!r} exactly once")
    constants = json.dumps({"serverUrl": server_url, "editorAddon": editor_addon}, ensure_ascii=True)
    return source.replace(BUILD_LINE, f"var LEADS_SYNC_BUILD = {constants};")


def clasp_json(script_id: str) -> dict:
    if script_id and not SCRIPT_ID.match(script_id):
        raise BuildError(f"{script_id!r} is not an Apps Script project id (Project Settings › IDs › Script ID)")
    return {"scriptId": script_id or SCRIPT_ID_PLACEHOLDER, "rootDir": "."}


def build(options: BuildOptions, source_dir: Path = SOURCE_DIR) -> list[Path]:
    """Write the project into ``options.out_dir`` (created; our files in it replaced); returns the files."""
    server_url = normalise_server_url(options.server_url, allow_http=options.allow_http)
    source_manifest = json.loads((source_dir / "appsscript.json").read_text(encoding="utf-8"))
    code = code_js((source_dir / "Code.js").read_text(encoding="utf-8"), server_url, options.editor_addon)
    clasp = clasp_json(options.script_id.strip())
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    written = {
        "appsscript.json": json.dumps(manifest(source_manifest, server_url), indent=2) + "\n",
        "Code.js": code,
        ".clasp.json": json.dumps(clasp, indent=2) + "\n",
    }
    for name, text in written.items():
        (out / name).write_text(text, encoding="utf-8")
    shutil.copyfile(source_dir / "Sidebar.html", out / "Sidebar.html")
    return [out / name for name in OUTPUT_FILES]


__all__ = ["OUTPUT_FILES", "SCRIPT_ID_PLACEHOLDER", "BuildError", "BuildOptions", "build", "clasp_json", "code_js",
           "manifest", "normalise_server_url"]
