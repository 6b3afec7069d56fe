"""The CLI's plain coercion of option values gives what typer's own (pydantic) gives, and
leaves to typer every value it is not sure of."""

from __future__ import annotations

from typing import Any

import pytest
import typer
import typer.core
from typer._adapters import build_adapter
from typer.models import OptionInfo
from typer.testing import CliRunner

from swarmpy.cli import fastparams

PLAIN: list[tuple[Any, Any]] = [
    (str, ""),
    (str, "abc"),
    (str, "名前 with spaces"),
    (bool, True),
    (bool, False),
    (int, "0"),
    (int, "-0"),
    (int, "42"),
    (int, "-7"),
    (int, "123456789012345678"),
    (int, 5),
    (list[str], ("a", "b")),
    (list[str], []),
    (list[int], ("1", "-2")),
]
# Python's int() reads these, pydantic has its own rules: typer decides.
NOT_PLAIN: list[tuple[Any, Any]] = [
    (int, " 1"),
    (int, "1_000"),
    (int, "+1"),
    (int, "01"),
    (int, "1.0"),
    (int, "abc"),
    (int, True),
    (str, 1),
    (bool, "true"),
    (list[int], ("1", "x")),
    (float, "1.5"),
]


@pytest.mark.parametrize(("annotation", "value"), PLAIN)
def test_plain_values_come_back_as_typers_adapter_returns_them(annotation: Any, value: Any) -> None:
    plain, coerced = fastparams.plain_value(annotation, value)
    assert plain
    expected = build_adapter(annotation, OptionInfo()).validate_python(value)
    assert coerced == expected
    assert type(coerced) is type(expected)


@pytest.mark.parametrize(("annotation", "value"), NOT_PLAIN)
def test_other_values_are_left_to_typer(annotation: Any, value: Any) -> None:
    assert fastparams.plain_value(annotation, value) == (False, None)


def test_a_command_coerces_as_typer_does_and_errors_are_typers() -> None:
    fastparams.install()
    assert getattr(getattr(typer.core, "build_runtime_param", None), "swarmpy_fast", False)
    app = typer.Typer()
    seen: dict[str, Any] = {}

    @app.command()
    def cmd(
        n: int = typer.Option(0, "--n"),
        name: str = typer.Option("", "--name"),
        tags: list[str] = typer.Option([], "--tag"),
        ranged: int = typer.Option(1, "--ranged", min=1, max=3),
    ) -> None:
        seen.update(n=n, name=name, tags=tags, ranged=ranged)

    runner = CliRunner()
    result = runner.invoke(app, ["--n", "12", "--name", "x", "--tag", "a", "--tag", "b"])
    assert result.exit_code == 0, result.output
    assert seen == {"n": 12, "name": "x", "tags": ["a", "b"], "ranged": 1}
    assert runner.invoke(app, ["--n", "+3"]).exit_code == 0
    assert seen["n"] == 3
    bad = runner.invoke(app, ["--n", "abc"])
    assert bad.exit_code == 2
    assert "Input should be a valid integer" in bad.output
    out_of_range = runner.invoke(app, ["--ranged", "9"])
    assert out_of_range.exit_code == 2
    assert "less than or equal to 3" in out_of_range.output
