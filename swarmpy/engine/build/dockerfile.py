"""Dockerfiles, parsed as Docker's parser and instruction reader do (pure).

Our own small parser rather than a PyPI one: ``dockerfile-parse`` (the maintained candidate)
returns raw instruction text without the flags, the JSON/shell forms or the word rules the
builder needs, and applies variable substitution only to FROM, so we would have to redo most of
this on top of it anyway.

Covered as buildkit's ``parser`` and ``instructions`` packages: the ``# escape=`` directive,
comments (also inside continued lines), line continuations, JSON (exec) and shell forms,
``--flag=value`` options, stages (``FROM image AS name``), ARGs before the first FROM, and the
substitution of ``$VAR``, ``${VAR}``, ``${VAR:-word}`` and ``${VAR:+word}`` in the instructions
Docker expands them in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from swarmpy.errors import InvalidArgument

# Instructions the builder runs, and those it knows and refuses (the error says why).
KNOWN = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)
# Where Docker substitutes variables before running the instruction (buildkit's
# replaceEnvAllowed); RUN, CMD and ENTRYPOINT leave it to the shell.
EXPANDED = frozenset(
    {"ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}
)
# The flags each instruction takes (the classic builder refuses the BuildKit-only ones later,
# with Docker's message).
FLAGS: dict[str, frozenset[str]] = {
    "FROM": frozenset({"platform"}),
    "COPY": frozenset({"from", "chown", "chmod", "link", "parents", "exclude"}),
    "ADD": frozenset({"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"}),
    "RUN": frozenset({"mount", "network", "security", "device"}),
    "HEALTHCHECK": frozenset({"interval", "timeout", "start-period", "start-interval", "retries"}),
}
JSON_FORMS = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_FLAG = re.compile(r"^--([a-zA-Z][a-zA-Z0-9-]*)(?:=(.*))?$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DockerfileError(InvalidArgument):
    """A Dockerfile that cannot be built, with Docker's wording."""


@dataclass(frozen=True)
class Instruction:
    cmd: str  # upper case: "RUN"
    rest: str  # everything after the instruction word and its flags
    flags: tuple[tuple[str, str], ...]
    original: str  # the logical line as written, shown in "Step 2/5 : ..."
    line: int  # where it starts, 1-based
    json_args: tuple[str, ...] | None = None  # the exec form's words, when written so

    def flag(self, name: str) -> str | None:
        return dict(self.flags).get(name)


@dataclass(frozen=True)
class Stage:
    base: str  # the FROM image as written (variables expanded later, with the meta ARGs)
    name: str  # "" when the stage has no AS name
    instructions: tuple[Instruction, ...]
    source: Instruction  # the FROM line itself


@dataclass(frozen=True)
class Dockerfile:
    meta_args: tuple[Instruction, ...]  # ARGs before the first FROM
    stages: tuple[Stage, ...]
    escape: str = "\\"

    @property
    def step_count(self) -> int:
        return len(self.meta_args) + sum(1 + len(s.instructions) for s in self.stages)


@dataclass
class _Logical:
    text: str = ""
    line: int = 0
    parts: list[str] = field(default_factory=list)


def parse(text: str) -> Dockerfile:
    """Parse a Dockerfile; raise DockerfileError as ``docker build`` reports it."""
    lines = text.replace("\r\n", "\n").split("\n")
    escape, first = _directives(lines)
    logical = _logical_lines(lines, first, escape)
    instructions = [_instruction(text, line, escape) for line, text in logical]
    if not instructions:
        raise DockerfileError("the Dockerfile (Dockerfile) cannot be empty")
    meta: list[Instruction] = []
    stages: list[Stage] = []
    current: tuple[Instruction, list[Instruction]] | None = None
    for inst in instructions:
        if inst.cmd == "FROM":
            if current is not None:
                stages.append(_stage(*current, escape))
            current = (inst, [])
        elif current is None:
            if inst.cmd != "ARG":
                raise DockerfileError(
                    "no build stage in current context"
                    if inst.cmd in KNOWN
                    else f"dockerfile parse error line {inst.line}: unknown instruction: "
                    f"{inst.original.split()[0].upper()}"
                )
            meta.append(inst)
        else:
            current[1].append(inst)
    if current is None:
        raise DockerfileError("no build stage in current context")
    stages.append(_stage(*current, escape))
    return Dockerfile(tuple(meta), tuple(stages), escape)


def _directives(lines: list[str]) -> tuple[str, int]:
    """The escape character and the index of the first line after the parser directives."""
    escape = "\\"
    seen: set[str] = set()
    for i, line in enumerate(lines):
        match = _DIRECTIVE.match(line.strip())
        if not match:
            return escape, i
        key, value = match.group(1).lower(), match.group(2)
        if key in seen:
            raise DockerfileError(f"only one {key} parser directive can be used")
        seen.add(key)
        if key == "escape":
            if value not in ("\\", "`"):
                raise DockerfileError(f"invalid escape token '{value}' does not match ` or \\")
            escape = value
    return escape, len(lines)


def _logical_lines(lines: list[str], first: int, escape: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    pending: _Logical | None = None
    for number, raw in enumerate(lines[first:], start=first + 1):
        stripped = raw.strip()
        if stripped.startswith("#"):
            continue  # a comment, also between continued lines
        if pending is None:
            if not stripped:
                continue
            pending = _Logical(line=number)
        elif not stripped:
            continue  # an empty line inside a continuation is dropped, as Docker does
        body = raw.rstrip()
        if body.endswith(escape) and not body.endswith(escape * 2):
            pending.parts.append(body[: -len(escape)].lstrip() if pending.parts else body[:-1])
            continue
        pending.parts.append(body.lstrip() if pending.parts else body)
        out.append((pending.line, "".join(pending.parts).strip()))
        pending = None
    if pending is not None and pending.parts:
        out.append((pending.line, "".join(pending.parts).strip()))
    return out


def _instruction(text: str, line: int, escape: str) -> Instruction:
    word, _, rest = text.partition(" ")
    if "\t" in word:
        word, _, more = word.partition("\t")
        rest = more + " " + rest
    cmd = word.upper()
    if cmd not in KNOWN:
        raise DockerfileError(f"dockerfile parse error line {line}: unknown instruction: {cmd}")
    rest = rest.strip()
    flags: list[tuple[str, str]] = []
    if cmd in FLAGS:
        while rest.startswith("--"):
            token, _, remainder = rest.partition(" ")
            match = _FLAG.match(token)
            if not match:
                break
            name = match.group(1)
            if name not in FLAGS[cmd]:
                raise DockerfileError(f"dockerfile parse error line {line}: Unknown flag: {name}")
            flags.append((name, match.group(2) or ""))
            rest = remainder.strip()
    json_args = _json_form(rest) if cmd in JSON_FORMS else None
    return Instruction(cmd, rest, tuple(flags), text, line, json_args)


def change_lines(changes: list[str]) -> list[tuple[int, str]]:
    """``commit --change`` instructions, joined as moby parses them (one Dockerfile without
    FROM): the logical lines with their numbers, for ``parse_instruction``."""
    lines = "\n".join(changes).replace("\r\n", "\n").split("\n")
    escape, first = _directives(lines)
    return _logical_lines(lines, first, escape)


def parse_instruction(text: str, line: int, escape: str = "\\") -> Instruction:
    """One instruction on its own (an ONBUILD trigger)."""
    if not text.strip():
        raise DockerfileError("ONBUILD requires at least one argument")
    return _instruction(text.strip(), line, escape)


def json_form(rest: str) -> tuple[str, ...] | None:
    """The exec (JSON) form's words, or None for the shell form."""
    return _json_form(rest)


def _json_form(rest: str) -> tuple[str, ...] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None  # not JSON: the shell form, as Docker falls back to
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(value)


def _stage(source: Instruction, body: list[Instruction], escape: str) -> Stage:
    words = split_words(source.rest, escape)
    if len(words) == 3 and words[1].lower() == "as":
        name = words[2].lower()
        if not re.fullmatch(r"[a-z][a-z0-9\-_.]*", name):
            raise DockerfileError(
                f"invalid name for build stage: {words[2]!r}, name can't start with a number "
                "or contain symbols"
            )
        return Stage(words[0], name, tuple(body), source)
    if len(words) != 1:
        raise DockerfileError(
            f"dockerfile parse error line {source.line}: FROM requires either one or three "
            "arguments"
        )
    return Stage(words[0], "", tuple(body), source)


# ---------------------------------------------------------------- words and substitution


def split_words(text: str, escape: str = "\\") -> list[str]:
    """Whitespace-separated words, quotes and escapes kept (``process_word`` removes them)."""
    words: list[str] = []
    current: list[str] = []
    quote = ""
    i = 0
    in_word = False
    while i < len(text):
        c = text[i]
        if c == escape and i + 1 < len(text) and quote != "'":
            current.append(c + text[i + 1])
            in_word = True
            i += 2
            continue
        if quote:
            if c == quote:
                quote = ""
            current.append(c)
        elif c in "'\"":
            quote = c
            current.append(c)
            in_word = True
        elif c.isspace():
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(c)
            in_word = True
        i += 1
    if in_word:
        words.append("".join(current))
    return words


def process_word(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Remove quotes and escapes and substitute variables, as Docker's shell lexer does."""
    return _Lexer(word, env, escape).run()


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.text, self.env, self.escape, self.pos = text, env, escape, 0

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _next(self) -> str:
        c = self._peek()
        self.pos += 1
        return c

    def run(self, stop: Callable[[str], bool] = lambda _c: False) -> str:
        out: list[str] = []
        while self.pos < len(self.text) and not stop(self._peek()):
            c = self._next()
            if c == self.escape:
                out.append(self._next())
            elif c == "'":
                end = self.text.find("'", self.pos)
                if end < 0:
                    raise DockerfileError("unexpected end of statement while looking for '")
                out.append(self.text[self.pos : end])
                self.pos = end + 1
            elif c == '"':
                out.append(self._double_quoted())
            elif c == "$":
                out.append(self._variable())
            else:
                out.append(c)
        return "".join(out)

    def _double_quoted(self) -> str:
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise DockerfileError('unexpected end of statement while looking for matching "')
            c = self._next()
            if c == '"':
                return "".join(out)
            if c == self.escape and self._peek() in ('"', "$", self.escape):
                out.append(self._next())
            elif c == "$":
                out.append(self._variable())
            else:
                out.append(c)

    def _variable(self) -> str:
        if self._peek() == "{":
            self._next()
            name = self._name()
            if self._peek() == "}":
                self._next()
                return self.env.get(name, "")
            modifier = self._next()
            colon = modifier == ":"
            if colon:
                modifier = self._next()
            if modifier not in "-+?" or not modifier:
                raise DockerfileError(f"unsupported modifier ({modifier}) in substitution")
            word = self.run(stop=lambda c: c == "}")
            if self._next() != "}":
                raise DockerfileError("syntax error: missing '}'")
            value = self.env.get(name)
            is_set = value is not None and (value != "" or not colon)
            if modifier == "-":
                return value if is_set and value is not None else word
            if modifier == "+":
                return word if is_set else ""
            if not is_set:
                raise DockerfileError(f"{name}: {word or 'is not allowed to be unset'}")
            return value or ""
        name = self._name()
        if not name:
            return "$"
        return self.env.get(name, "")

    def _name(self) -> str:
        match = _NAME.match(self.text, self.pos)
        if not match:
            return ""
        self.pos = match.end()
        return match.group(0)


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    return [process_word(w, env, escape) for w in split_words(text, escape)]


def key_values(inst: Instruction, env: Mapping[str, str], escape: str) -> list[tuple[str, str]]:
    """ENV's and LABEL's pairs: ``k=v k2="v 2"``, or the legacy ``ENV key the value``."""
    words = split_words(inst.rest, escape)
    if not words:
        raise DockerfileError(f"{inst.cmd} requires at least one argument")
    if "=" not in words[0]:
        if inst.cmd == "LABEL" or len(words) < 2:
            raise DockerfileError(f"{inst.cmd} must have two arguments")
        key = words[0]
        value = inst.rest[len(words[0]) :].strip()
        return [(key, process_word(value, env, escape))]
    pairs = []
    for word in words:
        if "=" not in word:
            raise DockerfileError(
                f"Syntax error - can't find = in {word!r}. Must be of the form: name=value"
            )
        key, _, value = word.partition("=")
        pairs.append((process_word(key, env, escape), process_word(value, env, escape)))
    return pairs


def command_words(inst: Instruction) -> tuple[list[str], bool]:
    """RUN's, CMD's, ENTRYPOINT's command: (words, whether written in the shell form)."""
    if inst.json_args is not None:
        return list(inst.json_args), False
    return [inst.rest], True


def sources_and_dest(
    inst: Instruction, env: Mapping[str, str], escape: str
) -> tuple[list[str], str]:
    """COPY's and ADD's sources and destination, variables substituted."""
    if inst.json_args is not None:
        words = [process_word(w, env, escape) for w in inst.json_args]
    else:
        words = expand_words(inst.rest, env, escape)
    if len(words) < 2:
        raise DockerfileError(
            f"{inst.cmd} requires at least two arguments, but only one was provided. "
            "Destination could not be determined."
        )
    return words[:-1], words[-1]
