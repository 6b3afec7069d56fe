"""Variable substitution in one string, as docker/cli's cli/compose/template: ``$VAR``,
``${VAR}``, ``${VAR:-default}`` (unset or empty), ``${VAR-default}`` (unset),
``${VAR:?error}`` (unset or empty is an error), ``${VAR?error}`` (unset is an error) and
``$$`` for a literal ``$``. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable

# docker/cli's pattern, group for group: an escaped $, a bare name, a braced substitution, or
# anything else after a $ (invalid). Names are matched case-insensitively, as Go's (?i:...).
_SUBSTITUTION = r"[_a-z][_a-z0-9]*(?::?[-?][^}]*)?"
PATTERN = re.compile(
    rf"\$(?:(?P<escaped>\$)|(?P<named>{_SUBSTITUTION})|{{(?P<braced>{_SUBSTITUTION})}}|(?P<invalid>))",
    re.IGNORECASE,
)

Lookup = Callable[[str], "str | None"]


class InvalidTemplate(ValueError):
    """docker/cli's InvalidTemplateError: its ``template`` is what the message quotes."""

    def __init__(self, template: str) -> None:
        super().__init__(template)
        self.template = template


def _apply(substitution: str, lookup: Lookup) -> str:
    """One substitution's value; the operators tried in docker/cli's order."""
    for sep, kind in ((":-", "soft"), ("-", "hard"), (":?", "nonempty"), ("?", "required")):
        if sep not in substitution:
            continue
        name, _, rest = substitution.partition(sep)
        value = lookup(name)
        if kind == "soft":
            return value if value else rest
        if kind == "hard":
            return rest if value is None else value
        if value is None or (kind == "nonempty" and value == ""):
            raise InvalidTemplate(f"required variable {name} is missing a value: {rest}")
        return value
    return lookup(substitution) or ""


def substitute(template: str, lookup: Lookup) -> str:
    """``template`` with its variables replaced; InvalidTemplate for a bad ``$`` or a
    required variable without a value."""

    def one(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        substitution = match.group("named") or match.group("braced")
        if not substitution:
            raise InvalidTemplate(template)
        return _apply(substitution, lookup)

    return PATTERN.sub(one, template)
