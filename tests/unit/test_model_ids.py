"""Object ids: SwarmKit's shape (25 lowercase base-36 characters), unique, every digit used."""

from __future__ import annotations

import re
import string

from swarmpy.model import new_id


def test_ids_look_like_swarmkits_and_do_not_repeat() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert all(re.fullmatch(r"[0-9a-z]{25}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    # Each of the 36 digits is drawn alike: over 20,000 ids (500,000 digits) each appears
    # ~13,889 times, give or take ~118 (one standard deviation). Bytes taken mod 36 without
    # dropping the uneven top of their range would put 0-3 at ~15,625, past the bound.
    digits = "".join(ids)
    counts = {d: digits.count(d) for d in string.digits + string.ascii_lowercase}
    assert min(counts.values()) > 13_889 - 700, counts
    assert max(counts.values()) < 13_889 + 700, counts
