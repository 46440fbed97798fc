"""Ids that come from outside (URL paths, headers, form fields) never carry control characters.

PostgreSQL refuses NUL in text ("text fields cannot contain NUL"), so an id like ``ws%00x`` that
reached a query was a 500, before any sign-in or signature check. Two central guards instead of a
check in each view:

- ``IdConverter`` replaces Werkzeug's default (``<name>``) and ``string`` converters app-wide: a path
  segment with a control character (U+0000-U+001F, U+007F) matches no route, so it is a 404 for
  every route with an id in its path, the webhooks' included, without changing their rules.
- ``reject_control_characters`` answers 400 when a query or form field of a page carries one.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, abort, request
from werkzeug.routing import UnicodeConverter

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Request bodies there are JSON read as raw bytes (and signed); a form parse would consume them.
UNCHECKED_PREFIXES = ("/webhooks/", "/api/", "/static/", "/powerup/")


def is_clean(value: str) -> bool:
    """No control character (NUL, newline, DEL...) in ``value``."""
    return CONTROL.search(value) is None


class IdConverter(UnicodeConverter):
    """A path segment (like the default converter) without control characters."""

    def __init__(self, url_map: Any, minlength: int = 1, maxlength: int | None = None,
                 length: int | None = None) -> None:
        super().__init__(url_map, minlength=minlength, maxlength=maxlength, length=length)
        if length is not None:
            repeat = f"{{{int(length)}}}"
        elif maxlength is not None:
            repeat = f"{{{int(minlength)},{int(maxlength)}}}"
        else:
            repeat = f"{{{int(minlength)},}}"
        self.regex = r"[^/\x00-\x1f\x7f]" + repeat


def reject_control_characters() -> None:
    """400 when a page's query string or form carries a control character (changes nothing)."""
    if request.path.startswith(UNCHECKED_PREFIXES):
        return
    fields = list(request.args.items(multi=True))
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype in (
            "application/x-www-form-urlencoded", "multipart/form-data"):
        fields += list(request.form.items(multi=True))
    for name, value in fields:
        if not is_clean(name) or not is_clean(value):
            abort(400, description="The request contains a control character (such as NUL) in a field; "
                                   "nothing was changed.")


def install_id_guards(app: Flask) -> None:
    """Call before any blueprint is registered: rules bind their converters when they are added."""
    app.url_map.converters["default"] = IdConverter
    app.url_map.converters["string"] = IdConverter
    app.before_request(reject_control_characters)


__all__ = ["CONTROL", "is_clean", "IdConverter", "reject_control_characters", "install_id_guards"]
