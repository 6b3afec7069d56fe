"""Secrets and configs, the pure parts: SwarmKit's names and sizes, the control API's rules
(over an in-memory store), sealing, Docker's JSON, the CLI's flags, and which bytes the
dispatcher hands a node."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import pickle
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from swarmpy.agent.files import TaskFiles, config_target, secret_target, task_files
from swarmpy.cli.service import filerefs
from swarmpy.cli.service.inspect import print_pretty
from swarmpy.cli.service.options import UpdateOptions, update_spec
from swarmpy.dockerjson.fileobjects import config_json, file_object_spec, secret_json
from swarmpy.dockerjson.service import service_spec, service_spec_json
from swarmpy.errors import AlreadyExists, InvalidArgument, NotFound
from swarmpy.manager import sealing
from swarmpy.manager.controlapi.common import RaftMember
from swarmpy.manager.controlapi.controlapi import ControlAPI
from swarmpy.manager.controlapi.fileobjects import check_object_name, check_references
from swarmpy.manager.dispatcher.files import file_data, wanted_ids
from swarmpy.manager.state.store import CONFIGS, SECRETS, Event, LocalLog, Store, StoreState
from swarmpy.model import (
    Config,
    ContainerSpec,
    FileData,
    FileReference,
    Secret,
    Service,
    ServiceSpec,
    Task,
    TaskState,
    TaskStatus,
)
from swarmpy.server.convert.events import EVENT_FILTERS, docker_event, event_matches
from swarmpy.server.filters import parse_filters
from swarmpy.server.routes.fileobjects import FILTERS, matches
from tests.support.builders import task

T = TypeVar("T")
KEY = sealing.new_data_key()
LEADER = [RaftMember("127.0.0.1:2378", leader=True, reachable=True)]


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def task_of(spec: ServiceSpec, **changes: Any) -> Task:
    return task(Service(id="svc", spec=spec), **changes)


def spec_with(
    secrets: tuple[FileReference, ...] = (), configs: tuple[FileReference, ...] = ()
) -> ServiceSpec:
    return ServiceSpec("app", ContainerSpec("busybox", secrets=secrets, configs=configs))


# ---------------------------------------------------------------- names, sizes, references


@pytest.mark.parametrize("name", ["a", "db_pass", "x.y-z", "A9", "a" * 64])
def test_swarmkit_names_are_taken(name: str) -> None:
    check_object_name(name)


@pytest.mark.parametrize("name", ["", "-a", "a-", "a b", "a/b", "ä", "a" * 65])
def test_other_names_are_refused_in_swarmkits_words(name: str) -> None:
    expected = "name must be provided" if not name else "invalid name, only 64 \\[a-zA-Z0-9-_.\\]"
    with pytest.raises(InvalidArgument, match=expected):
        check_object_name(name)


def test_two_references_on_one_target_are_refused() -> None:
    refs = (FileReference("i1", "a", "t"), FileReference("i2", "b", "t"))
    with pytest.raises(
        InvalidArgument, match="secret references 'a' and 'b' have a conflicting target: 't'"
    ):
        check_references("secret", refs)
    with pytest.raises(InvalidArgument, match="malformed config reference"):
        check_references("config", (FileReference("", "b", "t"),))


# ---------------------------------------------------------------- the control API


def test_secret_rules_of_the_control_api() -> None:
    async def scenario() -> None:
        store = Store(LocalLog())
        api = ControlAPI(store, lambda: LEADER, data_key=KEY)
        for data in (b"", b"x" * (500 * 1024)):
            with pytest.raises(
                InvalidArgument,
                match="secret data must be larger than 0 and less than 512000 bytes",
            ):
                await api.secrets.create("pw", data, {})
        secret = await api.secrets.create("pw", b"hunter2", {"a": "b"})
        with pytest.raises(AlreadyExists, match="secret pw already exists"):
            await api.secrets.create("pw", b"other", {})
        # Sealed in the store: the bytes are not there in clear, and open with the key.
        stored = store.view().get(SECRETS, secret.id)
        assert stored is not None
        assert b"hunter2" not in pickle.dumps(stored)
        assert sealing.unseal(KEY, secret.id, stored.data) == b"hunter2"

        ref = FileReference(secret.id, "pw", "pw")
        await api.services.create(spec_with((ref,)))
        with pytest.raises(InvalidArgument) as refused:
            await api.secrets.remove("pw")
        assert str(refused.value) == "secret 'pw' is in use by the following service: app"
        with pytest.raises(InvalidArgument, match="secret not found: gone"):
            await api.services.create(
                dataclasses.replace(spec_with((FileReference("nope", "gone", "g"),)), name="b")
            )
        # Immutable: only the labels change.
        version = api.secrets.version(secret.id)
        with pytest.raises(InvalidArgument, match="only updates to Labels are allowed"):
            await api.secrets.update_labels("pw", version, "pw", b"new", {})
        await api.secrets.update_labels("pw", version, "pw", b"", {"c": "d"})
        assert api.secrets.get(secret.id[:5]).labels == (("c", "d"),)
        # The same data may come along (docker stack deploy sends it on a redeploy).
        version = api.secrets.version(secret.id)
        await api.secrets.update_labels("pw", version, "pw", b"hunter2", {"e": "f"})
        assert api.secrets.get("pw").labels == (("e", "f"),)

        await api.services.remove("app")
        await api.secrets.remove("pw")
        with pytest.raises(NotFound, match="secret pw not found"):
            api.secrets.get("pw")

    run(scenario())


def test_configs_take_up_to_1000_kib_and_keep_their_data_in_clear() -> None:
    async def scenario() -> None:
        api = ControlAPI(Store(LocalLog()), lambda: LEADER, data_key=KEY)
        with pytest.raises(
            InvalidArgument, match="config data must be larger than 0 and less than 1024000 bytes"
        ):
            await api.configs.create("c", b"x" * (1000 * 1024), {})
        config = await api.configs.create("c", b"x" * (600 * 1024), {})
        assert config.data == b"x" * (600 * 1024)

    run(scenario())


def test_a_store_snapshot_from_before_secrets_reads_them_empty() -> None:
    state = StoreState()
    old = {"index": 3, "tables": {"nodes": {}}, "versions": {"nodes": {}}}
    state.__setstate__(old)
    assert state.snapshot().all(SECRETS) == []


# ---------------------------------------------------------------- sealing


def test_sealed_data_opens_only_with_its_key_and_its_id() -> None:
    sealed = sealing.seal(KEY, "id1", b"top secret")
    assert b"top secret" not in sealed
    assert sealing.unseal(KEY, "id1", sealed) == b"top secret"
    with pytest.raises(sealing.SealingError, match="cannot be opened"):
        sealing.unseal(sealing.new_data_key(), "id1", sealed)
    with pytest.raises(sealing.SealingError, match="cannot be opened"):
        sealing.unseal(KEY, "id2", sealed)
    with pytest.raises(sealing.SealingError, match="no data key"):
        sealing.seal("", "id1", b"x")


# ---------------------------------------------------------------- Docker's JSON


def test_a_secret_is_shown_without_its_data_a_config_with_it() -> None:
    async def scenario() -> None:
        api = ControlAPI(Store(LocalLog()), lambda: LEADER, data_key=KEY)
        secret = await api.secrets.create("s", b"hidden", {"k": "v"})
        config = await api.configs.create("c", b"shown", {})
        shown = secret_json(secret, 7)
        assert shown["Spec"] == {"Name": "s", "Labels": {"k": "v"}}
        assert shown["Version"] == {"Index": 7}
        assert config_json(config, 1)["Spec"]["Data"] == base64.b64encode(b"shown").decode()

    run(scenario())


def test_a_spec_from_a_client_is_read_strictly() -> None:
    body = {"Name": "s", "Labels": {"a": "b"}, "Data": base64.b64encode(b"x").decode()}
    spec = file_object_spec(body, "secret")
    assert (spec.name, spec.labels, spec.data) == ("s", {"a": "b"}, b"x")
    with pytest.raises(InvalidArgument, match="unsupported field Driver"):
        file_object_spec({**body, "Driver": {"Name": "vault"}}, "secret")
    with pytest.raises(InvalidArgument, match="invalid Data: expected base64"):
        file_object_spec({**body, "Data": "!!"}, "config")


def test_references_travel_in_dockers_json_and_back() -> None:
    spec = spec_with(
        (FileReference("sid", "pw", "pw", "1", "2", 0o400),),
        (FileReference("cid", "conf", "/etc/app.conf"),),
    )
    body = service_spec_json(spec)
    container = body["TaskTemplate"]["ContainerSpec"]
    assert container["Secrets"] == [
        {
            "File": {"Name": "pw", "UID": "1", "GID": "2", "Mode": 256},
            "SecretID": "sid",
            "SecretName": "pw",
        }
    ]
    assert container["Configs"][0]["ConfigName"] == "conf"
    assert service_spec(body) == spec


# ---------------------------------------------------------------- the CLI's flags


def test_the_short_form_names_source_and_target_with_dockers_defaults() -> None:
    assert filerefs.parse("pw", "secret") == FileReference("", "pw", "pw", "0", "0", 0o444)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "source=pw,target=/etc/pw,uid=7,gid=8,mode=0400",
            FileReference("", "pw", "/etc/pw", "7", "8", 0o400),
        ),
        ("src=pw", FileReference("", "pw", "pw", "0", "0", 0o444)),
        ("source=pw,mode=400", FileReference("", "pw", "pw", "0", "0", 400)),  # decimal, as Go's
        ("source=pw,mode=0x1ff", FileReference("", "pw", "pw", "0", "0", 0o777)),
    ],
)
def test_the_long_form(text: str, expected: FileReference) -> None:
    assert filerefs.parse(text, "secret") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("target=x", "source is required"),
        ("source=pw,colour=red", "invalid field in config request: colour"),
        ("source=pw,mode", "invalid field 'mode' must be a key=value pair"),
        (
            "source=pw,mode=rw",
            'invalid mode specified: strconv.ParseUint: parsing "rw": invalid syntax',
        ),
        ("source=pw,mode=09", 'parsing "09": invalid syntax'),
    ],
)
def test_bad_flags_are_refused_in_dockers_words(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        filerefs.parse(text, "config")
    assert message in str(refused.value)


def test_two_flags_on_one_target_are_refused_before_any_request() -> None:
    with pytest.raises(InvalidArgument, match="duplicate secret target for b not allowed"):
        filerefs.parse_all(["source=a,target=t", "source=b,target=t"], "secret")


def test_update_removes_by_name_then_adds() -> None:
    current = spec_with((FileReference("i1", "old", "pw"), FileReference("i2", "keep", "k")))
    options = UpdateOptions(secret_rm=("old",), secret_add=("source=new,target=pw",))
    updated = update_spec(current, options, lambda n: n)
    assert updated.container.secrets == (
        FileReference("i2", "keep", "k"),
        FileReference("", "new", "pw"),
    )


# ---------------------------------------------------------------- dispatcher and agent


def test_a_node_gets_the_bytes_of_what_its_live_tasks_use_and_no_more() -> None:
    async def scenario() -> None:
        store = Store(LocalLog())
        api = ControlAPI(store, lambda: LEADER, data_key=KEY)
        used = await api.secrets.create("used", b"u", {})
        ended = await api.secrets.create("ended", b"e", {})
        config = await api.configs.create("conf", b"c", {})
        live = task_of(spec_with((FileReference(used.id, "used", "used"),),
                                   (FileReference(config.id, "conf", "conf"),)))  # fmt: skip
        done = dataclasses.replace(
            task_of(spec_with((FileReference(ended.id, "ended", "ended"),))),
            status=TaskStatus(state=TaskState.COMPLETE),
        )
        secret_ids, config_ids = wanted_ids([live, done])
        assert (secret_ids, config_ids) == (frozenset({used.id}), frozenset({config.id}))
        assert file_data(store.view(), secret_ids, config_ids, KEY) == [
            FileData(used.id, b"u"),
            FileData(config.id, b"c"),
        ]

    run(scenario())


def test_targets_in_the_container_are_dockers() -> None:
    assert secret_target(FileReference("i", "pw", "pw")) == "/run/secrets/pw"
    assert secret_target(FileReference("i", "pw", "/etc/pw")) == "/etc/pw"
    assert config_target(FileReference("i", "conf", "conf")) == "/conf"
    t = task_of(spec_with((FileReference("i", "pw", "x"),), (FileReference("j", "c", "c"),)))
    assert [path for path, _ in task_files(t)] == ["/run/secrets/x", "/c"]


def test_service_inspect_pretty_lists_configs_then_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = spec_with((FileReference("s1", "pw", "db"),), (FileReference("c1", "conf", "/etc/c"),))
    print_pretty({"ID": "x", "Spec": service_spec_json(spec)})
    out = capsys.readouterr().out
    assert (
        "Configs:\n Target:\t/etc/c\n  Source:\tconf\nSecrets:\n Target:\tdb\n  Source:\tpw\n"
        in out
    )


def test_secrets_and_configs_are_docker_events() -> None:
    created = docker_event(Event("create", SECRETS, Secret("s1", "pw", b"sealed")), 1.0)
    assert created is not None
    assert (created["Type"], created["Action"]) == ("secret", "create")
    assert created["Actor"] == {"ID": "s1", "Attributes": {"name": "pw"}}
    removed = docker_event(Event("delete", CONFIGS, Config("c1", "conf", b"x")), 1.0)
    assert removed is not None
    assert (removed["Type"], removed["Action"]) == ("config", "remove")
    assert event_matches(parse_filters('{"secret": ["pw"]}', EVENT_FILTERS), created)
    assert not event_matches(parse_filters('{"secret": ["db"]}', EVENT_FILTERS), created)


def test_a_complete_assignment_set_drops_other_tasks_files(tmp_path: Path) -> None:
    files = TaskFiles(tmp_path)
    for task_id in ("kept", "gone"):
        (tmp_path / task_id).mkdir()
    files.replace([FileData("s1", b"x")], {"kept"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
    assert files.held() == {"s1"}
    files.replace([], None)  # an incremental message: the bytes only
    assert files.held() == frozenset()
    assert (tmp_path / "kept").is_dir()


@pytest.mark.parametrize(
    ("filters", "shown"),
    [
        ('{"name": ["db"]}', True),  # a prefix of the name
        ('{"name": ["pass"]}', False),
        ('{"names": ["db_pass"]}', True),  # the whole name
        ('{"names": ["db"]}', False),
        ('{"id": ["abc"]}', True),
        ('{"label": ["app=web"]}', True),
        ('{"label": ["app=db"]}', False),
    ],
)
def test_list_filters_are_swarmkits(filters: str, shown: bool) -> None:
    secret = Secret("abcdef", "db_pass", b"", labels=(("app", "web"),))
    assert matches(parse_filters(filters, FILTERS), secret) is shown
