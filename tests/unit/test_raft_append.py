"""What a follower keeps of an append from its leader (patches.skip_entries_held)."""

from __future__ import annotations

from typing import Any

from swarmpy.manager.state.raft.patches import Entry, skip_entries_held


def log_of(*terms: int) -> dict[int, Entry]:
    """A follower's log: entry i (from 1) of term terms[i - 1]."""
    return {i: (f"cmd {i}/{t}".encode(), i, t) for i, t in enumerate(terms, start=1)}


def append(prev: int, prev_term: int, *entries: Entry) -> dict[str, Any]:
    return {
        "type": "append_entries",
        "term": 3,
        "commit_index": 1,
        "prevLogIdx": prev,
        "prevLogTerm": prev_term,
        "entries": list(entries),
    }


def test_entries_held_and_applied_are_not_sent_to_pysyncobj_again() -> None:
    # A leader re-sends 3-4 to a follower holding 1-8 that applied up to 6: pysyncobj would
    # drop 3-8, applied ones included; the append now starts after the last applied entry.
    log = log_of(1, 1, 2, 2, 2, 2, 2, 2)
    out = skip_entries_held(append(2, 1, log[3], log[4]), log.get, 6)
    assert (out["prevLogIdx"], out["prevLogTerm"], out["entries"]) == (6, 2, [])


def test_entries_from_the_first_conflict_on_are_kept_in_the_append() -> None:
    log = log_of(1, 1, 2, 2, 2)
    sent = [log[3], (b"new", 4, 3), (b"new", 5, 3), (b"new", 6, 3)]
    out = skip_entries_held(append(2, 1, *sent), log.get, 2)
    assert (out["prevLogIdx"], out["prevLogTerm"], out["entries"]) == (3, 2, sent[1:])


def test_new_entries_past_the_log_are_all_kept() -> None:
    log = log_of(1, 1, 2)
    sent = [log[2], log[3], (b"new", 4, 2)]
    out = skip_entries_held(append(1, 1, *sent), log.get, 3)
    assert (out["prevLogIdx"], out["prevLogTerm"], out["entries"]) == (3, 2, sent[2:])


def test_an_append_pysyncobj_refuses_or_streams_is_left_alone() -> None:
    log = log_of(1, 1, 2, 2)
    wrong_prev = append(2, 2, log[3], log[4])  # entry 2 is of term 1 here
    assert skip_entries_held(wrong_prev, log.get, 4) is wrong_prev
    missing_prev = append(9, 2)
    assert skip_entries_held(missing_prev, log.get, 4) is missing_prev
    snapshot = {**append(2, 1, log[3]), "transmission": "finish"}
    assert skip_entries_held(snapshot, log.get, 4) is snapshot
    # Nothing applied past what the append already ends at: nothing to skip.
    heartbeat = append(4, 2)
    assert skip_entries_held(heartbeat, log.get, 3) is heartbeat
