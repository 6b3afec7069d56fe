"""Every CLI command, driven with generated flag values against a real single-node swarm: each
run succeeds, or fails with a non-zero exit and one line on stderr per error (a command given
several references reports each one it could not act on, as Docker's does); none prints a
traceback.

The CLI runs in-process (``swarmpy.cli.main.run``, what the console script's entry runs) so that
a crash is an exception here, with its traceback in the report, and the daemon's own checks
(the control API's validation) answer every value that passes the CLI's. The only node is
drained so that no service task is ever scheduled: nothing pulls an image from a registry,
and no container runs (``run`` and ``create`` only name images of a closed registry). Left
out, because they would not answer a value but act on the host:
``daemon`` (runs a daemon in this process), ``lab up/down/exec/demo`` (make and remove
namespaces). Flags that would wait forever or leave the swarm (``--follow``, ``swarm leave
--force``, ``--force-new-cluster``, streaming ``stats``) are left out or pinned; ``image
pull`` only ever names a registry on a closed loopback port.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmpy import codec
from swarmpy.api import objects_pb2
from swarmpy.cli import engine
from swarmpy.cli.main import app, run
from swarmpy.dockerjson.service import service_spec_json
from swarmpy.errors import AlreadyExists, InvalidArgument, NotFound, SwarmpyError
from swarmpy.manager.controlapi.validate import MAX_REPLICAS
from swarmpy.model import ServiceMode, ServiceSpec
from tests.support.controlplane import init, self_id
from tests.support.daemons import Daemon, DaemonSet

pytestmark = pytest.mark.root


IP, PORT = "127.0.0.41", 23790
# A few hundred keep the run near a minute; SWARMPY_FUZZ_EXAMPLES=5000 searches deeper.
EXAMPLES = int(os.environ.get("SWARMPY_FUZZ_EXAMPLES", "300"))
CALL_TIMEOUT_S = 20
SKIPPED = {
    ("daemon",),
    ("lab", "up"),
    ("lab", "down"),
    ("lab", "exec"),
    ("lab", "demo"),
    # A live stream with no end but the user's ^C, as docker's; its filters and times are
    # tested in test_cli_system.
    ("events",),
    ("system", "events"),
}
# Options whose every value acts on the host rather than being answered (see the docstring).
DROPPED = {"--follow", "--force-new-cluster"}
PINNED: dict[tuple[str, ...], tuple[str, ...]] = {
    ("service", "create"): ("--detach",),
    ("service", "update"): ("--detach",),
    ("service", "scale"): ("--detach",),
    ("service", "rollback"): ("--detach",),
    ("stats",): ("--no-stream",),
    ("container", "stats"): ("--no-stream",),
}
CLOSED_REGISTRY = "127.0.0.1:1/"
CONTAINER_MAKERS = {("run",), ("create",), ("container", "run"), ("container", "create")}
USAGE_EXITS = (2, 125)


# ---------------------------------------------------------------- the commands, as typer has them


@dataclass(frozen=True)
class Param:
    opts: tuple[str, ...]  # ("--replicas",) for an option, () for an argument
    kind: type
    flag: bool
    many: bool
    required: bool


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    params: tuple[Param, ...]


def _kind(param: Any) -> type:
    """int or float (also optional or in a list); str for everything else (paths included)."""
    annotation = str(param.type_descriptor.annotation)
    return next((t for t in (int, float) if t.__name__ in annotation), str)


def commands() -> list[Command]:
    found: list[Command] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, (*path, name))
            return
        if path in SKIPPED:
            return
        params = tuple(
            Param(
                opts=tuple(p.opts) if p.param_type_name == "option" else (),
                kind=_kind(p),
                flag=bool(getattr(p, "is_flag", False)),
                many=bool(p.multiple or p.nargs == -1),
                required=bool(p.required),
            )
            for p in command.params
            if not set(p.opts) & DROPPED
        )
        found.append(Command(path, params))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = commands()

# ---------------------------------------------------------------- values

# What the parsers and the managers must answer: edges of every grammar the CLI reads.
INTERESTING = [
    "",
    "0",
    "-1",
    "1",
    "0.0005",
    "nan",
    "inf",
    "1e400",
    "9" * 400,
    "1000000000000",
    "100001",
    "5s",
    "300ms",
    "-5s",
    "99999999999h",
    "64m",
    "1k",
    "9" * 30 + "t",
    "/",
    "/data",
    "a/../b",
    "type=bind,source=/tmp,target=/",
    "type=volume,source=..,target=/v",
    "type=tmpfs,target=/t//x",
    "type=weird,target=/x",
    "A=1",
    "=1",
    "A",
    "k=v",
    "a b=c",
    "node.role==manager",
    "node.labels.x!=",
    "busybox",
    "Busybox:latest",
    "busybox@sha256:12",
    "x" * 300,
    "x" * 5000,
    "web",
    "net1",
    "self",
    "web=3",
    "web=-1",
    "web=1000000000000",
    "desired-state=running",
    "{{json .}}",
    "{{.ID}}",
    "{{",
    "json",
    "replicated",
    "global",
    "drain",
    "start-first",
    "on-failure",
    "dnsrr",
    "worker",
    "manager",
    "10.0.0.0/8",
    "10.99.0.0/30",
    "10.99.0.1",
    "300.1.1.1",
    "127.0.0.1:1",
    "SWMTKN-1-abc",
    "com.docker.network.driver.mtu=9000",
    "com.docker.network.driver.mtu=x",
    "all",
    "SIGKILL",
    "é",
    "a\nb",
    "\udcff",  # a byte that is not UTF-8, as Linux hands it over in argv
]

# What the fixture made: a command reaches the daemon's checks only with a reference to it.
REFS = ["web", "net1", "self", "busybox"]

text = st.one_of(
    st.sampled_from(REFS),
    st.sampled_from(INTERESTING),
    st.text(
        alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
        max_size=40,
    ),
)
integers = st.one_of(
    st.integers(-3, 5),
    st.sampled_from([100_000, 100_001, 10**12, 2**63, -(2**63) - 1]),
    st.integers(-(2**80), 2**80),
)


floats = st.one_of(st.floats(), st.sampled_from([0.0, 1e-9, 0.1, 1e300]))


def _values(draw: Any, param: Param) -> list[str]:
    count = draw(st.integers(1, 2)) if param.many else 1
    strategy = {int: integers.map(str), float: floats.map(repr)}.get(param.kind, text)
    return [draw(strategy) for _ in range(count)]


@st.composite
def invocations(draw: Any) -> list[str]:
    command = draw(st.sampled_from(COMMANDS))
    argv = list(command.path)
    positionals: list[str] = []
    for param in command.params:
        if param.opts:
            if not param.required and draw(st.integers(0, 3)) != 0:
                continue
            if param.flag:
                argv.append(param.opts[0])
                continue
            for value in _values(draw, param):
                argv += [param.opts[0], value]
        elif param.required or draw(st.booleans()):
            positionals += _values(draw, param)
    if command.path == ("image", "pull"):
        positionals = [CLOSED_REGISTRY + p for p in positionals]
    if command.path in CONTAINER_MAKERS and positionals:
        # Their image is pulled when missing: only ever from the closed registry.
        positionals = [CLOSED_REGISTRY + positionals[0], *positionals[1:]]
    if command.path == ("swarm", "leave"):
        argv = [a for a in argv if a not in ("--force", "-f")]
    if command.path == ("node", "update"):
        # Only ever drained: an active node would run tasks, which pull images.
        argv = _pin_value(argv, "--availability", "drain")
    return [*argv, *PINNED.get(command.path, ()), *positionals]


def _pin_value(argv: list[str], option: str, value: str) -> list[str]:
    return [value if i and argv[i - 1] == option else a for i, a in enumerate(argv)]


# ---------------------------------------------------------------- running the CLI in-process


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    crash: str  # the traceback of an exception that escaped run(), or ""


class Hung(Exception):
    pass


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise Hung(f"no answer within {CALL_TIMEOUT_S}s")


@contextlib.contextmanager
def _argv(argv: Sequence[str]) -> Iterator[tuple[io.TextIOWrapper, io.TextIOWrapper]]:
    """sys.argv and the standard streams of one CLI run (with a .buffer, as real ones have)."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="surrogateescape")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="surrogateescape")
    stdin = io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8")
    saved = sys.argv, sys.stdin, sys.stdout, sys.stderr, engine.OPTIONS
    sys.argv, sys.stdin, sys.stdout, sys.stderr = ["swarmpy", *argv], stdin, out, err
    try:
        yield out, err
    finally:
        sys.argv, sys.stdin, sys.stdout, sys.stderr, engine.OPTIONS = saved


def _read(stream: io.TextIOWrapper) -> str:
    stream.flush()
    raw = stream.buffer
    assert isinstance(raw, io.BytesIO)
    return raw.getvalue().decode("utf-8", errors="replace")


def run_cli(daemon: Daemon, argv: Sequence[str]) -> Outcome:
    code, crash = 0, ""
    previous = signal.signal(signal.SIGALRM, _alarm)
    with _argv(["-H", daemon.host, *argv]) as (out, err):
        signal.alarm(CALL_TIMEOUT_S)
        try:
            run()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - a crash is exactly what this test looks for
            crash = traceback.format_exc()
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        stdout, stderr = _read(out), _read(err)
    return Outcome(code, stdout, stderr, crash)


# ---------------------------------------------------------------- the swarm and the property


@pytest.fixture(scope="module")
def manager() -> Iterator[Daemon]:
    with DaemonSet() as ds:
        daemon = ds.start(1)[0]
        init(daemon, IP, PORT)
        daemon.ok("node", "update", "--availability", "drain", self_id(daemon))
        daemon.ok("network", "create", "-d", "overlay", "net1")
        daemon.ok("service", "create", "-d", "--name", "web", "--network", "net1", "busybox")
        yield daemon


def check(outcome: Outcome, argv: Sequence[str]) -> None:
    shown = "swarmpy " + " ".join(repr(a) if " " in a or not a else a for a in argv)
    assert not outcome.crash, f"{shown}\ncrashed:\n{outcome.crash}"
    assert "Traceback" not in outcome.stderr + outcome.stdout, f"{shown}\n{outcome.stderr}"
    if outcome.code == 0:
        return
    # Usage errors are several lines as Docker's: a flag error and where the help is (exit 125,
    # 2 from click), a wrong number of arguments or an unknown command with the usage or the help
    # (exit 1, as Docker's CLI). Every other failure is ours: one line per error, as Docker
    # prints one per reference a command could not act on.
    usage_error = outcome.code in USAGE_EXITS or (
        outcome.code == 1 and ("See 'swarmpy" in outcome.stderr or "Usage:" in outcome.stderr)
    )
    if not usage_error:
        lines = outcome.stderr.strip().splitlines()
        assert lines, f"{shown}\nexit {outcome.code} with nothing on stderr"
        # Several lines: each is one reference's error, as Docker's "Error: No such object: x"
        # or its bare "no such service: x" (one per argument, repeats included).
        operands = [a for a in argv if a and not a.startswith("-")]
        assert len(lines) == 1 or all(
            line.startswith("Error") or any(line.endswith(a) for a in operands) for line in lines
        ), f"{shown}\nexit {outcome.code}, not one line per error:\n{outcome.stderr}"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=invocations())
def test_no_command_prints_a_traceback(manager: Daemon, argv: list[str]) -> None:
    check(run_cli(manager, argv), argv)


# ---------------------------------------------------------------- the control API without the CLI

# The CLI refuses most bad values itself: these go straight to the daemon, as any client
# could send them. Counts stay small or out of range, so an accepted spec stays cheap to run.
int64s = st.sampled_from([-(2**63), -1, 0, 1, 2, 100_001, 10**12, 2**63 - 1])
doubles = st.one_of(st.floats(), st.sampled_from([0.0, 0.5, 1e300]))
spec_texts = st.one_of(st.sampled_from(["fz1", "fz2", "web", "busybox", "/data", "A=1"]), text)
strings = spec_texts.filter(lambda t: "\udcff" not in t)  # protobuf takes UTF-8 only
words = st.lists(strings, max_size=3)
resources = st.builds(objects_pb2.Resources, nano_cpus=int64s, memory_bytes=int64s, pids=int64s)
update_configs = st.builds(
    objects_pb2.UpdateConfig,
    parallelism=int64s,
    delay_s=doubles,
    failure_action=st.sampled_from(["pause", "rollback", "sideways"]),
    monitor_s=doubles,
    max_failure_ratio=doubles,
    order=st.sampled_from(["stop-first", "start-first", ""]),
)
specs = st.builds(
    objects_pb2.ServiceSpec,
    name=strings,
    container=st.builds(
        objects_pb2.ContainerSpec,
        image=strings,
        args=words,
        env=words,
        labels=st.dictionaries(strings, strings, max_size=2),
        hostname=strings,
        workdir=strings,
        mounts=st.lists(
            st.builds(
                objects_pb2.Mount,
                type=st.sampled_from(["bind", "volume", "tmpfs", "nfs"]),
                target=strings,
                source=strings,
            ),
            max_size=2,
        ),
        cap_add=words,
        stop_grace_s=doubles,
    ),
    mode=st.sampled_from(["replicated", "global", "", "bogus"]),
    replicas=int64s,
    restart=st.builds(
        objects_pb2.RestartPolicy,
        condition=st.sampled_from(["any", "on-failure", "none", "never"]),
        delay_s=doubles,
        max_attempts=int64s,
        window_s=doubles,
    ),
    update=update_configs,
    rollback=update_configs,
    constraints=st.lists(
        st.sampled_from(["node.role==manager", "node.labels.x==", "x"]), max_size=2
    ),
    resources=st.builds(objects_pb2.ResourceRequirements, limits=resources, reservations=resources),
    networks=st.lists(st.sampled_from(["net1", "nosuch"]), max_size=2),
    endpoint_mode=st.sampled_from(["vip", "dnsrr", "both"]),
)
# What refusing a request may answer (the Engine API's 400, 404 and 409, a client's error); a
# 500 would be a crash on the manager, and fails the test as any other error does.
REFUSALS = (InvalidArgument, NotFound, AlreadyExists)


@pytest.fixture(scope="module")
def engine_api(manager: Daemon) -> engine.EngineClient:
    # The control API as every client reaches it: the Engine API on the daemon's socket.
    endpoint = engine.Endpoint(host=manager.host, path=str(manager.socket))
    return engine.EngineClient(endpoint, timeout=CALL_TIMEOUT_S)


def as_json(spec: objects_pb2.ServiceSpec) -> tuple[ServiceSpec, dict[str, Any]] | None:
    """The spec and the body a client would send to /services/create; None when Docker's
    JSON cannot say it (a mode no field takes, a duration that is not a number)."""
    try:
        wanted = codec.from_proto(ServiceSpec, spec)
        return wanted, service_spec_json(wanted)
    except (ValueError, OverflowError):
        return None


@settings(
    max_examples=EXAMPLES // 2,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=specs)
def test_the_control_api_refuses_what_it_cannot_serve(
    engine_api: engine.EngineClient, spec: objects_pb2.ServiceSpec
) -> None:
    sent = as_json(spec)
    if sent is None:
        return
    wanted, body = sent
    refusal: SwarmpyError | None = None
    try:
        created = engine_api.post("/services/create", body)
    except REFUSALS as exc:
        refusal = exc
    if refusal is not None:
        assert "\n" not in refusal.message, f"{refusal.message}\n{body}"
        return
    # Taken: then it is a spec the managers can serve, and it goes again at once.
    assert wanted.replicas <= MAX_REPLICAS or wanted.mode != ServiceMode.REPLICATED
    engine_api.delete(engine.path_of("services", created["ID"]))


def test_the_swarm_survived_the_fuzz(manager: Daemon) -> None:
    """Whatever was sent (the fuzz may well have removed its service), the manager still
    answers and writes (the property runs first)."""
    manager.ok("service", "ls")
    assert manager.ok("node", "ls")
    manager.ok("service", "create", "-d", "--name", "after-fuzz", "busybox")
    assert "after-fuzz" in manager.ok("service", "ls")
