"""Card descriptions: the delimited block of synced fields, its escaping, the old format, the length limit."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from server.sync import description
from server.sync.description import MAX_LENGTH, TRUNCATED, find_lead_id, parse, render

COLUMNS = ["Email", "Phone", "Company", "Notes"]
START_MD, *_, END_MD = render({}, [], "L-x").split("\n")  # the block's first and last lines, as stored
START_TEXT, END_TEXT = START_MD.replace("\\\\", "\\"), END_MD  # as Trello shows them


def u16(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def lines_of(desc: str) -> list[str]:
    return desc.split("\n")


def norm(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


# ---------------------------------------------------------------------- the old format, as it was written


def old_render(values: dict[str, str], columns: list[str], lead_id: str, preamble: str = "") -> str:
    lines: list[str] = []
    if preamble.strip():
        lines += [preamble.rstrip(), ""]
    for column in columns:
        lines.append(f"{column}: {values.get(column, '')}".rstrip())
    if columns:
        lines.append("")
    lines.append(f"Lead ID: {lead_id}")
    return "\n".join(lines)


OLD_MARKER = re.compile(r"^\s*Lead ID:\s*(\S+)\s*$", re.MULTILINE)


def old_parse(desc: str, columns: list[str]) -> tuple[dict[str, str], str]:
    """The previous ``parse`` (fields, preamble), verbatim."""
    by_key = {column.casefold(): column for column in columns}
    fields: dict[str, str] = {}
    preamble: list[str] = []
    current: str | None = None
    pending_blank = 0
    for line in (desc or "").replace("\r\n", "\n").split("\n"):
        if OLD_MARKER.match(line):
            current = None
            continue
        head, sep, rest = line.partition(":")
        column = by_key.get(head.strip().casefold()) if sep else None
        if column is not None:
            fields[column] = rest.strip()
            current = column
            pending_blank = 0
        elif current is not None:
            if not line.strip():
                pending_blank += 1
                continue
            fields[current] += "\n" * (pending_blank + 1) + line.rstrip()
            pending_blank = 0
        elif not fields:
            preamble.append(line)
    return fields, "\n".join(preamble).strip()


# ---------------------------------------------------------------------- hostile text

FRAGMENTS = [
    "\n", "\r\n", "\r", "\n\n", "Phone: 555-0100", "Email: x@y", "Notes:", "Lead ID: L-evil", "Lead ID:",
    "lead id: L-evil", START_MD, END_MD, START_TEXT, "\\", "\\\\", "\\n", "\\s", "\\u0041", "\\:", "\\x", "#",
    "# Heading", "*", "**", "_", ">", "> quote", "-", "- item", "---", "===", "```", "`", "[x](y)", "![i](y)",
    "<b>", "<http://x.y>", "~~", "|", " | --- |", "1. ", " ", "  ", "\t", "\u00a0", "é", "😀", "\u2028",
    "\u2029", "\x00", "\x1c", "\x85", "\ufeff", "\u200d", "\ud800", "&amp;", "&#35;", "&copy;", "&", ";",
    ":smile:", ":", TRUNCATED, "…", "(", ")", "a", "Zz", "0",
]
hostile = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=10).map("".join)
lead_ids = st.one_of(st.from_regex(r"L-[0-9a-f]{12}", fullmatch=True), hostile.filter(lambda s: s.strip() != ""))
values_for = st.fixed_dictionaries({c: hostile for c in COLUMNS})


# ---------------------------------------------------------------------- the format


def test_format_is_a_delimited_block_under_the_preamble():
    text = render({"Email": "a@b.c", "Phone": "555-0100", "Company": "", "Notes": "Met at the fair\nCall in May"},
                  COLUMNS, "L-0123456789ab", "Free text from a person")
    assert text == (
        "Free text from a person\n"
        "\n"
        "— Lead fields, synced with the sheet (type \\\\n for a line break) —\n"
        "Email: a@b.c\n"
        "Phone: 555-0100\n"
        "Company:\n"
        "Notes: Met at the fair\\\\nCall in May\n"
        "Lead ID: L-0123456789ab\n"
        "— End of lead fields —")
    assert description.marker("L-0123456789ab") in text.split("\n")


def test_reported_case_a_multi_line_note_cannot_overwrite_other_fields():
    values = {"Email": "a@b.c", "Phone": "555-0199", "Company": "ACME",
              "Notes": "Met at the fair\nPhone: 555-0100\nEmail: a@b.c"}
    text = render(values, COLUMNS, "L-1")
    parsed = parse(text, COLUMNS)
    assert parsed.fields == values
    assert parsed.fields["Phone"] == "555-0199" and parsed.fields["Notes"].count("\n") == 2
    assert len(lines_of(text)) == 2 + len(COLUMNS) + 1  # one line per value


def test_a_lead_id_line_in_a_value_is_not_the_marker():
    values = {"Notes": "x\nLead ID: L-evil", "Email": "Lead ID: L-evil2"}
    text = render(values, COLUMNS, "L-real")
    assert find_lead_id(text) == "L-real"
    parsed = parse(text, COLUMNS)
    assert parsed.lead_id == "L-real" and parsed.fields["Notes"] == "x\nLead ID: L-evil"


@pytest.mark.parametrize("value", [START_MD, END_MD, START_TEXT, END_TEXT, f"a\n{END_MD}\nPhone: 1",
                                   f"{END_TEXT}\nLead ID: L-evil\n{START_TEXT}"])
def test_block_delimiters_in_a_value_do_not_end_the_block(value):
    values = {"Email": "a@b.c", "Phone": "1", "Company": value, "Notes": value}
    text = render(values, COLUMNS, "L-1", "pre")
    parsed = parse(text, COLUMNS)
    assert (parsed.fields, parsed.preamble, parsed.lead_id) == (values, "pre", "L-1")


def test_markdown_in_a_value_is_escaped_and_round_trips():
    value = "# h *em* **b** _u_ > q - i --- `c` ```f``` [x](http://y) ![i](y) <b> ~~s~~ a|b &amp; :smile: 1. x"
    text = render({"Notes": value}, ["Notes"], "L-1")
    line = next(line for line in lines_of(text) if line.startswith("Notes:"))
    for escaped in (r"\*em\*", r"\_u\_", r"\`c\`", r"\[x\]", r"\<b\>", r"\~\~s", r"a\|b", r"\&amp;", r"\:smile:"):
        assert escaped in line, escaped
    assert parse(text, ["Notes"]).fields == {"Notes": value}


@pytest.mark.parametrize("value", [
    "", " ", "  lead and trail  ", "\t", "\\", "\\n", "a\\nb", "C:\\Users\\n", "\\\\", "\\u0041", "\\s",
    "a\r\nb", "a\rb", "a\nb", "\n", "\n\n", "é😀中文", "\u2028\u2029", "\x00\x07\x1b", "\ufeff", "\u00a0x\u3000",
    "ends like the note" + TRUNCATED, TRUNCATED, "x: y", ":", "Phone:", "\ud800",
])
def test_every_kind_of_value_round_trips(value):
    values = dict.fromkeys(COLUMNS, value)
    parsed = parse(render(values, COLUMNS, "L-1", "pre"), COLUMNS)
    assert parsed.fields == values and parsed.preamble == "pre" and parsed.lead_id == "L-1"


def test_newline_kinds_stay_distinct():
    values = {"Email": "a\nb", "Phone": "a\r\nb", "Company": "a\rb", "Notes": "a\\nb"}
    assert parse(render(values, COLUMNS, "L-1"), COLUMNS).fields == values


def test_missing_line_is_left_out_and_empty_line_is_empty():
    text = render({"Email": "a@b.c", "Phone": ""}, ["Email", "Phone"], "L-1")
    assert parse(text, ["Email", "Phone", "Company"]).fields == {"Email": "a@b.c", "Phone": ""}
    without_phone = "\n".join(line for line in lines_of(text) if not line.startswith("Phone"))
    assert parse(without_phone, ["Email", "Phone"]).fields == {"Email": "a@b.c"}


def test_columns_match_case_insensitively():
    text = render({"Email": "a@b.c"}, ["Email"], "L-1").replace("Email:", "EMAIL :")
    assert parse(text, ["email"]).fields == {"email": "a@b.c"}


@pytest.mark.parametrize("column", ["# of seats", "Time: start", "- item", "1. first", " padded ", "a\\b", "*",
                                    "Lead ID", "", "x\ny"])
def test_awkward_column_names_round_trip(column):
    columns = ["Email", column]
    values = {"Email": "a@b.c", column: "v: 1\nLead ID: L-evil"}
    text = render(values, columns, "L-1")
    parsed = parse(text, columns)
    assert parsed.fields == values and parsed.lead_id == "L-1" and find_lead_id(text) == "L-1"


def test_case_insensitive_duplicate_columns_keep_their_own_values():
    columns = ["Email", "EMAIL"]
    values = {"Email": "a", "EMAIL": "b"}
    assert parse(render(values, columns, "L-1"), columns).fields == values


# ---------------------------------------------------------------------- a person's text and edits


def test_text_above_and_below_is_kept_and_below_moves_above_on_render():
    text = render({"Email": "a@b.c"}, ["Email"], "L-1", "Above\n\nEmail: not a field")
    edited = text + "\n\nBelow\nPhone: 1\nLead ID: L-evil"
    parsed = parse(edited, ["Email", "Phone"])
    assert parsed.fields == {"Email": "a@b.c"} and parsed.lead_id == "L-1"
    assert parsed.preamble == "Above\n\nEmail: not a field\n\nBelow\nPhone: 1\nLead ID: L-evil"
    again = render(parsed.fields, ["Email"], "L-1", parsed.preamble)
    assert again.startswith(parsed.preamble + "\n\n" + START_MD)
    assert parse(again, ["Email", "Phone"]) == parsed


def test_a_line_a_person_types_inside_the_block_is_kept_as_their_text():
    text = render({"Email": "a@b.c", "Notes": "n"}, ["Email", "Notes"], "L-1", "pre")
    edited = text.replace("Notes: n", "Notes: n\nsecond line of the note\nReminder: call back")
    parsed = parse(edited, ["Email", "Notes"])
    assert parsed.fields == {"Email": "a@b.c", "Notes": "n"}
    assert parsed.preamble == "pre\n\nsecond line of the note\nReminder: call back"


@pytest.mark.parametrize("typed", ["first\\\\nsecond", "first\\nsecond"])  # rich editor / Markdown source
def test_a_person_types_backslash_n_for_a_line_break(typed):
    text = render({"Notes": "old"}, ["Notes"], "L-1")
    assert parse(text.replace("Notes: old", "Notes: " + typed), ["Notes"]).fields == {"Notes": "first\nsecond"}


def test_a_person_edit_of_one_value_changes_only_that_field():
    values = {"Email": "a@b.c", "Phone": "555-0100", "Company": "ACME", "Notes": "x"}
    text = render(values, COLUMNS, "L-1")
    parsed = parse(text.replace("Phone: 555-0100", "Phone: 555-0199"), COLUMNS)
    assert parsed.fields == {**values, "Phone": "555-0199"}


def editor_resave(desc: str, hard_break: str) -> str:
    """What a Markdown editor may write back: every ASCII punctuation escaped, lines joined by hard breaks."""
    out = []
    for line in desc.split("\n"):
        text = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", line)
        out.append(re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", text))
    return hard_break.join(out)


@pytest.mark.parametrize("hard_break", ["\n", "\\\n", "  \n", "\n\n", "\r\n"])
def test_the_editors_own_escapes_and_line_breaks_change_nothing(hard_break):
    values = {"Email": "a_b@c.d", "Phone": "+1 (555) 0100", "Company": "A&B *Co* [x]", "Notes": "a\\b\nc: d\n"}
    text = render(values, COLUMNS, "L-1")
    parsed = parse(editor_resave(text, hard_break), COLUMNS)
    assert parsed.fields == values and parsed.lead_id == "L-1"


def test_a_card_a_person_made_has_no_fields_and_all_its_text_as_preamble():
    text = "Met Grace at the COBOL meetup.\n\n- call back\n- send *slides*"
    parsed = parse(text, COLUMNS)
    assert (parsed.fields, parsed.preamble, parsed.lead_id) == ({}, text, None)
    assert find_lead_id(text) is None


def test_a_block_pasted_into_the_preamble_does_not_replace_ours():
    pasted = render({"Email": "other@x.y"}, ["Email"], "L-other")
    text = render({"Email": "a@b.c"}, ["Email"], "L-1", "copied:\n" + pasted)
    parsed = parse(text, ["Email"])
    assert parsed.fields == {"Email": "a@b.c"} and parsed.lead_id == "L-1" and find_lead_id(text) == "L-1"
    assert parsed.preamble == "copied:\n" + pasted


def test_a_block_missing_a_delimiter_still_reads_its_fields():
    text = render({"Email": "a\nb", "Notes": "n"}, ["Email", "Notes"], "L-1", "pre")
    no_end = text.replace("\n" + END_MD, "")
    no_start = text.replace(START_MD + "\n", "")
    for broken in (no_end, no_start):
        parsed = parse(broken, ["Email", "Notes"])
        assert parsed.fields == {"Email": "a\nb", "Notes": "n"} and parsed.lead_id == "L-1", broken
        assert find_lead_id(broken) == "L-1" and parsed.preamble == "pre"


def test_a_deleted_marker_gives_no_lead_id():
    text = render({"Email": "a"}, ["Email"], "L-1").replace("\nLead ID: L-1", "")
    assert find_lead_id(text) is None and parse(text, ["Email"]).lead_id is None


# ---------------------------------------------------------------------- the old format


def test_old_format_with_preamble_and_multi_line_value_parses_as_before():
    old = old_render({"Email": "a@b.c", "Phone": "", "Notes": "line 1\nline 2"}, ["Email", "Phone", "Notes"], "L-1",
                     "Free text from a person")
    assert old == "Free text from a person\n\nEmail: a@b.c\nPhone:\nNotes: line 1\nline 2\n\nLead ID: L-1"
    parsed = parse(old, ["Email", "Phone", "Notes"])
    assert parsed.fields == {"Email": "a@b.c", "Phone": "", "Notes": "line 1\nline 2"}
    assert parsed.preamble == "Free text from a person" and parsed.lead_id == "L-1" and find_lead_id(old) == "L-1"


def test_old_format_missing_lines_and_bare_marker():
    parsed = parse("Email: a@b.c\n\nLead ID: L-9", ["Email", "Phone"])
    assert parsed.fields == {"Email": "a@b.c"} and parsed.lead_id == "L-9" and parsed.preamble == ""
    assert find_lead_id("Lead ID: L-9") == "L-9" and parse("Lead ID: L-9", COLUMNS).fields == {}


def test_old_format_marker_is_its_last_line_not_a_value_line():
    old = old_render({"Notes": "x\nLead ID: L-evil"}, ["Notes"], "L-real")
    assert find_lead_id(old) == "L-real" and parse(old, ["Notes"]).lead_id == "L-real"


def test_old_card_is_rewritten_in_the_new_format_with_the_same_values():
    old = old_render({"Email": "a@b.c", "Notes": "line 1\nline 2"}, ["Email", "Notes"], "L-1", "Hi")
    parsed = parse(old, ["Email", "Notes"])
    new = render(parsed.fields, ["Email", "Notes"], "L-1", parsed.preamble)
    assert START_MD in new and new != old
    assert parse(new, ["Email", "Notes"]) == parsed


@given(st.fixed_dictionaries({c: hostile for c in COLUMNS}), hostile, st.from_regex(r"L-[0-9a-f]{12}", fullmatch=True))
def test_old_format_parses_exactly_as_the_old_parser(values, preamble, lead_id):
    old = old_render(values, COLUMNS, lead_id, preamble)
    assume("lead fields" not in old.casefold())  # no line of the new block
    parsed = parse(old, COLUMNS)
    assert (parsed.fields, parsed.preamble) == old_parse(old, COLUMNS)
    assert parsed.lead_id == find_lead_id(old) == OLD_MARKER.findall(old)[-1]


# ---------------------------------------------------------------------- the length limit


def test_a_value_over_the_limit_is_cut_with_a_visible_note_and_read_back_as_missing():
    values = {"Email": "a@b.c", "Phone": "555", "Company": "ACME", "Notes": "n" * 40_000}
    text = render(values, COLUMNS, "L-1", "pre")
    assert u16(text) == MAX_LENGTH
    notes = next(line for line in lines_of(text) if line.startswith("Notes:"))
    assert notes.endswith(TRUNCATED) and notes.startswith("Notes: nnnn")
    parsed = parse(text, COLUMNS)
    assert parsed.fields == {"Email": "a@b.c", "Phone": "555", "Company": "ACME"}
    assert parsed.preamble == "pre" and parsed.lead_id == "L-1"


def test_the_longest_values_are_cut_to_a_common_size_counting_utf16_units():
    values = {"Email": "a@b.c", "Phone": "p" * 3000, "Company": "😀" * 9000, "Notes": "\n" * 9000}
    text = render(values, COLUMNS, "L-1")
    assert u16(text) <= MAX_LENGTH and len(text) < MAX_LENGTH  # emoji count twice
    assert parse(text, COLUMNS).fields == {"Email": "a@b.c", "Phone": "p" * 3000}
    cut = [u16(line) for line in lines_of(text) if line.endswith(TRUNCATED)]
    assert len(cut) == 2 and max(cut) - min(cut) < 20


def test_a_value_that_only_ends_like_the_note_is_not_taken_as_cut():
    value = "x" + TRUNCATED
    assert parse(render({"Notes": value}, ["Notes"], "L-1"), ["Notes"]).fields == {"Notes": value}


def test_a_description_just_under_the_limit_is_not_cut():
    empty = u16(render({"Notes": ""}, ["Notes"], "L-1"))
    value = "n" * (MAX_LENGTH - empty - 1)
    text = render({"Notes": value}, ["Notes"], "L-1")
    assert u16(text) == MAX_LENGTH and parse(text, ["Notes"]).fields == {"Notes": value}


big = st.builds(lambda s, n: (s or "x")[:20] * n, hostile, st.integers(1, 3000))


@settings(max_examples=40, deadline=None)
@given(st.fixed_dictionaries({"Email": hostile, "Phone": big, "Company": big, "Notes": big}), hostile, lead_ids)
def test_render_stays_in_the_limit_and_keeps_what_it_does_not_cut(values, preamble, lead_id):
    text = render(values, COLUMNS, lead_id, preamble[:200])
    assert u16(text) <= MAX_LENGTH
    parsed = parse(text, COLUMNS)
    assert parsed.lead_id == lead_id and find_lead_id(text) == lead_id
    assert parsed.preamble == norm(preamble[:200])
    assert parsed.fields["Email"] == values["Email"]
    for column, value in parsed.fields.items():
        assert value == values[column]


# ---------------------------------------------------------------------- properties over hostile text


@given(values_for, hostile, lead_ids)
def test_round_trip_of_any_values_preamble_and_lead_id(values, preamble, lead_id):
    text = render(values, COLUMNS, lead_id, preamble)
    parsed = parse(text, COLUMNS)
    assert parsed.fields == values
    assert parsed.preamble == norm(preamble)
    assert parsed.lead_id == lead_id and find_lead_id(text) == lead_id


@given(st.lists(hostile, min_size=1, max_size=4, unique=True), st.data())
def test_round_trip_with_any_column_names(columns, data):
    values = data.draw(st.fixed_dictionaries({c: hostile for c in columns}))
    text = render(values, columns, "L-1", "pre")
    parsed = parse(text, columns)
    assert parsed.fields == values and parsed.lead_id == "L-1" and parsed.preamble == "pre"


@given(values_for, hostile, hostile, lead_ids)
def test_text_above_and_below_survives_a_re_render(values, above, below, lead_id):
    assume("lead fields" not in below.casefold())  # a whole second block below ours would be ambiguous
    edited = render(values, COLUMNS, lead_id, above) + "\n\n" + below
    parsed = parse(edited, COLUMNS)
    assert parsed.fields == values and parsed.lead_id == lead_id == find_lead_id(edited)
    assert parsed.preamble == "\n\n".join(p for p in (norm(above), norm(below)) if p)
    again = parse(render(parsed.fields, COLUMNS, lead_id, parsed.preamble), COLUMNS)
    assert again == parsed


@given(values_for, st.sampled_from(["\n", "\\\n", "  \n", "\n\n"]))
def test_editor_escapes_never_change_a_value(values, hard_break):
    parsed = parse(editor_resave(render(values, COLUMNS, "L-1"), hard_break), COLUMNS)
    assert parsed.fields == values and parsed.lead_id == "L-1"


@given(st.one_of(hostile, st.text()), st.lists(st.sampled_from(COLUMNS + ["lead id", ""])))
def test_parse_and_find_never_raise(desc, columns):
    parsed = parse(desc, columns)
    assert set(parsed.fields) <= set(columns)
    find_lead_id(desc)


@given(hostile, hostile, values_for)
def test_parse_never_raises_around_a_block(before, after, values):
    parse(before + render(values, COLUMNS, "L-1") + after, COLUMNS)
    find_lead_id(before + render(values, COLUMNS, "L-1") + after)
