"""The pure merge: newest change by provider time wins, echoes never count, both sides converge."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from server.sync.merge import Change, FieldClock, Landing, Side, dump_clocks, load_clocks, merge

S, T = Side.SHEETS, Side.TRELLO


def _merge(shadow, clocks, changes=(), landings=()):
    return merge(shadow, {k: FieldClock(**v) for k, v in clocks.items()}, list(changes), list(landings))


def test_a_change_is_applied_and_written_to_the_other_side():
    result = _merge({"Status": "New"}, {"Status": {"t": 100, "s": "sheets"}}, [Change("Status", "Won", 200, T)])
    outcome = result.fields["Status"]
    assert outcome.value == "Won" and outcome.write == {S}
    assert result.clocks["Status"].t == 200 and result.clocks["Status"].s == "trello"


def test_our_own_write_landing_is_no_change_and_keeps_the_time():
    """Issue 13, case 2: an echo must never re-stamp the field."""
    result = _merge({"Name": "n2"}, {"Name": {"t": 100, "s": "sheets", "wt": 150}}, [], [Landing("Name", "n2", 180, T)])
    outcome = result.fields["Name"]
    assert outcome.winner is None and not outcome.write and not outcome.conflicts
    assert result.clocks["Name"].t == 100 and result.clocks["Name"].wt == 180


def test_a_quick_second_edit_delivered_after_the_echo_of_the_first_still_wins():
    """n2 applied (our PUT landed at 150); the echo arrives; then n3, typed at 120, is delivered."""
    clocks = {"Name": {"t": 100, "s": "sheets", "ts": 100, "wt": 150}}
    echoed = _merge({"Name": "n2"}, clocks, [], [Landing("Name", "n2", 150, T)])
    result = merge({"Name": "n2"}, echoed.clocks, [Change("Name", "n3", 120, S)])
    outcome = result.fields["Name"]
    assert outcome.value == "n3" and outcome.write == {T} and not outcome.conflicts


def test_queued_sheet_edit_and_newer_trello_move_end_at_the_move():
    """Issue 13, case 1: both queued while the worker was stopped; the newer move wins on both sides,
    and the overruled sheet edit is a conflict credited to the sheet."""
    result = _merge({"Status": "New"}, {"Status": {"t": 50, "s": "sheets"}},
                    [Change("Status", "Qualified", 1000, S), Change("Status", "Won", 2500, T)])
    outcome = result.fields["Status"]
    assert outcome.value == "Won" and outcome.write == {S}
    [conflict] = outcome.conflicts
    assert conflict.dropped.side is S and conflict.dropped.value == "Qualified"
    assert conflict.kept_side == "trello" and conflict.kept_at == 2500


def test_a_newer_change_that_never_saw_the_value_it_replaces_records_a_conflict():
    """The Trello move (applied at 200) had not reached the sheet when the person typed at 250."""
    unseen = _merge({"Status": "Won"}, {"Status": {"t": 200, "s": "trello", "ws": 0}},
                    [Change("Status", "Qualified", 250, S)])
    [conflict] = unseen.fields["Status"].conflicts
    assert conflict.dropped.side is T and conflict.dropped.value == "Won" and conflict.kept_side == "sheets"
    seen = _merge({"Status": "Won"}, {"Status": {"t": 200, "s": "trello", "ws": 220}},
                  [Change("Status", "Qualified", 250, S)])
    assert not seen.fields["Status"].conflicts  # the sheet showed Won at 220: the person changed it after


def test_what_the_person_replaced_decides_whether_they_saw_the_value_kept():
    """Compare-and-set: the add-on sends a single cell's previous value."""
    clocks = {"Status": {"t": 200, "s": "trello", "ws": 0}}  # no sheet write known yet
    saw = _merge({"Status": "Won"}, clocks, [Change("Status", "Qualified", 250, S, replaced="Won")])
    assert saw.fields["Status"].value == "Qualified" and not saw.fields["Status"].conflicts
    unseen = _merge({"Status": "Won"}, clocks, [Change("Status", "Qualified", 250, S, replaced="New")])
    [conflict] = unseen.fields["Status"].conflicts
    assert conflict.dropped.value == "Won" and conflict.dropped.side is T


def test_a_value_typed_again_is_no_change():
    from types import SimpleNamespace

    from server.sync.mapping import Mapping
    from server.sync.observe import sheet_changes

    link = SimpleNamespace(shadow={"Name": "Ada", "Status": "Won"})
    mapping = Mapping.from_json({"status_to_list": {"won": "l1"}})
    data = {"values": {"Name": "Ada", "Status": "Lost"}, "changed": ["Status"], "edited_at": 5.0,
            "old": {"Status": "Lost"}}
    assert sheet_changes(data, link, mapping) == []  # the cell held "Lost" already (our write had not landed)
    data["old"] = {"Status": "Won"}
    [change] = sheet_changes(data, link, mapping)
    assert (change.value, change.replaced) == ("Lost", "Won")


def test_an_older_change_from_the_same_side_is_stale_not_a_conflict():
    result = _merge({"Name": "B"}, {"Name": {"t": 300, "s": "trello", "tt": 300}}, [Change("Name", "A", 200, T)])
    outcome = result.fields["Name"]
    assert outcome.value == "B" and not outcome.conflicts and outcome.stale and not outcome.write


def test_a_late_call_of_ours_that_overwrote_a_newer_trello_change_is_undone():
    """Issue 14, case 2: our PUT (value a) timed out and landed at 800; a person had set p at 700."""
    clocks = {"Name": {"t": 100, "s": "sheets", "wt": 300}}
    landed = _merge({"Name": "a"}, clocks, [], [Landing("Name", "a", 800, T)])
    result = merge({"Name": "a"}, landed.clocks, [Change("Name", "p", 700, T)])
    outcome = result.fields["Name"]
    assert outcome.value == "p" and outcome.write == {S, T}  # Trello shows our late "a": write p back


def test_the_landing_after_the_change_is_merged_is_undone_too():
    clocks = {"Name": {"t": 100, "s": "sheets", "wt": 300}}
    first = _merge({"Name": "a"}, clocks, [Change("Name", "p", 700, T)])
    assert first.fields["Name"].write == {S}
    second = merge({"Name": "p"}, first.clocks, [], [Landing("Name", "a", 800, T)])
    assert second.fields["Name"].write == {T} and second.fields["Name"].value == "p"


def test_a_sheet_edit_our_write_covered_is_written_back():
    """The person typed at 500; our write of Trello's value (from 300) reached the sheet at 600."""
    result = _merge({"Notes": "trello"}, {"Notes": {"t": 300, "s": "trello", "ws": 600}}, [Change("Notes", "typed", 500, S)])
    assert result.fields["Notes"].value == "typed" and result.fields["Notes"].write == {S, T}


def test_clocks_read_the_old_stored_shape():
    clock = load_clocks({"Name": {"t": 5, "s": "sheets", "w": 9}})["Name"]
    assert (clock.t, clock.s, clock.ws) == (5, "sheets", 9)
    assert dump_clocks({"Name": clock}) == {"Name": {"t": 5, "s": "sheets", "ws": 9}}


# --------------------------------------------------------------------------- the property


@st.composite
def histories(draw):
    """People change both sides over time while a worker takes delivered events in random groups."""
    steps = draw(st.lists(st.one_of(
        st.tuples(st.just("edit"), st.sampled_from([S, T]), st.sampled_from(["a", "b", "c", "d"])),
        st.tuples(st.just("work"), st.integers(0, 3), st.randoms(use_true_random=False)),
        st.tuples(st.just("land"), st.integers(0, 5)),
    ), min_size=1, max_size=40))
    return steps


@settings(max_examples=300, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_both_sides_end_at_the_newest_change_whatever_the_delivery_order(steps, rnd):
    """A simulation: each side shows the latest write to it; people's edits and our writes' echoes
    are delivered late and out of order and merged in random groups; some of our Trello calls
    time out and land later (their echo tells when). After everything is delivered and merged,
    both sides and the shadow hold the value of the newest person's edit."""
    clock = 0.0
    sides = {S: ("start", 0.0), T: ("start", 0.0)}
    shadow, clocks = {"f": "start"}, {}
    queue: list[tuple[str, object]] = []  # ("change", Change) | ("landing", Landing)
    slow: list[str] = []  # our Trello calls that timed out and have not landed yet
    newest = None

    def tick():
        nonlocal clock
        clock += 1.0
        return clock

    def work(items):
        nonlocal shadow, clocks
        changes = [i for kind, i in items if kind == "change"]
        landings = [i for kind, i in items if kind == "landing"]
        result = merge(shadow, clocks, changes, landings)
        shadow = {"f": result.fields["f"].value} if "f" in result.fields else shadow
        clocks = result.clocks
        for side in result.fields.get("f").write if "f" in result.fields else ():
            if side is T and rnd.random() < 0.3:
                slow.append(shadow["f"])  # timed out: we do not know when (or that) it lands
                continue
            at = tick()
            sides[side] = (shadow["f"], at)
            if side is T:
                clocks["f"].wt = at
                queue.append(("landing", Landing("f", shadow["f"], at, T)))  # Trello echoes our write
            else:
                clocks["f"].ws = at  # the sheet has no echo: we date our write ourselves

    def land(index):
        value = slow.pop(index)
        at = tick()
        sides[T] = (value, at)
        queue.append(("landing", Landing("f", value, at, T)))

    for step in steps:
        if step[0] == "edit":
            _, side, value = step
            at = tick()
            sides[side] = (value, at)
            queue.append(("change", Change("f", value, at, side)))
            newest = value
        elif step[0] == "work":
            _, count, order = step
            order.shuffle(queue)
            taken, queue[:] = queue[:count], queue[count:]
            if taken:
                work(taken)
        elif slow:
            land(step[1] % len(slow))
    while queue or slow:
        if slow:
            land(0)
            continue
        rnd.shuffle(queue)
        count = rnd.randint(1, len(queue))
        taken, queue[:] = queue[:count], queue[count:]
        work(taken)
    if newest is not None:
        assert shadow["f"] == newest
        assert sides[S][0] == newest and sides[T][0] == newest
