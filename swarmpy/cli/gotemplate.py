"""Go's text/template, as the docker CLI uses it for ``--format``.

A lexer turns the text into tokens, a parser turns the tokens into a tree of nodes, and an
evaluator walks the tree over the data: the same three stages, grammar, semantics and error
sentences as Go's text/template (parse/lex.go, parse/parse.go, exec.go, funcs.go), with the
functions docker/cli adds (templates/templates.go: json, split, join, title, lower, upper, pad,
truncate) and the docker formatter's ``table`` / ``json`` handling and tabwriter alignment
(cli/command/formatter/). Pure: no I/O.

Data is what the CLI holds: dicts decoded from JSON (``.Spec.Name`` looks keys up; a missing
key is ``<no value>``, or an error when ``missing_key_error`` is set, as docker inspect's raw
fallback runs) and objects whose public attributes, properties and methods are fields (a
method is called, with the template's arguments: ``{{.Label "k"}}``).
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import math
import re
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, NoReturn

from swarmpy.cli.tabwriter import tabwrite as tabwrite  # re-exported: version.py uses it
from swarmpy.errors import InvalidArgument

# Go has no recursion limit of its own worth copying (its stacks grow); Python's does, so the
# nesting of parentheses, control structures and {{template}} calls is bounded well below it.
MAX_DEPTH = 100
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class TemplateError(InvalidArgument):
    """A template that does not parse or does not execute; the message is Go's sentence."""


class _Missing:
    """Go's invalid reflect.Value: a missing map key (or a JSON null in a map). Printed
    ``<no value>``; passed to a function it is nil."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Any = _Missing()


class _NoFinal:
    """Go's missingVal: no value flows in from a previous pipeline command."""


_NO_FINAL: Any = _NoFinal()


# ---------------------------------------------------------------------------------- lexer


class T(enum.Enum):
    ERROR = "error"
    BOOL = "bool"
    CHAR = "char"
    CHAR_CONSTANT = "char constant"
    COMPLEX = "complex"
    ASSIGN = "="
    DECLARE = ":="
    EOF = "EOF"
    FIELD = "field"
    IDENTIFIER = "identifier"
    LEFT_DELIM = "{{"
    LEFT_PAREN = "("
    NUMBER = "number"
    PIPE = "|"
    RAW_STRING = "raw string"
    RIGHT_DELIM = "}}"
    RIGHT_PAREN = ")"
    SPACE = "space"
    STRING = "string"
    TEXT = "text"
    VARIABLE = "variable"
    # Keywords.
    BLOCK = "block"
    BREAK = "break"
    CONTINUE = "continue"
    DOT = "."
    DEFINE = "define"
    ELSE = "else"
    END = "end"
    IF = "if"
    NIL = "nil"
    RANGE = "range"
    TEMPLATE = "template"
    WITH = "with"


KEYWORDS = {
    t.value: t
    for t in (
        T.BLOCK,
        T.BREAK,
        T.CONTINUE,
        T.DOT,
        T.DEFINE,
        T.ELSE,
        T.END,
        T.IF,
        T.NIL,
        T.RANGE,
        T.TEMPLATE,
        T.WITH,
    )
}

LEFT_DELIM, RIGHT_DELIM = "{{", "}}"
LEFT_COMMENT, RIGHT_COMMENT = "/*", "*/"
SPACE_CHARS = " \t\r\n"


@dataclasses.dataclass(frozen=True)
class Token:
    type: T
    val: str
    pos: int
    line: int

    def __str__(self) -> str:
        """Go's item.String(), as parse errors quote tokens."""
        if self.type is T.EOF:
            return "EOF"
        if self.type is T.ERROR:
            return self.val
        if self.type in KEYWORDS.values():
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def _is_space(ch: str) -> bool:
    return ch != "" and ch in SPACE_CHARS


def _is_alphanumeric(ch: str) -> bool:
    return ch == "_" or (ch != "" and (ch.isalpha() or unicodedata.category(ch) == "Nd"))


def _has_left_trim(s: str) -> bool:
    return len(s) >= 2 and s[0] == "-" and _is_space(s[1])


def _has_right_trim(s: str) -> bool:
    return len(s) >= 2 and _is_space(s[0]) and s[1] == "-"


_State = Callable[[], "_State | None"]


class _Lexer:
    """Go's state-function lexer. The token list ends with EOF or with one ERROR token: the
    parser reports the error only when it reaches it, so errors come in Go's order."""

    def __init__(self, text: str) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.paren_depth = 0
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        state: _State | None = self.lex_text
        while state is not None:
            state = state()
        return self.tokens

    # -- helpers
    def next(self) -> str:
        if self.pos >= len(self.input):
            self.pos = len(self.input) + 1  # so that backup() returns to the end
            return ""
        ch = self.input[self.pos]
        self.pos += 1
        return ch

    def backup(self) -> None:
        self.pos -= 1

    def peek(self) -> str:
        return self.input[self.pos] if self.pos < len(self.input) else ""

    def line_at(self, pos: int) -> int:
        return 1 + self.input.count("\n", 0, pos)

    def emit(self, typ: T) -> _State:
        self.tokens.append(
            Token(typ, self.input[self.start : self.pos], self.start, self.line_at(self.start))
        )
        self.start = self.pos
        return self.lex_inside_action

    def ignore(self) -> None:
        self.start = self.pos

    def accept(self, valid: str) -> bool:
        ch = self.next()
        if ch != "" and ch in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while True:
            ch = self.next()
            if ch == "" or ch not in valid:
                self.backup()
                return

    def errorf(self, message: str) -> _State | None:
        """The error token, and no next state: lexing stops."""
        self.tokens.append(Token(T.ERROR, message, self.start, self.line_at(self.start)))
        return None

    def at_right_delim(self) -> tuple[bool, bool]:
        rest = self.input[self.pos :]
        if _has_right_trim(rest) and rest[2:].startswith(RIGHT_DELIM):
            return True, True
        return rest.startswith(RIGHT_DELIM), False

    def at_terminator(self) -> bool:
        ch = self.peek()
        return ch == "" or _is_space(ch) or ch in ".,|:)(" or ch == RIGHT_DELIM[0]

    # -- states
    def lex_text(self) -> _State | None:
        x = self.input.find(LEFT_DELIM, self.pos)
        if x < 0:
            self.pos = len(self.input)
            if self.pos > self.start:
                self.emit(T.TEXT)
            self.emit(T.EOF)
            return None
        self.pos = x
        trim = 0
        if _has_left_trim(self.input[x + len(LEFT_DELIM) :]):
            text = self.input[self.start : x]
            trim = len(text) - len(text.rstrip(SPACE_CHARS))
        self.pos -= trim
        if self.pos > self.start:
            self.emit(T.TEXT)
        self.pos += trim
        self.ignore()
        return self.lex_left_delim

    def lex_left_delim(self) -> _State | None:
        self.pos += len(LEFT_DELIM)
        trim = _has_left_trim(self.input[self.pos :])
        after = 2 if trim else 0
        if self.input.startswith(LEFT_COMMENT, self.pos + after):
            self.pos += after
            self.ignore()
            return self.lex_comment
        self.emit(T.LEFT_DELIM)
        self.pos += after
        self.ignore()
        self.paren_depth = 0
        return self.lex_inside_action

    def lex_comment(self) -> _State | None:
        self.pos += len(LEFT_COMMENT)
        x = self.input.find(RIGHT_COMMENT, self.pos)
        if x < 0:
            return self.errorf("unclosed comment")
        self.pos = x + len(RIGHT_COMMENT)
        delim, trim = self.at_right_delim()
        if not delim:
            return self.errorf("comment ends before closing delimiter")
        if trim:
            self.pos += 2
        self.pos += len(RIGHT_DELIM)
        if trim:
            rest = self.input[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
        self.ignore()
        return self.lex_text

    def lex_right_delim(self) -> _State | None:
        _, trim = self.at_right_delim()
        if trim:
            self.pos += 2
            self.ignore()
        self.pos += len(RIGHT_DELIM)
        self.emit(T.RIGHT_DELIM)
        if trim:
            rest = self.input[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
            self.ignore()
        return self.lex_text

    def lex_inside_action(self) -> _State | None:
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            return self.errorf("unclosed left paren")
        ch = self.next()
        if ch == "":
            return self.errorf("unclosed action")
        if _is_space(ch):
            self.backup()  # the space may belong to a " -}}"
            return self.lex_space
        if ch == "=":
            return self.emit(T.ASSIGN)
        if ch == ":":
            if self.next() != "=":
                return self.errorf("expected :=")
            return self.emit(T.DECLARE)
        if ch == "|":
            return self.emit(T.PIPE)
        if ch == '"':
            return self.lex_quote
        if ch == "`":
            return self.lex_raw_quote
        if ch == "$":
            return self.lex_variable
        if ch == "'":
            return self.lex_char
        if ch == "." and self.pos < len(self.input) and not "0" <= self.input[self.pos] <= "9":
            return self.lex_field
        if ch in "+-." or "0" <= ch <= "9":
            self.backup()
            return self.lex_number
        if _is_alphanumeric(ch):
            self.backup()
            return self.lex_identifier
        if ch == "(":
            self.paren_depth += 1
            return self.emit(T.LEFT_PAREN)
        if ch == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                return self.errorf("unexpected right paren")
            return self.emit(T.RIGHT_PAREN)
        if ord(ch) < 0x80 and ch.isprintable():
            return self.emit(T.CHAR)
        return self.errorf(f"unrecognized character in action: {_go_unicode(ch)}")

    def lex_space(self) -> _State | None:
        spaces = 0
        while _is_space(self.peek()):
            self.next()
            spaces += 1
        # A space followed by "-}}" is the trim marker, not an argument separator.
        if _has_right_trim(self.input[self.pos - 1 :]) and self.input.startswith(
            RIGHT_DELIM, self.pos + 1
        ):
            self.backup()
            if spaces == 1:
                return self.lex_right_delim
        return self.emit(T.SPACE)

    def lex_identifier(self) -> _State | None:
        while _is_alphanumeric(self.next()):
            pass
        self.backup()
        if not self.at_terminator():
            return self.errorf(f"bad character {_go_unicode(self.peek())}")
        word = self.input[self.start : self.pos]
        if word in KEYWORDS and word != ".":
            return self.emit(KEYWORDS[word])
        if word in ("true", "false"):
            return self.emit(T.BOOL)
        return self.emit(T.IDENTIFIER)

    def lex_field(self) -> _State | None:
        return self.lex_field_or_variable(T.FIELD)

    def lex_variable(self) -> _State | None:
        if self.at_terminator():
            return self.emit(T.VARIABLE)
        return self.lex_field_or_variable(T.VARIABLE)

    def lex_field_or_variable(self, typ: T) -> _State | None:
        if self.at_terminator():
            return self.emit(T.VARIABLE if typ is T.VARIABLE else T.DOT)
        while _is_alphanumeric(self.next()):
            pass
        self.backup()
        if not self.at_terminator():
            return self.errorf(f"bad character {_go_unicode(self.peek())}")
        return self.emit(typ)

    def lex_char(self) -> _State | None:
        while True:
            ch = self.next()
            if ch == "\\":
                ch = self.next()
                if ch not in ("", "\n"):
                    continue
            if ch in ("", "\n"):
                return self.errorf("unterminated character constant")
            if ch == "'":
                return self.emit(T.CHAR_CONSTANT)

    def lex_number(self) -> _State | None:
        if not self.scan_number():
            return self.errorf(f"bad number syntax: {go_quote(self.input[self.start : self.pos])}")
        if self.peek() in ("+", "-"):
            if not self.scan_number() or self.input[self.pos - 1] != "i":
                return self.errorf(
                    f"bad number syntax: {go_quote(self.input[self.start : self.pos])}"
                )
            return self.emit(T.COMPLEX)
        return self.emit(T.NUMBER)

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if _is_alphanumeric(self.peek()):
            self.next()
            return False
        return True

    def lex_quote(self) -> _State | None:
        while True:
            ch = self.next()
            if ch == "\\":
                ch = self.next()
                if ch not in ("", "\n"):
                    continue
            if ch in ("", "\n"):
                return self.errorf("unterminated quoted string")
            if ch == '"':
                return self.emit(T.STRING)

    def lex_raw_quote(self) -> _State | None:
        x = self.input.find("`", self.pos)
        if x < 0:
            return self.errorf("unterminated raw quoted string")
        self.pos = x + 1
        return self.emit(T.RAW_STRING)


def lex(text: str) -> list[Token]:
    """The tokens of ``text``: always a list ending with EOF or with the first lexing error."""
    return _Lexer(text).run()


# -------------------------------------------------------------------------- literals


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}


def _unquote_char(s: str, i: int, quote: str) -> tuple[str, int]:
    """Go's strconv.UnquoteChar: the character at s[i] (an escape or not) and where the next
    one starts; ValueError on bad syntax."""
    ch = s[i]
    if ch == quote and quote in "'\"":
        raise ValueError
    if ch != "\\":
        return ch, i + 1
    if i + 1 >= len(s):
        raise ValueError
    c = s[i + 1]
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], i + 2
    if c in "'\"":
        if c != quote:
            raise ValueError
        return c, i + 2
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = s[i + 2 : i + 2 + n]
        if len(digits) != n or not all(d in "0123456789abcdefABCDEF" for d in digits):
            raise ValueError
        value = int(digits, 16)
        if c != "x" and (value > 0x10FFFF or 0xD800 <= value <= 0xDFFF):
            raise ValueError
        return chr(value), i + 2 + n
    if "0" <= c <= "7":
        digits = s[i + 1 : i + 4]
        if len(digits) != 3 or not all("0" <= d <= "7" for d in digits) or int(digits, 8) > 255:
            raise ValueError
        return chr(int(digits, 8)), i + 4
    raise ValueError


def go_unquote(quoted: str) -> str:
    """Go's strconv.Unquote for "..." and `...` literals; ValueError("invalid syntax")."""
    if len(quoted) >= 2 and quoted[0] == quoted[-1] == "`":
        body = quoted[1:-1]
        if "`" in body:
            raise ValueError("invalid syntax")
        return body.replace("\r", "")
    if len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"' or "\n" in quoted:
        raise ValueError("invalid syntax")
    body, out, i = quoted[1:-1], [], 0
    try:
        while i < len(body):
            ch, i = _unquote_char(body, i, '"')
            out.append(ch)
    except ValueError:
        raise ValueError("invalid syntax") from None
    return "".join(out)


def _go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 0) without the range check: Go's base prefixes, underscores,
    and a leading 0 meaning octal."""
    sign, s = 1, text
    if s[:1] in ("+", "-"):
        sign, s = (-1 if s[0] == "-" else 1), s[1:]
    if not s or not s[0].isdigit():
        return None
    if re.fullmatch(r"0[0-7_]+", s):
        s = "0o" + s[1:]
    try:
        return sign * int(s, 0)
    except ValueError:
        return None


def _parse_float(text: str) -> float | None:
    s = text.replace("_", "")
    try:
        body = s.lstrip("+-")
        if body[:2] in ("0x", "0X"):
            value = float.fromhex(body)
            return -value if s.startswith("-") else value
        if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", s):
            return None
        return float(s)
    except (ValueError, OverflowError):
        return None


@dataclasses.dataclass(frozen=True)
class Number:
    """A number literal and the types Go can read it as (parse.NumberNode)."""

    text: str
    int_value: int | None = None
    float_value: float | None = None
    complex_value: complex | None = None


def _parse_number(text: str, typ: T) -> Number:
    """ValueError with Go's sentence when the literal is not a number."""
    if typ is T.CHAR_CONSTANT:
        try:
            ch, end = _unquote_char(text[1:-1], 0, "'") if len(text) > 2 else ("", 0)
        except ValueError:
            ch, end = "", 0
        if ch == "" or end != len(text) - 2:
            raise ValueError(f"malformed character constant: {text}")
        return Number(text, ord(ch), float(ord(ch)))
    if typ is T.COMPLEX:
        try:
            value = complex(text.replace("_", "").replace("i", "j"))
        except ValueError:
            raise ValueError(f"illegal number syntax: {go_quote(text)}") from None
        return Number(text, complex_value=value)
    if text.endswith("i"):
        f = _parse_float(text[:-1])
        if f is not None:
            if f != 0:
                return Number(text, complex_value=complex(0, f))
            return Number(text, 0, 0.0, 0j)
    i = _go_int(text)
    if i is not None and i >= INT64_MIN and i < 2**64:
        return Number(text, i, float(i))
    f = _parse_float(text)
    if f is not None:
        if not any(c in text for c in ".eEpP"):
            raise ValueError(f"integer overflow: {go_quote(text)}")
        as_int = int(f) if math.isfinite(f) and f == int(f) else None
        return Number(text, as_int, f)
    raise ValueError(f"illegal number syntax: {go_quote(text)}")


# ---------------------------------------------------------------------------------- nodes


@dataclasses.dataclass(frozen=True)
class TextNode:
    pos: int
    text: str

    def __str__(self) -> str:
        return self.text


@dataclasses.dataclass(frozen=True)
class DotNode:
    pos: int

    def __str__(self) -> str:
        return "."


@dataclasses.dataclass(frozen=True)
class NilNode:
    pos: int

    def __str__(self) -> str:
        return "nil"


@dataclasses.dataclass(frozen=True)
class BoolNode:
    pos: int
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclasses.dataclass(frozen=True)
class NumberNode:
    pos: int
    number: Number

    def __str__(self) -> str:
        return self.number.text


@dataclasses.dataclass(frozen=True)
class StringNode:
    pos: int
    quoted: str
    text: str

    def __str__(self) -> str:
        return self.quoted


@dataclasses.dataclass(frozen=True)
class FieldNode:
    pos: int
    ident: tuple[str, ...]

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


@dataclasses.dataclass(frozen=True)
class VariableNode:
    pos: int
    ident: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclasses.dataclass(frozen=True)
class IdentifierNode:
    pos: int
    name: str

    def __str__(self) -> str:
        return self.name


@dataclasses.dataclass(frozen=True)
class ChainNode:
    pos: int
    node: Node
    fields: tuple[str, ...]

    def __str__(self) -> str:
        text = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return text + "".join("." + f for f in self.fields)


@dataclasses.dataclass(frozen=True)
class CommandNode:
    pos: int
    args: tuple[Node, ...]

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, PipeNode) else str(a) for a in self.args)


@dataclasses.dataclass(frozen=True)
class PipeNode:
    pos: int
    line: int
    is_assign: bool
    decl: tuple[VariableNode, ...]
    cmds: tuple[CommandNode, ...]

    def __str__(self) -> str:
        text = ""
        if self.decl:
            op = " = " if self.is_assign else " := "
            text = ", ".join(str(v) for v in self.decl) + op
        return text + " | ".join(str(c) for c in self.cmds)


@dataclasses.dataclass(frozen=True)
class ActionNode:
    pos: int
    line: int
    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclasses.dataclass(frozen=True)
class ListNode:
    pos: int
    nodes: tuple[Node, ...]

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


@dataclasses.dataclass(frozen=True)
class BranchNode:
    """if, range and with: Go's BranchNode."""

    keyword: str
    pos: int
    line: int
    pipe: PipeNode
    list: ListNode
    else_list: ListNode | None

    def __str__(self) -> str:
        text = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.list)
        if self.else_list is not None:
            text += "{{else}}" + str(self.else_list)
        return text + "{{end}}"


@dataclasses.dataclass(frozen=True)
class BreakNode:
    pos: int
    line: int
    keyword: str  # "break" or "continue"

    def __str__(self) -> str:
        return "{{" + self.keyword + "}}"


@dataclasses.dataclass(frozen=True)
class TemplateNode:
    pos: int
    line: int
    name: str
    pipe: PipeNode | None

    def __str__(self) -> str:
        if self.pipe is None:
            return "{{template " + go_quote(self.name) + "}}"
        return "{{template " + go_quote(self.name) + " " + str(self.pipe) + "}}"


@dataclasses.dataclass(frozen=True)
class _EndNode:
    pos: int

    def __str__(self) -> str:
        return "{{end}}"


@dataclasses.dataclass(frozen=True)
class _ElseNode:
    pos: int
    line: int

    def __str__(self) -> str:
        return "{{else}}"


Node = (
    TextNode
    | DotNode
    | NilNode
    | BoolNode
    | NumberNode
    | StringNode
    | FieldNode
    | VariableNode
    | IdentifierNode
    | ChainNode
    | CommandNode
    | PipeNode
    | ActionNode
    | ListNode
    | BranchNode
    | BreakNode
    | TemplateNode
    | _EndNode
    | _ElseNode
)


# --------------------------------------------------------------------------------- parser


class _Parser:
    """Go's recursive-descent parser (parse.Tree), over the lexer's token list."""

    def __init__(self, text: str, funcs: Iterable[str]) -> None:
        self.text = text
        self.tokens = lex(text)
        self.i = 0
        self.funcs = frozenset(funcs)
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.depth = 0
        self.action_line = 0
        self.last: Token = self.tokens[0]
        self.trees: dict[str, ListNode] = {}

    # -- tokens
    def next(self) -> Token:
        token = self.tokens[min(self.i, len(self.tokens) - 1)]
        self.i += 1
        self.last = token
        return token

    def backup(self, n: int = 1) -> None:
        self.i -= n

    def peek(self) -> Token:
        token = self.next()
        self.backup()
        return token

    def next_non_space(self) -> Token:
        token = self.next()
        while token.type is T.SPACE:
            token = self.next()
        return token

    def peek_non_space(self) -> Token:
        token = self.next_non_space()
        self.backup()
        return token

    # -- errors
    def errorf(self, message: str) -> NoReturn:
        raise TemplateError(f"template: :{self.last.line}: {message}")

    def expect(self, *types: T, context: str) -> Token:
        token = self.next_non_space()
        if token.type not in types:
            self.unexpected(token, context)
        return token

    def unexpected(self, token: Token, context: str) -> NoReturn:
        if token.type is T.ERROR:
            extra = ""
            if self.action_line and self.action_line != token.line:
                extra = f" in action started at :{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            self.errorf(token.val + extra)
        self.errorf(f"unexpected {token} in {context}")

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.errorf("max expression depth exceeded")

    # -- grammar
    def parse(self) -> dict[str, ListNode]:
        nodes: list[Node] = []
        start = self.peek().pos
        while self.peek().type is not T.EOF:
            if self.peek().type is T.LEFT_DELIM:
                mark = self.i
                self.next()
                if self.next_non_space().type is T.DEFINE:
                    self.parse_definition()
                    continue
                self.i = mark
            node = self.text_or_action()
            if isinstance(node, _EndNode | _ElseNode):
                self.errorf(f"unexpected {node}")
            nodes.append(node)
        self.add_tree("", ListNode(start, tuple(nodes)))
        return self.trees

    def add_tree(self, name: str, root: ListNode) -> None:
        old = self.trees.get(name)
        if old is None or _is_empty_tree(old):
            self.trees[name] = root
        elif not _is_empty_tree(root):
            self.errorf(f"template: multiple definition of template {go_quote(name)}")

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.expect(T.STRING, T.RAW_STRING, context=context)
        name = self.unquote(token)
        self.expect(T.RIGHT_DELIM, context=context)
        saved = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        root, end = self.item_list()
        if not isinstance(end, _EndNode):
            self.errorf(f"unexpected {end} in {context}")
        self.vars, self.range_depth = saved
        self.add_tree(name, root)

    def item_list(self) -> tuple[ListNode, _EndNode | _ElseNode]:
        self.deeper()
        nodes: list[Node] = []
        start = self.peek_non_space().pos
        while self.peek_non_space().type is not T.EOF:
            node = self.text_or_action()
            if isinstance(node, _EndNode | _ElseNode):
                self.depth -= 1
                return ListNode(start, tuple(nodes)), node
            nodes.append(node)
        self.errorf("unexpected EOF")

    def text_or_action(self) -> Node:
        token = self.next_non_space()
        if token.type is T.TEXT:
            return TextNode(token.pos, token.val)
        if token.type is T.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        self.unexpected(token, "input")

    def action(self) -> Node:
        token = self.next_non_space()
        if token.type is T.BLOCK:
            return self.block_control()
        if token.type in (T.BREAK, T.CONTINUE):
            return self.break_control(token)
        if token.type is T.ELSE:
            return self.else_control()
        if token.type is T.END:
            return _EndNode(self.expect(T.RIGHT_DELIM, context="end").pos)
        if token.type in (T.IF, T.RANGE, T.WITH):
            return self.branch_control(token.val)
        if token.type is T.TEMPLATE:
            return self.template_control()
        self.backup()
        token = self.peek()
        # Variables an action declares stay in scope until the enclosing {{end}}.
        return ActionNode(token.pos, token.line, self.pipeline("command", T.RIGHT_DELIM))

    def break_control(self, keyword: Token) -> BreakNode:
        token = self.next_non_space()
        if token.type is not T.RIGHT_DELIM:
            self.unexpected(token, "{{" + keyword.val + "}}")
        if self.range_depth == 0:
            self.errorf("{{" + keyword.val + "}} outside {{range}}")
        return BreakNode(keyword.pos, keyword.line, keyword.val)

    def else_control(self) -> _ElseNode:
        peek = self.peek_non_space()
        # "{{else if ...": the "if" is left for branch_control to read as a nested if.
        if peek.type in (T.IF, T.WITH):
            return _ElseNode(peek.pos, peek.line)
        token = self.expect(T.RIGHT_DELIM, context="else")
        return _ElseNode(token.pos, token.line)

    def branch_control(self, keyword: str) -> BranchNode:
        mark = len(self.vars)
        pipe = self.pipeline(keyword, T.RIGHT_DELIM)
        if keyword == "range":
            self.range_depth += 1
        body, end = self.item_list()
        if keyword == "range":
            self.range_depth -= 1
        else_list = None
        if isinstance(end, _ElseNode):
            chained = {"if": T.IF, "with": T.WITH}.get(keyword)
            if chained is not None and self.peek().type is chained:
                self.next()
                self.deeper()
                else_list = ListNode(end.pos, (self.branch_control(keyword),))
                self.depth -= 1
            else:
                else_list, end = self.item_list()
                if not isinstance(end, _EndNode):
                    self.errorf(f"expected end; found {end}")
        del self.vars[mark:]
        return BranchNode(keyword, pipe.pos, pipe.line, pipe, body, else_list)

    def template_control(self) -> TemplateNode:
        context = "template clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = None
        if self.next_non_space().type is not T.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, T.RIGHT_DELIM)
        return TemplateNode(token.pos, token.line, name, pipe)

    def block_control(self) -> TemplateNode:
        context = "block clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = self.pipeline(context, T.RIGHT_DELIM)
        saved = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        root, end = self.item_list()
        if not isinstance(end, _EndNode):
            self.errorf(f"unexpected {end} in {context}")
        self.vars, self.range_depth = saved
        self.add_tree(name, root)
        return TemplateNode(token.pos, token.line, name, pipe)

    def template_name(self, token: Token, context: str) -> str:
        if token.type not in (T.STRING, T.RAW_STRING):
            self.unexpected(token, context)
        return self.unquote(token)

    def unquote(self, token: Token) -> str:
        try:
            return go_unquote(token.val)
        except ValueError as exc:
            self.errorf(str(exc))

    def pipeline(self, context: str, end: T) -> PipeNode:
        start = self.peek_non_space()
        decl: list[VariableNode] = []
        is_assign = False
        while True:  # declarations: "$x :=", "$x =", "$i, $e :="
            v = self.peek_non_space()
            if v.type is not T.VARIABLE:
                break
            mark = self.i
            self.next_non_space()
            following = self.peek_non_space()
            if following.type in (T.ASSIGN, T.DECLARE):
                is_assign = following.type is T.ASSIGN
                self.next_non_space()
                decl.append(VariableNode(v.pos, (v.val,)))
                self.vars.append(v.val)
            elif following.type is T.CHAR and following.val == ",":
                self.next_non_space()
                decl.append(VariableNode(v.pos, (v.val,)))
                self.vars.append(v.val)
                if context == "range" and len(decl) < 2:
                    if self.peek_non_space().type in (T.VARIABLE, T.RIGHT_DELIM, T.RIGHT_PAREN):
                        continue
                    self.errorf("range can only initialize variables")
                self.errorf(f"too many declarations in {context}")
            else:
                self.i = mark  # "$x" is an operand, not a declaration
            break
        cmds: list[CommandNode] = []
        operands = (
            T.BOOL,
            T.CHAR_CONSTANT,
            T.COMPLEX,
            T.DOT,
            T.FIELD,
            T.IDENTIFIER,
            T.NUMBER,
            T.NIL,
            T.RAW_STRING,
            T.STRING,
            T.VARIABLE,
            T.LEFT_PAREN,
        )
        while True:
            token = self.next_non_space()
            if token.type is end:
                pipe = PipeNode(start.pos, start.line, is_assign, tuple(decl), tuple(cmds))
                self.check_pipeline(pipe, context)
                return pipe
            if token.type in operands:
                self.backup()
                cmds.append(self.command())
            else:
                self.unexpected(token, context)

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            self.errorf(f"missing value for {context}")
        for i, cmd in enumerate(pipe.cmds[1:]):
            if isinstance(cmd.args[0], BoolNode | DotNode | NilNode | NumberNode | StringNode):
                self.errorf(f"non executable command in pipeline stage {i + 2}")

    def command(self) -> CommandNode:
        start = self.peek_non_space().pos
        args: list[Node] = []
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            token = self.next()
            if token.type is T.SPACE:
                continue
            if token.type in (T.RIGHT_DELIM, T.RIGHT_PAREN):
                self.backup()
            elif token.type is not T.PIPE:
                self.unexpected(token, "operand")
            break
        if not args:
            self.errorf("empty command")
        return CommandNode(start, tuple(args))

    def operand(self) -> Node | None:
        node = self.term()
        if node is None or self.peek().type is not T.FIELD:
            return node
        pos = self.peek().pos
        fields: list[str] = []
        while self.peek().type is T.FIELD:
            fields.extend(self.next().val[1:].split("."))
        # Go gives the lengthened field or variable the position of the chain (where its
        # second part starts): errors point there, ":1:8" for {{.State.Foo}}.
        if isinstance(node, FieldNode):
            return FieldNode(pos, node.ident + tuple(fields))
        if isinstance(node, VariableNode):
            return VariableNode(pos, node.ident + tuple(fields))
        if isinstance(node, BoolNode | StringNode | NumberNode | NilNode | DotNode):
            self.errorf(f"unexpected . after term {go_quote(str(node))}")
        return ChainNode(pos, node, tuple(fields))

    def term(self) -> Node | None:
        token = self.next_non_space()
        typ = token.type
        if typ is T.IDENTIFIER:
            if token.val not in self.funcs:
                self.errorf(f"function {go_quote(token.val)} not defined")
            return IdentifierNode(token.pos, token.val)
        if typ is T.DOT:
            return DotNode(token.pos)
        if typ is T.NIL:
            return NilNode(token.pos)
        if typ is T.VARIABLE:
            if token.val not in self.vars:
                self.errorf(f"undefined variable {go_quote(token.val)}")
            return VariableNode(token.pos, (token.val,))
        if typ is T.FIELD:
            return FieldNode(token.pos, tuple(token.val[1:].split(".")))
        if typ is T.BOOL:
            return BoolNode(token.pos, token.val == "true")
        if typ in (T.CHAR_CONSTANT, T.COMPLEX, T.NUMBER):
            try:
                return NumberNode(token.pos, _parse_number(token.val, typ))
            except ValueError as exc:
                self.errorf(str(exc))
        if typ is T.LEFT_PAREN:
            self.deeper()
            pipe = self.pipeline("parenthesized pipeline", T.RIGHT_PAREN)
            self.depth -= 1
            return pipe
        if typ in (T.STRING, T.RAW_STRING):
            return StringNode(token.pos, token.val, self.unquote(token))
        self.backup()
        return None


def _is_empty_tree(node: Node) -> bool:
    if isinstance(node, ListNode):
        return all(_is_empty_tree(n) for n in node.nodes)
    if isinstance(node, TextNode):
        return node.text.strip(SPACE_CHARS + "\v\f") == ""
    return False


# ------------------------------------------------------------------------------ printing


def go_quote(s: str) -> str:
    """Go's strconv.Quote (and %q)."""
    out = ['"']
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _go_unicode(ch: str) -> str:
    """Go's %#U: U+0023 '#'."""
    if ch == "":
        return "U+FFFFFFFF"
    text = f"U+{ord(ch):04X}"
    return f"{text} '{ch}'" if ch.isprintable() else text


def _digits(f: float) -> tuple[str, int]:
    """The shortest decimal digits that read back as ``f`` (non-zero, finite) and the
    position of the decimal point relative to them, as Go's strconv computes."""
    sign_digits_exp = Decimal(repr(abs(f))).normalize().as_tuple()
    digits = "".join(map(str, sign_digits_exp.digits))
    exponent = sign_digits_exp.exponent
    assert isinstance(exponent, int)
    return digits, len(digits) + exponent


def _go_float_repr(f: float, exp_threshold: int = 21) -> str:
    """Go's shortest %v of a float64: 1e+06, 123456, 0.0001, 1e-05, +Inf."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    if f == 0:
        return sign + "0"
    digits, dp = _digits(f)
    exp = dp - 1
    if exp < -4 or exp >= exp_threshold:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def _go_float(f: float) -> str:
    # %v (and %g without precision) switches to an exponent from 1e+06 on: Go uses the
    # shortest precision, then 6 as the exponent threshold ("%e is used if the exponent is
    # ... >= precision; if precision was the shortest possible, use precision 6").
    return _go_float_repr(f, exp_threshold=6) if math.isfinite(f) else _go_float_repr(f)


def go_type(v: Any) -> str:
    """The Go type a value stands for, as errors and %T name it."""
    if v is None or v is MISSING:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, complex):
        return "complex128"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list | tuple):
        return "[]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    return "*" + type(v).__name__


def _sort_key(k: Any) -> tuple[int, Any]:
    if isinstance(k, bool):
        return (0, k)
    if isinstance(k, int | float):
        return (1, k)
    if isinstance(k, str):
        return (2, k)
    return (3, str(k))


def _sorted_items(d: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    """Map entries in Go's order (fmtsort): numbers numerically, strings bytewise."""
    return sorted(d.items(), key=lambda kv: _sort_key(kv[0]))


def _public_fields(v: Any) -> list[tuple[str, Any]]:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return [
            (f.name, getattr(v, f.name))
            for f in dataclasses.fields(v)
            if not f.name.startswith("_")
        ]
    return [(k, val) for k, val in vars(v).items() if not k.startswith("_")]


def go_sprint_value(v: Any) -> str:
    """Go's fmt %v of one value."""
    if v is MISSING:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_float(v)
    if isinstance(v, complex):
        imag = _go_float(v.imag)
        return f"({_go_float(v.real)}{'' if imag[0] in '+-' else '+'}{imag}i)"
    if isinstance(v, str):
        return v
    if isinstance(v, list | tuple):
        return "[" + " ".join(go_sprint_value(x) for x in v) + "]"
    if isinstance(v, dict):
        inner = " ".join(f"{go_sprint_value(k)}:{go_sprint_value(x)}" for k, x in _sorted_items(v))
        return "map[" + inner + "]"
    if any("__str__" in vars(c) for c in type(v).__mro__[:-1]):  # Go's Stringer
        return str(v)
    if hasattr(v, "__dict__") or dataclasses.is_dataclass(v):
        return "&{" + " ".join(go_sprint_value(x) for _, x in _public_fields(v)) + "}"
    return repr(v)


def go_sprint(args: Sequence[Any]) -> str:
    """fmt.Sprint: spaces between operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_sprint_value(arg))
    return "".join(out)


def go_sprintln(args: Sequence[Any]) -> str:
    return " ".join(go_sprint_value(a) for a in args) + "\n"


# --------------------------------------------------------------------------------- printf

_PRINTF = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?(.?)", re.DOTALL)


def _pad(text: str, width: int | None, flags: str, numeric: bool = False) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text.ljust(width)
    if "0" in flags and numeric and text[-1:].isalnum():
        sign = text[0] if text[:1] in "+- " else ""
        return sign + text[len(sign) :].rjust(width - len(sign), "0")
    return text.rjust(width)


def _bad_verb(verb: str, arg: Any) -> str:
    if arg is None or arg is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(arg)}={go_sprint_value(arg)})"


def _sign(negative: bool, flags: str) -> str:
    if negative:
        return "-"
    return "+" if "+" in flags else (" " if " " in flags else "")


def _format_int(n: int, verb: str, flags: str, prec: int | None) -> str | None:
    bases = {"d": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}
    if verb in bases:
        body = {10: "d", 2: "b", 8: "o", 16: "x"}[bases[verb]]
        digits = format(abs(n), body)
        if verb == "X":
            digits = digits.upper()
        if prec is not None:
            digits = digits.rjust(prec, "0") if not (prec == 0 and n == 0) else ""
        prefix = ""
        if verb == "O" or ("#" in flags and verb == "o" and not digits.startswith("0")):
            prefix = "0o" if verb == "O" else "0"
        elif "#" in flags and verb in "xX":
            prefix = "0x" if verb == "x" else "0X"
        elif "#" in flags and verb == "b":
            prefix = "0b"
        return _sign(n < 0, flags) + prefix + digits
    if verb == "c":
        return chr(n) if 0 <= n <= 0x10FFFF else "\ufffd"
    if verb == "q":
        return "'" + go_quote(chr(n) if 0 <= n <= 0x10FFFF else "\ufffd")[1:-1] + "'"
    if verb == "U":
        return f"U+{n:04X}"
    if verb == "v":
        return _sign(n < 0, flags) + str(abs(n))
    return None


def _format_float(f: float, verb: str, flags: str, prec: int | None) -> str | None:
    if verb not in "eEfFgGv":
        return None
    if not math.isfinite(f):
        return "NaN" if math.isnan(f) else ("+Inf" if f > 0 else "-Inf")
    if verb == "v" or (verb in "gG" and prec is None):
        text = _go_float(abs(f))
        text = text.upper() if verb == "G" else text
    else:
        spec = "f" if verb == "F" else verb
        text = format(abs(f), f"{'#' if '#' in flags else ''}.{6 if prec is None else prec}{spec}")
    return _sign(math.copysign(1.0, f) < 0, flags) + text


def _format_one(arg: Any, verb: str, flags: str, width: int | None, prec: int | None) -> str:
    if verb == "T":
        return _pad(go_type(arg), width, flags)
    if verb == "v" and "#" in flags and isinstance(arg, str):
        return _pad(go_quote(arg), width, flags)
    if isinstance(arg, complex) and verb in "eEfFgGv":
        real = _format_float(arg.real, verb, flags, prec) or ""
        imag = _format_float(arg.imag, verb, flags + "+", prec) or ""
        return _pad(f"({real}{imag}i)", width, flags)
    if isinstance(arg, list | tuple) and verb != "v":
        return "[" + " ".join(_format_one(x, verb, flags, width, prec) for x in arg) + "]"
    if arg is None or arg is MISSING:
        return _pad("<nil>", width, flags) if verb == "v" else _bad_verb(verb, arg)
    text: str | None
    if isinstance(arg, bool):
        text = ("true" if arg else "false") if verb in "tv" else None
    elif isinstance(arg, int):
        text = _format_int(arg, verb, flags, prec)
        return _pad(text, width, flags, numeric=True) if text is not None else _bad_verb(verb, arg)
    elif isinstance(arg, float):
        text = _format_float(arg, verb, flags, prec)
        return _pad(text, width, flags, numeric=True) if text is not None else _bad_verb(verb, arg)
    elif isinstance(arg, str):
        body = arg[:prec] if prec is not None else arg
        if verb in "sv":
            text = body
        elif verb == "q":
            text = go_quote(body)
        elif verb in "xX":
            sep = " " if " " in flags else ""
            text = sep.join(format(b, "02x" if verb == "x" else "02X") for b in body.encode())
        else:
            text = None
    else:
        text = go_sprint_value(arg) if verb in "sv" else None
    return _pad(text, width, flags) if text is not None else _bad_verb(verb, arg)


def go_sprintf(fmt: str, args: Sequence[Any]) -> str:
    """fmt.Sprintf for the verbs templates use, with Go's %!verb(type=value) complaints."""
    out: list[str] = []
    argi = 0
    i = 0
    while i < len(fmt):
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        m = _PRINTF.match(fmt, j)
        assert m is not None  # the pattern matches any "%..."
        flags, width_s, prec_s, verb = m.groups()
        i = m.end()
        width = prec = None
        for which, spec in (("width", width_s), ("prec", prec_s)):
            if spec == "*":
                value = args[argi] if argi < len(args) else None
                argi += 1
                if not isinstance(value, int) or isinstance(value, bool):
                    out.append("%!(BADWIDTH)" if which == "width" else "%!(BADPREC)")
                    continue
                if which == "width":
                    width = value
                else:
                    prec = value
            elif spec is not None:
                if which == "width":
                    width = int(spec)
                else:
                    prec = int(spec or "0")
        if verb == "":
            out.append("%!(NOVERB)")
        elif verb == "%":
            out.append("%")
        elif argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            out.append(_format_one(args[argi], verb, flags, width, prec))
            argi += 1
    if argi < len(args):
        extra = ", ".join(
            "<nil>" if a is None or a is MISSING else f"{go_type(a)}={go_sprint_value(a)}"
            for a in args[argi:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


# ------------------------------------------------------------------------------------ json


def _json_string(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif ord(ch) < 0x20 or ch in "\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_float(f: float) -> str:
    if not math.isfinite(f):
        raise ValueError(f"json: unsupported value: {_go_float_repr(f)}")
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    # encoding/json: plain decimals between 1e-6 and 1e21, an exponent outside, "e-7" not "e-07".
    if 1e-6 <= abs(f) < 1e21:
        digits, dp = _digits(f)
        sign = "-" if f < 0 else ""
        if dp <= 0:
            return f"{sign}0.{'0' * -dp}{digits}"
        if dp >= len(digits):
            return sign + digits + "0" * (dp - len(digits))
        return f"{sign}{digits[:dp]}.{digits[dp:]}"
    return re.sub(r"e-0(\d)$", r"e-\1", _go_float_repr(f, exp_threshold=0))


class RawJSON(str):
    """JSON text a ``marshal_json()`` returns to be used as it is: a Go struct's fields in
    their declared order, where a dict's keys would be sorted."""


def go_json(v: Any) -> str:
    """encoding/json as docker's ``json`` function encodes (no HTML escaping, map keys sorted);
    objects encode what their ``marshal_json()`` returns, as Go calls MarshalJSON."""
    if v is None or v is MISSING:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _json_float(v)
    if isinstance(v, str):
        return _json_string(v)
    if isinstance(v, list | tuple):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    if isinstance(v, dict):
        items = sorted((str(k), x) for k, x in v.items())
        return "{" + ",".join(f"{_json_string(k)}:{go_json(x)}" for k, x in items) + "}"
    marshal = getattr(v, "marshal_json", None)
    if callable(marshal):
        out = marshal()
        return str(out) if isinstance(out, RawJSON) else go_json(out)
    if isinstance(v, complex):
        raise ValueError("json: unsupported type: complex128")
    fields = _public_fields(v) if hasattr(v, "__dict__") or dataclasses.is_dataclass(v) else []
    return "{" + ",".join(f"{_json_string(k)}:{go_json(x)}" for k, x in fields) + "}"


# ------------------------------------------------------------------------------- functions


class FuncError(Exception):
    """A template function's failure: Go reports it as "error calling NAME: ..."."""


@dataclasses.dataclass(frozen=True)
class Func:
    """A template function and its Go signature: the kind of each parameter ("string",
    "int", "any" for interface{}, "value" for reflect.Value, which also sees a missing
    value) and, when ``variadic``, the kind of the ``...`` parameter after them."""

    impl: Callable[..., Any]
    params: tuple[str, ...]
    variadic: str | None = None


def _truth(v: Any) -> bool:
    return _is_true(v)[0]


def _is_true(v: Any) -> tuple[bool, bool]:
    """Go's isTrue: the zero value of its type is false; the second result says whether the
    value has a truth value at all."""
    if v is None or v is MISSING:
        return False, True
    if isinstance(v, bool):
        return v, True
    if isinstance(v, int | float | complex):
        return v != 0, True
    if isinstance(v, str | list | tuple | dict):
        return len(v) > 0, True
    return True, True


def _basic_kind(v: Any) -> str | None:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, complex):
        return "complex"
    if isinstance(v, str):
        return "string"
    return None


def _is_nil(v: Any) -> bool:
    return v is None or v is MISSING


def _eq(arg1: Any, *others: Any) -> bool:
    if not others:
        raise FuncError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in others:
        k2 = _basic_kind(arg)
        if k1 != k2:
            if not _is_nil(arg1) and not _is_nil(arg):
                raise FuncError(
                    f"incompatible types for comparison: {go_type(arg1)} and {go_type(arg)}"
                )
            truth = False
        elif k1 is not None:
            truth = arg1 == arg
        elif _is_nil(arg1) or _is_nil(arg):
            truth = _is_nil(arg1) == _is_nil(arg)
        elif isinstance(arg, list | dict) or isinstance(arg1, list | dict):
            if type(arg1) is not type(arg):
                raise FuncError(
                    f"non-comparable types {go_sprint_value(arg1)}: {go_type(arg1)}, "
                    f"{go_type(arg)}: {go_sprint_value(arg)}"
                )
            raise FuncError(f"non-comparable type {go_sprint_value(arg)}: {go_type(arg)}")
        else:
            truth = arg1 is arg or arg1 == arg
        if truth:
            return True
    return False


def _ne(a: Any, b: Any) -> bool:
    return not _eq(a, b)


def _lt(a: Any, b: Any) -> bool:
    k1, k2 = _basic_kind(a), _basic_kind(b)
    if k1 is None or k2 is None:
        raise FuncError("invalid type for comparison")
    if k1 != k2:
        raise FuncError(f"incompatible types for comparison: {go_type(a)} and {go_type(b)}")
    if k1 in ("bool", "complex"):
        raise FuncError("invalid type for comparison")
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    return _lt(a, b) or _eq(a, b)


def _gt(a: Any, b: Any) -> bool:
    return not _le(a, b)


def _ge(a: Any, b: Any) -> bool:
    return not _lt(a, b)


def _not(a: Any) -> bool:
    return not _truth(a)


def _index_arg(index: Any, cap: int) -> int:
    if _is_nil(index):
        raise FuncError("cannot index slice/array with nil")
    if not isinstance(index, int) or isinstance(index, bool):
        raise FuncError(f"cannot index slice/array with type {go_type(index)}")
    if index < 0 or index > cap:
        raise FuncError(f"index out of range: {index}")
    return index


def _map_zero(d: Mapping[Any, Any]) -> Any:
    """index's result for a missing key: the zero value of the map's element type. JSON
    forgets Go's types, so the values present stand for it; an empty map counts as a
    map[string]string, what labels and options are in the engine's types."""
    kinds = {type(x) for x in d.values()}
    if len(kinds) > 1:
        return MISSING  # map[string]interface{}: a nil interface
    kind = kinds.pop() if kinds else str
    return kind() if kind in (str, int, float, bool) else MISSING


def _index(item: Any, *indexes: Any) -> Any:
    if _is_nil(item):
        raise FuncError("index of untyped nil")
    for index in indexes:
        if _is_nil(item):
            raise FuncError("index of nil pointer")
        if isinstance(item, str | list | tuple):
            seq: Any = item.encode() if isinstance(item, str) else item
            x = _index_arg(index, len(seq))
            if x == len(seq):
                raise FuncError("reflect: slice index out of range")
            item = seq[x]
        elif isinstance(item, dict):
            if not isinstance(index, str):
                raise FuncError(f"value has type {go_type(index)}; should be string")
            if index in item:
                item = MISSING if item[index] is None else item[index]
            else:
                item = _map_zero(item)
        else:
            raise FuncError(f"can't index item of type {go_type(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if _is_nil(item):
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        seq: Any = item.encode()
    elif isinstance(item, list | tuple):
        seq = item
    else:
        raise FuncError(f"can't slice item of type {go_type(item)}")
    idx = [0, len(seq), len(seq)]
    for i, index in enumerate(indexes):
        idx[i] = _index_arg(index, len(seq))
    if idx[0] > idx[1]:
        raise FuncError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise FuncError(f"invalid slice index: {idx[1]} > {idx[2]}")
    part = seq[idx[0] : idx[1]]
    return part.decode("utf-8", "replace") if isinstance(part, bytes) else part


def _len(item: Any) -> int:
    if item is None:
        raise FuncError("len of nil pointer")
    if item is MISSING:
        raise FuncError("len of untyped nil")
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, list | tuple | dict):
        return len(item)
    raise FuncError(f"len of type {go_type(item)}")


def _eval_args(args: Sequence[Any]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return go_sprint(args)


def _html(*args: Any) -> str:
    s = _eval_args(args)
    table = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}
    return "".join(table.get(ch, ch) for ch in s)


def _js(*args: Any) -> str:
    out = []
    for ch in _eval_args(args):
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=" or ord(ch) < 0x20 or (ord(ch) >= 0x80 and not ch.isprintable()):
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(_eval_args(args), safe="-_.~")


def _go_title(s: str) -> str:
    """strings.Title: the first letter of every word upper (title) case."""

    def separator(ch: str) -> bool:
        if ord(ch) <= 0x7F:
            return not (ch.isalnum() or ch == "_")
        if ch.isalpha() or unicodedata.category(ch) == "Nd":
            return False
        return ch.isspace()

    out, prev = [], " "
    for ch in s:
        out.append(ch.title() if separator(prev) else ch)
        prev = ch
    return "".join(out)


def _split(s: str, sep: str) -> list[str]:
    return list(s) if sep == "" else s.split(sep)


def _join(elems: Any, sep: str) -> str:
    if elems is None:
        return ""
    if isinstance(elems, list | tuple):
        return sep.join(e if isinstance(e, str) else go_sprint_value(e) for e in elems)
    if isinstance(elems, dict):
        return sep.join(sorted(go_sprint_value(x) for x in elems.values()))
    raise FuncError(f"expected slice, got {go_type(elems)}")


def _pad_with_space(source: str, prefix: int, suffix: int) -> str:
    return source if source == "" else " " * prefix + source + " " * suffix


def _truncate(source: str, length: int) -> str:
    # Go slices bytes; a cut through a multi-byte character drops its remains.
    raw = source.encode()
    return source if len(raw) < length else raw[: max(length, 0)].decode("utf-8", "ignore")


def _json(v: Any) -> str:
    try:
        return go_json(v)
    except ValueError as exc:
        raise FuncError(str(exc)) from None


def _call(fn: Any, *args: Any) -> Any:
    if _is_nil(fn):
        raise FuncError("call of nil")
    if not callable(fn):
        raise FuncError(f"non-function of type {go_type(fn)}")
    return fn(*args)


def _identity(v: Any, *_: Any) -> Any:
    return v


# Go's builtins (funcs.go) and docker's basicFunctions (templates/templates.go).
FUNCS: Mapping[str, Func] = {
    "and": Func(_identity, ("value",), "value"),  # evaluated lazily: see _Exec.call
    "or": Func(_identity, ("value",), "value"),
    "not": Func(_not, ("value",)),
    "call": Func(_call, ("value",), "value"),
    # Go's escapers print a missing value as <no value>, so they see it as it is.
    "html": Func(_html, (), "value"),
    "js": Func(_js, (), "value"),
    "urlquery": Func(_urlquery, (), "value"),
    "index": Func(_index, ("value",), "value"),
    "slice": Func(_slice, ("value",), "value"),
    "len": Func(_len, ("value",)),
    "print": Func(lambda *a: go_sprint(a), (), "any"),
    "printf": Func(lambda f, *a: go_sprintf(f, a), ("string",), "any"),
    "println": Func(lambda *a: go_sprintln(a), (), "any"),
    "eq": Func(_eq, ("value",), "value"),
    "ne": Func(_ne, ("value", "value")),
    "lt": Func(_lt, ("value", "value")),
    "le": Func(_le, ("value", "value")),
    "gt": Func(_gt, ("value", "value")),
    "ge": Func(_ge, ("value", "value")),
    "json": Func(_json, ("any",)),
    "split": Func(_split, ("string", "string")),
    "join": Func(_join, ("any", "string")),
    "title": Func(_go_title, ("string",)),
    "lower": Func(str.lower, ("string",)),
    "upper": Func(str.upper, ("string",)),
    "pad": Func(_pad_with_space, ("string", "int", "int")),
    "truncate": Func(_truncate, ("string", "int")),
}

# docker's HeaderFunctions: a table's header row runs the same template over the column
# names, with these leaving a name as it is (pad is kept, so headers align with the cells).
HEADER_FUNCS: Mapping[str, Func] = {
    "json": Func(_identity, ("string",)),
    "split": Func(_identity, ("string", "string")),
    "join": Func(_identity, ("string", "string")),
    "title": Func(_identity, ("string",)),
    "lower": Func(_identity, ("string",)),
    "upper": Func(_identity, ("string",)),
    "truncate": Func(_identity, ("string", "int")),
}


# ------------------------------------------------------------------------------- evaluator


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Exec:
    """One execution of a template (Go's exec.go state)."""

    def __init__(
        self,
        template: Template,
        funcs: Mapping[str, Func],
        missing_key_error: bool,
        out: list[str],
    ) -> None:
        self.template = template
        self.funcs = funcs
        self.missing_key_error = missing_key_error
        self.out = out
        self.name = ""
        self.node: Node | None = None
        self.vars: list[list[Any]] = []
        self.depth = 0

    # -- errors
    def errorf(self, message: str) -> NoReturn:
        if self.node is None:
            raise TemplateError(f"template: {self.name}: {message}")
        pos = self.node.pos
        before = self.template.text[:pos]
        column = len(before[before.rfind("\n") + 1 :].encode())  # Go counts bytes
        location = f":{before.count(chr(10)) + 1}:{column}"
        raise TemplateError(
            f"template: {location}: executing {go_quote(self.name)} at <{self.node}>: {message}"
        )

    # -- variables
    def var_value(self, name: str) -> Any:
        for var in reversed(self.vars):
            if var[0] == name:
                return var[1]
        self.errorf(f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for var in reversed(self.vars):
            if var[0] == name:
                var[1] = value
                return
        self.errorf(f"undefined variable: {name}")

    # -- walking
    def walk(self, dot: Any, node: Node) -> None:
        self.node = node
        if isinstance(node, ActionNode):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.node = node
                self.out.append(go_sprint_value(value))
        elif isinstance(node, TextNode):
            self.out.append(node.text)
        elif isinstance(node, ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, BranchNode):
            if node.keyword == "range":
                self.walk_range(dot, node)
            else:
                self.walk_if_or_with(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break if node.keyword == "break" else _Continue
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        else:
            self.errorf(f"unknown node: {node}")

    def walk_if_or_with(self, dot: Any, node: BranchNode) -> None:
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            truth, _ = _is_true(value)
            if truth:
                self.walk(value if node.keyword == "with" else dot, node.list)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Any, node: BranchNode) -> None:
        self.node = node
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            body_mark = len(self.vars)
            decl = node.pipe.decl

            def iteration(index: Any, elem: Any) -> None:
                if decl:
                    if node.pipe.is_assign:
                        self.set_var(decl[0].ident[0], index if len(decl) > 1 else elem)
                    else:
                        self.vars[-1][1] = elem
                if len(decl) > 1:
                    if node.pipe.is_assign:
                        self.set_var(decl[1].ident[0], elem)
                    else:
                        self.vars[-2][1] = index
                try:
                    self.walk(elem, node.list)
                except _Continue:
                    pass
                finally:
                    del self.vars[body_mark:]

            items: Iterable[tuple[Any, Any]]
            if value is None or value is MISSING:
                items = ()
            elif isinstance(value, list | tuple):
                items = ((i, MISSING if e is None else e) for i, e in enumerate(value))
            elif isinstance(value, dict):
                # A JSON null is a nil interface{} in Go: printed <no value>, like a missing key.
                items = ((k, MISSING if e is None else e) for k, e in _sorted_items(value))
            elif isinstance(value, int) and not isinstance(value, bool):
                if len(decl) > 1:
                    self.errorf(f"can't use {value} to iterate over more than one variable")
                items = ((MISSING, i) for i in range(value))
            else:
                self.errorf(f"range can't iterate over {go_sprint_value(value)}")
            ran = False
            try:
                for index, elem in items:
                    ran = True
                    iteration(index, elem)
            except _Break:
                return
            if not ran and node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            del self.vars[mark:]

    def walk_template(self, dot: Any, node: TemplateNode) -> None:
        self.node = node
        tree = self.template.trees.get(node.name)
        if tree is None:
            self.errorf(f"template {go_quote(node.name)} not defined")
        if self.depth >= MAX_DEPTH:
            self.errorf(f"exceeded maximum template depth ({MAX_DEPTH})")
        value = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else MISSING
        saved = self.vars, self.name
        # No dynamic scoping: the invoked template sees only "$", its dot.
        self.vars, self.name = [["$", value]], node.name
        self.depth += 1
        try:
            self.walk(value, tree)
        finally:
            self.depth -= 1
            self.vars, self.name = saved

    # -- evaluation
    def eval_pipeline(self, dot: Any, pipe: PipeNode) -> Any:
        self.node = pipe
        value = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.ident[0], value)
            else:
                self.vars.append([var.ident[0], value])
        return value

    def not_a_function(self, args: Sequence[Node], final: Any) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            self.errorf(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            self.node = first
            return self.eval_field_chain(dot, dot, first, first.ident, cmd.args, final)
        if isinstance(first, ChainNode):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            self.errorf("nil is not a command")
        if isinstance(first, NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, StringNode):
            return first.text
        self.errorf(f"can't evaluate command {go_quote(str(first))}")

    def ideal_constant(self, node: NumberNode) -> Any:
        self.node = node
        n = node.number
        text = n.text
        if n.complex_value is not None:
            return n.complex_value
        hex_int = (
            len(text) > 2
            and text[0] == "0"
            and text[1] in "xX"
            and not any(c in text for c in "pP")
        )
        if (
            n.float_value is not None
            and not hex_int
            and text[0] != "'"
            and any(c in text for c in ".eEpP")
        ):
            return n.float_value
        if n.int_value is not None:
            if not INT64_MIN <= n.int_value <= INT64_MAX:
                self.errorf(f"{text} overflows int")
            return n.int_value
        return n.float_value

    def eval_chain(
        self, dot: Any, chain: ChainNode, args: Sequence[Node] | None, final: Any
    ) -> Any:
        self.node = chain
        if isinstance(chain.node, NilNode):
            self.errorf(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, "value", chain.node)
        self.node = chain
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_variable(
        self, dot: Any, var: VariableNode, args: Sequence[Node] | None, final: Any
    ) -> Any:
        self.node = var
        value = self.var_value(var.ident[0])
        if len(var.ident) == 1:
            self.not_a_function(args or (var,), final)
            return value
        return self.eval_field_chain(dot, value, var, var.ident[1:], args, final)

    def eval_field_chain(
        self,
        dot: Any,
        receiver: Any,
        node: Node,
        ident: Sequence[str],
        args: Sequence[Node] | None,
        final: Any,
    ) -> Any:
        for name in ident[:-1]:
            receiver = self.eval_field(dot, name, node, None, _NO_FINAL, receiver)
        return self.eval_field(dot, ident[-1], node, args, final, receiver)

    def eval_field(
        self,
        dot: Any,
        name: str,
        node: Node,
        args: Sequence[Node] | None,
        final: Any,
        receiver: Any,
    ) -> Any:
        if receiver is MISSING:
            if self.missing_key_error:
                self.errorf(f"nil data; no entry for key {go_quote(name)}")
            return MISSING
        if receiver is None:
            self.errorf(f"nil pointer evaluating interface {{}}.{name}")
        has_args = (args is not None and len(args) > 1) or final is not _NO_FINAL
        if isinstance(receiver, dict):
            if has_args:
                self.errorf(f"{name} is not a method but has arguments")
            if name in receiver:
                return MISSING if receiver[name] is None else receiver[name]
            if self.missing_key_error:
                self.errorf(f"map has no entry for key {go_quote(name)}")
            return MISSING
        if _basic_kind(receiver) is not None or isinstance(receiver, list | tuple):
            self.errorf(f"can't evaluate field {name} in type {go_type(receiver)}")
        if name.startswith("_") or (
            not hasattr(type(receiver), name)
            and not (hasattr(receiver, "__dict__") and name in vars(receiver))
        ):
            self.errorf(f"can't evaluate field {name} in type {go_type(receiver)}")
        try:
            attr = getattr(receiver, name)
        except Exception as exc:  # noqa: BLE001 - a property that fails is a method that fails
            self.errorf(f"error calling {name}: {exc}")
        if inspect.ismethod(attr):
            return self.call(dot, _method_func(attr), node, name, args, final)
        if has_args:
            self.errorf(f"{name} has arguments but cannot be invoked as function")
        return attr

    def eval_function(
        self,
        dot: Any,
        node: IdentifierNode,
        cmd: Node,
        args: Sequence[Node] | None,
        final: Any,
    ) -> Any:
        self.node = node
        fn = self.funcs.get(node.name) or FUNCS.get(node.name)
        if fn is None:
            self.errorf(f"{go_quote(node.name)} is not a defined function")
        return self.call(dot, fn, cmd, node.name, args, final)

    def call(
        self,
        dot: Any,
        fn: Func,
        node: Node,
        name: str,
        args: Sequence[Node] | None,
        final: Any,
    ) -> Any:
        arg_nodes = list(args[1:]) if args else []
        num_in = len(arg_nodes) + (0 if final is _NO_FINAL else 1)
        fixed = len(fn.params)
        if fn.variadic is not None:
            if num_in < fixed:
                self.errorf(
                    f"wrong number of args for {name}: want at least {fixed} got {len(arg_nodes)}"
                )
        elif num_in != fixed:
            self.errorf(f"wrong number of args for {name}: want {fixed} got {num_in}")
        kinds = [*fn.params, *[fn.variadic or "any"] * max(0, num_in - fixed)]
        if name in ("and", "or") and fn is FUNCS[name]:
            # and/or stop at the first argument that decides, as Go's do.
            value: Any = MISSING
            for arg in arg_nodes:
                value = self.eval_arg(dot, "value", arg)
                if _truth(value) == (name == "or"):
                    return value
            if final is not _NO_FINAL:
                value = final
            return value
        argv = [self.eval_arg(dot, kinds[i], a) for i, a in enumerate(arg_nodes)]
        if final is not _NO_FINAL:
            argv.append(self.validate(final, kinds[num_in - 1]))
        try:
            result = fn.impl(*argv)
        except (FuncError, ArithmeticError, ValueError, TypeError, LookupError) as exc:
            self.node = node
            self.errorf(f"error calling {name}: {exc}")
        return result

    def validate(self, value: Any, kind: str) -> Any:
        if value is MISSING or value is None:
            if kind in ("any", "value"):
                return value if kind == "value" else None
            self.errorf(f"invalid value; expected {kind}")
        if kind == "string" and not isinstance(value, str):
            self.errorf(f"wrong type for value; expected string; got {go_type(value)}")
        if kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            self.errorf(f"wrong type for value; expected int; got {go_type(value)}")
        return value

    def eval_arg(self, dot: Any, kind: str, node: Node) -> Any:
        self.node = node
        if isinstance(node, DotNode):
            return self.validate(dot, kind)
        if isinstance(node, NilNode):
            if kind in ("any", "value"):
                return None
            self.errorf(f"cannot assign nil to {kind}")
        if isinstance(node, FieldNode):
            value = self.eval_field_chain(dot, dot, node, node.ident, (node,), _NO_FINAL)
            return self.validate(value, kind)
        if isinstance(node, VariableNode):
            return self.validate(self.eval_variable(dot, node, None, _NO_FINAL), kind)
        if isinstance(node, PipeNode):
            return self.validate(self.eval_pipeline(dot, node), kind)
        if isinstance(node, IdentifierNode):
            return self.validate(self.eval_function(dot, node, node, None, _NO_FINAL), kind)
        if isinstance(node, ChainNode):
            return self.validate(self.eval_chain(dot, node, None, _NO_FINAL), kind)
        if kind == "string":
            if isinstance(node, StringNode):
                return node.text
            self.errorf(f"expected string; found {node}")
        if kind == "int":
            if isinstance(node, NumberNode) and node.number.int_value is not None:
                return node.number.int_value
            self.errorf(f"expected integer; found {node}")
        if isinstance(node, BoolNode):
            return node.value
        if isinstance(node, NumberNode):
            return self.ideal_constant(node)
        if isinstance(node, StringNode):
            return node.text
        self.errorf(f"can't handle assignment of {node} to empty interface argument")


def _method_func(method: Callable[..., Any]) -> Func:
    """A bound method as a template function: Go calls a method named by a field."""
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return Func(method, (), "any")
    fixed = tuple("any" for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    variadic = "any" if any(p.kind is p.VAR_POSITIONAL for p in params) else None
    return Func(method, fixed, variadic)


# --------------------------------------------------------------------------------- template


@dataclasses.dataclass(frozen=True)
class Template:
    """A parsed template: its text and its trees ("" is the main one; {{define}} and
    {{block}} add named ones)."""

    text: str
    trees: Mapping[str, ListNode]

    @property
    def root(self) -> ListNode:
        return self.trees[""]

    def execute(
        self,
        data: Any,
        *,
        funcs: Mapping[str, Func] | None = None,
        missing_key_error: bool = False,
    ) -> str:
        out, error = self.execute_partial(data, funcs=funcs, missing_key_error=missing_key_error)
        if error is not None:
            raise error
        return out

    def execute_partial(
        self,
        data: Any,
        *,
        funcs: Mapping[str, Func] | None = None,
        missing_key_error: bool = False,
    ) -> tuple[str, TemplateError | None]:
        """The output and the error, if any: like Go writing to its writer as it goes, the
        text before an error is kept."""
        out: list[str] = []
        state = _Exec(self, funcs or {}, missing_key_error, out)
        state.vars = [["$", data]]
        try:
            state.walk(data, self.root)
        except TemplateError as exc:
            return "".join(out), exc
        except RecursionError:
            return "".join(out), TemplateError("template: : nesting too deep to execute")
        return "".join(out), None


def parse(text: str, funcs: Iterable[str] = FUNCS) -> Template:
    """Parse ``text``; a TemplateError carries Go's message ("template: :1: ...")."""
    return Template(text, _Parser(text, funcs).parse())


# ---------------------------------------------------------------- docker's --format handling


TABLE_PREFIX = "table"
JSON_FORMAT = "{{json .}}"


def is_table(fmt: str) -> bool:
    return fmt.startswith(TABLE_PREFIX)


def template_string(fmt: str) -> str:
    """docker's Format.templateString: "json" is {{json .}}, the "table" prefix goes, spaces
    around are trimmed, and the two characters \\t and \\n become a tab and a newline."""
    if fmt == TABLE_PREFIX:
        return ""
    if fmt == "json":
        return JSON_FORMAT
    if fmt.startswith(TABLE_PREFIX):
        fmt = fmt[len(TABLE_PREFIX) :]
    return fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")


def _docker_error(exc: TemplateError) -> TemplateError:
    return TemplateError(f"template parsing error: {exc.message}")


def _parse_docker(text: str) -> Template:
    try:
        return parse(text)
    except TemplateError as exc:
        raise _docker_error(exc) from None


def parse_format(fmt: str) -> Template:
    """A listing's --format parsed as docker parses it, errors worded as docker prints them."""
    return _parse_docker(template_string(fmt))


def format_list(fmt: str, rows: Iterable[Any], header: Mapping[str, str]) -> str:
    """An ls/ps listing, as docker's formatter.Context writes it: each row through the
    template and a newline; with "table", a header row first (the same template over the
    column names, with HEADER_FUNCS) and the whole aligned by the tabwriter."""
    template = parse_format(fmt)
    lines: list[str] = []
    for row in rows:
        try:
            lines.append(template.execute(row) + "\n")
        except TemplateError as exc:
            raise _docker_error(exc) from None
    if not is_table(fmt):
        return "".join(lines)
    # An error in the header leaves what was written before it, as in docker.
    head, _ = template.execute_partial(dict(header), funcs=HEADER_FUNCS)
    return tabwrite(head + "\n" + "".join(lines))


def format_each(fmt: str, items: Iterable[Any], *, missing_key_error: bool = True) -> str:
    """inspect --format: the template over each object, one per line. Docker runs it over
    the raw JSON with missingkey=error when its typed struct lacks a field, so a misspelt
    key is an error rather than <no value>."""
    template = _parse_docker(fmt)  # as it is: inspect has no "table" and no \t expansion
    out: list[str] = []
    for item in items:
        try:
            out.append(template.execute(item, missing_key_error=missing_key_error) + "\n")
        except TemplateError as exc:
            raise _docker_error(exc) from None
    return "".join(out)
