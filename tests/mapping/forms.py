"""Reading a page's form the way a browser would submit it (inputs, checked boxes, selected options)."""

from __future__ import annotations

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind in ("submit", "button"):
                return
            self.fields.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and a.get("name"):
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            chosen = next((v for v, s in self._options if s), self._options[0][0] if self._options else "")
            self.fields.append((self._select, chosen))
            self._select = None


def form_fields(html: str, start_marker: str = 'name="base"') -> dict[str, list[str]]:
    """Every field of the form that contains ``start_marker``, name → values (in page order)."""
    begin = html.rfind("<form", 0, html.index(start_marker))
    end = html.index("</form>", begin)
    reader = _FormReader()
    reader.feed(html[begin:end])
    out: dict[str, list[str]] = {}
    for name, value in reader.fields:
        out.setdefault(name, []).append(value)
    return out
