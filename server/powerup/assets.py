"""Serving ``powerup_static/``: HTML pages rendered with the app's key and name, versioned assets."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from markupsafe import escape

import server

STATIC_DIR = Path(server.__file__).resolve().parent.parent / "powerup_static"
HTML_SUFFIXES = (".html", ".htm")
TRELLO_LIBRARY = "https://trello.com/power-ups/power-up.min.js"  # what the pages load
ASSET_SUFFIXES = (".js", ".css", ".svg", ".png", ".jpg", ".jpeg", ".gif", ".ico", ".webp", ".woff2")


@lru_cache(maxsize=8)
def asset_version(directory: Path = STATIC_DIR) -> str:
    """A short hash of every asset, computed once per process: it changes whenever one does."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix.lower() in ASSET_SUFFIXES:
            digest.update(path.relative_to(directory).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def is_html(filename: str) -> bool:
    return filename.lower().endswith(HTML_SUFFIXES)


def render_page(path: Path, app_key: str, app_name: str, version: str) -> str:
    """The page with ``__APP_KEY__``, ``__APP_NAME__`` and ``__VERSION__`` replaced (HTML-escaped)."""
    text = path.read_text(encoding="utf-8")
    for placeholder, value in (("__APP_KEY__", app_key), ("__APP_NAME__", app_name), ("__VERSION__", version)):
        text = text.replace(placeholder, str(escape(value)))
    return text


def resolve(filename: str, directory: Path = STATIC_DIR) -> Path | None:
    """The file under ``directory`` that ``filename`` names, or None (never outside it)."""
    if not filename or "\\" in filename or "\x00" in filename:
        return None
    root = directory.resolve()
    path = (root / filename).resolve()
    if root not in path.parents or not path.is_file():
        return None
    if any(part.startswith(".") for part in path.relative_to(root).parts):
        return None
    return path


__all__ = ["STATIC_DIR", "TRELLO_LIBRARY", "asset_version", "is_html", "render_page", "resolve"]
