"""The layering of swarmpy's packages, checked on every import in the tree.

The folder layout shows the architecture only while no module reaches upward: the engine knows
nothing of the swarm, the agent nothing of the manager, and nothing imports the CLI. A new
import that breaks a rule fails here, with the module and the line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "swarmpy"

# Modules every layer may use: plain data, errors, configuration, the wire formats and the TLS
# and CA helpers that every node needs (a worker renews its certificate too).
BASE = {
    "swarmpy",
    "swarmpy.api",
    "swarmpy.ca",
    "swarmpy.codec",
    "swarmpy.config",
    "swarmpy.dockerjson",
    "swarmpy.errors",
    "swarmpy.fsutil",
    "swarmpy.genericresource",
    "swarmpy.humanize",
    "swarmpy.interning",
    "swarmpy.loopwatch",
    "swarmpy.model",
    "swarmpy.netns",
    "swarmpy.protocol",
    "swarmpy.rpc",
    "swarmpy.templates",
    "swarmpy.tls",
}

# Which layers each layer may import, lowest first. "node" is what wires one host together
# (the daemon and what serves its local socket); it may use every layer below the CLI.
ALLOWED: dict[str, frozenset[str]] = {
    "base": frozenset({"base"}),
    "engine": frozenset({"base", "engine"}),
    "overlay": frozenset({"base", "overlay"}),
    "dns": frozenset({"base", "dns"}),
    "agent": frozenset({"base", "engine", "overlay", "dns", "agent"}),
    # The control API checks image references by the engine's grammar (as SwarmKit's uses
    # distribution/reference).
    "manager": frozenset({"base", "manager", "engine.images.reference"}),
    "node": frozenset({"base", "engine", "overlay", "dns", "agent", "manager", "node"}),
    "lab": frozenset({"base", "engine", "lab"}),
    # Compose files as docker/cli reads them: pure, below the CLI that sends what it makes.
    "compose": frozenset({"base", "compose"}),
    # The CLI is a client: it reads image references the way the engine does, checks specs
    # with the control API's own (pure) checks, drives the lab, and `swarmpy daemon` runs the
    # daemon's entry point, but it never reaches into a daemon's internals.
    "cli": frozenset(
        {
            "base",
            "cli",
            "compose",
            "lab",
            "engine.images.reference",
            "engine.build.ignore",
            "manager.controlapi.validate",
            "daemon",
        }
    ),
}

PACKAGES = {"engine", "overlay", "dns", "agent", "manager", "lab", "compose", "cli"}


def layer_of(module: str) -> str:
    """The layer a dotted module name belongs to."""
    if module in BASE or any(module.startswith(b + ".") for b in BASE - {"swarmpy"}):
        return "base"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in PACKAGES:
        return parts[1]
    return "node"


def permits(importer: str, imported: str) -> bool:
    allowed = ALLOWED[layer_of(importer)]
    target = layer_of(imported)
    if target in allowed:
        return True
    # A grant that is not a layer, such as "engine.images.reference", names one module.
    return any(imported == f"swarmpy.{grant}" for grant in allowed if grant not in ALLOWED)


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def swarmpy_imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every swarmpy module the file imports, also inside functions, with its line."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield from imports_in(node)


def imports_in(node: ast.Import | ast.ImportFrom) -> Iterator[tuple[int, str]]:
    """The swarmpy modules one import statement imports, with its line."""
    if isinstance(node, ast.Import):
        yield from ((node.lineno, a.name) for a in node.names if a.name.startswith("swarmpy"))
    elif node.module and node.level == 0 and node.module.startswith("swarmpy"):
        # `from swarmpy.x import y` may import the module swarmpy.x.y.
        for alias in node.names:
            sub = f"{node.module}.{alias.name}"
            is_module = (PACKAGE.parent / Path(*sub.split("."))).with_suffix(".py")
            yield node.lineno, sub if is_module.exists() else node.module


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "api" not in p.relative_to(PACKAGE).parts)


def test_no_module_imports_a_higher_layer() -> None:
    wrong = sorted(
        {
            f"{path.relative_to(PACKAGE.parent)}:{line}: {module_name(path)} "
            f"({layer_of(module_name(path))}) imports {target} ({layer_of(target)})"
            for path in sources()
            for line, target in swarmpy_imports(path)
            if not permits(module_name(path), target)
        }
    )
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def load_time_imports(path: Path) -> set[str]:
    """The swarmpy modules a module imports as it loads: at its top level, outside
    ``if TYPE_CHECKING:`` (imports inside functions run later and cannot form a cycle)."""
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
            elif isinstance(node, ast.If | ast.Try | ast.With):
                for block in ("body", "orelse", "finalbody"):
                    visit(getattr(node, block, []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                found.update(target for _, target in imports_in(node))

    visit(ast.parse(path.read_text(), str(path)).body)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph`` (module -> modules it imports), one path each."""
    found: list[list[str]] = []
    done: set[str] = set()

    def walk(module: str, path: list[str]) -> None:
        if module in path:
            found.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            walk(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        walk(module, [])
    return found


def test_no_import_cycles() -> None:
    graph = {module_name(path): load_time_imports(path) for path in sources()}
    found = cycles({m: {t for t in targets if t != m} for m, targets in graph.items()})
    assert not found, "modules that import each other as they load:\n" + "\n".join(
        " -> ".join(cycle) for cycle in found
    )


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize(
    ("importer", "imported", "allowed"),
    [
        ("swarmpy.agent.worker", "swarmpy.engine.runc", True),
        ("swarmpy.engine.runc", "swarmpy.agent.worker", False),
        ("swarmpy.agent.agent", "swarmpy.manager.dispatcher.dispatcher", False),
        ("swarmpy.manager.manager", "swarmpy.cli.main", False),
        ("swarmpy.cli.image", "swarmpy.engine.images.reference", True),
        ("swarmpy.cli.image", "swarmpy.engine.images.store", False),
        ("swarmpy.daemon", "swarmpy.manager.manager", True),
        ("swarmpy.tls", "swarmpy.ca.certificates", True),
        ("swarmpy.cli.stack.deploy", "swarmpy.compose.loader", True),
        ("swarmpy.compose.convert", "swarmpy.cli.engine", False),
        ("swarmpy.compose.loader", "swarmpy.engine.images.reference", False),
    ],
)
def test_the_rules_themselves(importer: str, imported: str, allowed: bool) -> None:
    assert permits(importer, imported) is allowed
