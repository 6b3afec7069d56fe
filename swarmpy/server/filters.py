"""Docker's ``filters=`` query parameter: parsing and the matches every object's list shares.

The parameter is JSON, ``{"name": {"web": true}}`` (API >= 1.22) or the older
``{"name": ["web"]}``. Keys combine with AND, values of one key with OR, as in Docker's
api/types/filters.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from swarmpy.errors import InvalidArgument


@dataclass(frozen=True)
class Filters:
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, key: str) -> tuple[str, ...]:
        return self.values.get(key, ())

    def __contains__(self, key: str) -> bool:
        return bool(self.values.get(key))

    def any(self, key: str, test: Iterable[bool]) -> bool:
        """True when ``key`` is not filtered on, else whether any value passed ``test``."""
        return key not in self or any(test)

    def labels(self, key: str, have: Mapping[str, str]) -> bool:
        """Docker's label filter: every ``k`` must exist and every ``k=v`` must match."""
        for item in self.get(key):
            name, sep, value = item.partition("=")
            if name not in have or (sep and have[name] != value):
                return False
        return True

    def bool_value(self, key: str) -> bool | None:
        """A filter that takes one true/false (``dangling``); None when not given."""
        values = {v.lower() for v in self.get(key)}
        if not values:
            return None
        if values <= {"true", "1"}:
            return True
        if values <= {"false", "0"}:
            return False
        raise InvalidArgument(f"invalid filter '{key}={','.join(sorted(values))}'")


def parse_filters(text: str, accepted: Collection[str]) -> Filters:
    """The filters of a request; an unknown key is refused as Docker does."""
    if not text:
        return Filters()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        raise InvalidArgument(f"invalid filter: {text!r} is not JSON") from None
    if not isinstance(raw, dict):
        raise InvalidArgument("invalid filter: expected a JSON object")
    values: dict[str, tuple[str, ...]] = {}
    for key, given in raw.items():
        if isinstance(given, dict) and all(isinstance(v, bool) for v in given.values()):
            items = [v for v, on in given.items() if on]
        elif isinstance(given, list) and all(isinstance(v, str) for v in given):
            items = list(given)
        else:
            raise InvalidArgument(f"invalid filter '{key}': expected a set of strings")
        if key not in accepted:
            raise InvalidArgument(f"invalid filter '{key}'")
        values[key] = tuple(items)
    return Filters(values)


def prefix(values: Iterable[str], text: str) -> bool:
    return any(text.startswith(v) for v in values)
