""".dockerignore: which paths of a build context are left out (pure).

Docker's patternmatcher rules: one pattern a line, ``#`` comments, ``!`` re-includes, patterns
cleaned as paths with a leading ``/`` dropped, ``*`` and ``?`` within one path component, ``**``
across any number of them; a path is out when the last pattern matching it or one of its
parent directories is not an exclusion.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

DOCKERIGNORE = ".dockerignore"


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]


def parse_ignore(text: str) -> tuple[Pattern, ...]:
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        if not line:
            continue
        line = posixpath.normpath(line)
        if len(line) > 1 and line.startswith("/"):
            line = line.lstrip("/") or "/"
        patterns.append(Pattern(line, exclusion, re.compile(_regex(line))))
    return tuple(patterns)


def _regex(pattern: str) -> str:
    out = ["^"]
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):
                    i += 1
                    out.append("(.*/)?" if i < len(pattern) else ".*")
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("^"):
                    body = "!" + body[1:]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    out.append("$")
    return "".join(out)


def excluded(path: str, patterns: tuple[Pattern, ...]) -> bool:
    """Whether ``path`` (relative to the context, ``/``-separated) is left out."""
    path = posixpath.normpath(path).lstrip("/")
    parents = _parents(path)
    matched = False
    for pattern in patterns:
        if pattern.exclusion != matched:
            continue  # only a pattern that could flip the answer needs testing
        hit = bool(pattern.regex.match(path)) or any(pattern.regex.match(p) for p in parents)
        if hit:
            matched = not pattern.exclusion
    return matched


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]
