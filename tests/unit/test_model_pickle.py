"""How service specs pickle into Raft commands and dumps: once per object, shared on load."""

from __future__ import annotations

import base64
import dataclasses
import pickle
import zlib

import pytest

from swarmpy import codec, model
from swarmpy.api import objects_pb2
from swarmpy.interning import Interned
from swarmpy.manager.state.store import SERVICES, TASKS, Op, StoreState
from swarmpy.model import ContainerSpec, Service, ServiceSpec, Task

# Three ops (a service, two of its tasks) pickled at protocol 5 by swarmpy before specs
# pickled as their own bytes (bece5e7): every spec a plain pickle of its fields, as in the
# journals and dumps of managers written then. zlib, then base64.
OLD_OPS = (
    "eNp9VUuLJEUQ7p1+v3ZU1oteZPDgHBzYBS9eHBl0xGZnpUcR9FBmV2V35m5WZZmZ1T0tKHpQERIUJlUEX4giiG89"
    "+AB/k/9AI7KyqmYQbKiuzMjIiC8ivoh6vfu+G7T8z96vN0Sl+fYgJRlZUXWgDTEU/qWizu7cyt2523/Dveoesl1D"
    "FgKEA03VmsdUwzlPnO3odXzd2bZc3HZ2WtuTCRXO9k9L5doM67MBXMlp7NjIjsPxKe5rT52MpOCovaELZ4exzAzh"
    "GVV4YXpU7S5f6fIU4Ds7ylY8O3v0+sGNR8B5LFOIK3H7tkPUSsO7TbM1vHqCLKhAwYBJbUp/LbixkepOwsHVnu0U"
    "mvpFL5VFZlC5H5M8IgkaHOAyUTKH9QTSlUcrRWIaaXd8+GBI7tjLNV9lRKChtjFb944dKkqSSGYCNx2ecQPv3STT"
    "EeLA7FKF3kYo0pSomMFujDuZGy4zPOwibo9Jb3VsfCz9QvCUe+mYUSIMixmN77gT21spWeSlOo0VDdHIbMl9WqaK"
    "rrg2ahuRwjDEOhJyBfFxwAL3h1xLQdA35CihS1II4+wuWEpoZjgRUVnRvWLBHrAdw+GW7S4VFMu95d4EkiAfLlb8"
    "Ju7PoWCK5oLHQLoE9OZAryDQbta2fUWBkMr40s/L9TMSjrdN6ZEgCffYQOuuoHVUC8FJm2Tb0jqAF2Trq3QtVGmS"
    "krOIGEPTHNIya9nBhmeJ3KBSK/yKhe0VeQIo0cfkOb888ulrgIxzoogQVHCdutkVNq+v26tLwkWhaETiCuj0yVL0"
    "eFyh7OYEKFfiHKYSeCHVJaR3I9LKksJyNAhtV6qk7JFxCe+W32OKkYYPL7nSxhuHYAZKCrEgwA32fOjLFy4hZi+y"
    "lxipXbNFcxIzBhbGkHUgDLSi5xJwWstC4VQABNfmYTenLxdc0ZSiVp2oXqApaA7n9b2moBnJZBTnha/GJKWpBGIu"
    "toZ6QSfniV/0VxTmAI/dPuCZKN85pOwPZkJUm1mLncGzhecV0MPYM2qwzT3vaZbkEmKIKn5OngiSiqDtNc/LmkyW"
    "EoBGgQcAYDcX0PIYXJQrukSDnkwNg6HyKIBcxYVSoIiibi6VT9puQBIRwYmG6DCQKZhac1nosqVOYLrAO8KZgDyZ"
    "7djxmitTQM9x39HTElCEkxtSdmJH0JbYT0Bqd/zY34Efo1KtlB5WrBndlovm5tU6HQEi8p6egX/jnv4HftDeOyGz"
    "XfwgaMgi65er644NIYGdZ2F9cdx/CAQsez6CzwVM/0m19WOX3ct22T3MQmAdLSRk6IrtZ5B8r71npwnVQKHEo/Ql"
    "GqKHU787dzdbO744vRAEnI+q8+ICqbrh+hezVtlghqc4KdL8Qg/1QaTxO4LDmio//Sf19ycAGtIzbqCkiedAG9iI"
    "7xHJoeghvbXBXjmGfVc+5ZcVbrbnYYwx0VUBIN3stX327vFh+Dyz9xpTU6wUN1SVYxhc3kc0flvAZ2iEqGlCNHX+"
    "n5KxD6pi3cBifVTX6C/2MRuwT5pasE/h+Yztsc/Zl+wr9nXQ/IZ9y75rRsH3oPADPD/C8xN02M/w/NIc/8p+Y7//"
    "X1DsD7jw50Wsb7uDfwHcPzWC"
)


def _web_spec() -> ServiceSpec:
    return ServiceSpec("web", ContainerSpec("nginx:1.25"), replicas=3, labels=(("tier", "front"),))


def _task(task_id: str, slot: int, spec: ServiceSpec) -> Task:
    return Task(
        id=task_id,
        service_id="svc1",
        service_name="web",
        spec=spec,
        spec_version=2,
        slot=slot,
        created_at=3.0,
    )


def test_ops_pickled_before_spec_bytes_still_apply() -> None:
    ops = pickle.loads(zlib.decompress(base64.b64decode(OLD_OPS)))
    state = StoreState()
    state.apply(ops)

    spec = _web_spec()
    snap = state.snapshot()
    svc = Service(id="svc1", spec=spec, spec_version=2, created_at=1.0, updated_at=2.0)
    assert snap.get(SERVICES, "svc1") == svc
    assert snap.get(TASKS, "task1") == _task("task1", 1, spec)
    assert snap.get(TASKS, "task2") == _task("task2", 2, spec)
    # Pickled again (a dump of that state, a command carrying it), it loads the same.
    assert pickle.loads(pickle.dumps(ops, protocol=pickle.HIGHEST_PROTOCOL)) == ops


def test_tasks_loaded_from_separate_commands_share_one_spec() -> None:
    spec = dataclasses.replace(_web_spec(), name="shared-spec-test")
    commands = [
        pickle.dumps((Op("tasks", f"t{i}", _task(f"t{i}", i, spec)),), pickle.HIGHEST_PROTOCOL)
        for i in range(3)
    ]
    loaded = [pickle.loads(c)[0].obj for c in commands]
    assert [t.spec for t in loaded] == [spec] * 3
    assert loaded[0].spec is loaded[1].spec is loaded[2].spec
    # A spec loaded keeps the bytes it came from: pickled again, it is not pickled anew.
    assert model._spec_bytes(loaded[0].spec) is model._spec_bytes(loaded[1].spec)


def test_a_spec_is_pickled_once_per_object(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = dataclasses.replace(_web_spec(), name="pickled-once-test")
    calls: list[object] = []
    real_dumps = pickle.dumps

    def counting_dumps(obj: object, *args: object, **kwargs: object) -> bytes:
        calls.append(obj)
        return real_dumps(obj, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pickle, "dumps", counting_dumps)
    first = real_dumps(_task("a", 1, spec), pickle.HIGHEST_PROTOCOL)
    second = real_dumps(_task("b", 2, spec), pickle.HIGHEST_PROTOCOL)
    assert len(calls) == 1
    assert pickle.loads(first).spec == pickle.loads(second).spec == spec


def test_the_kept_bytes_are_no_field() -> None:
    spec = _web_spec()
    pickle.dumps(spec)
    # Equality, replace, repr and the protobuf codec see the fields only.
    assert spec == _web_spec()
    changed = dataclasses.replace(spec, replicas=5)
    assert pickle.loads(pickle.dumps(changed)).replicas == 5
    assert "_pickled" not in repr(spec)
    assert codec.from_proto(ServiceSpec, codec.to_proto(spec, objects_pb2.ServiceSpec())) == spec


def test_a_spec_without_a_newer_field_reads_its_default() -> None:
    # Bytes written before ``network_aliases`` existed: the field reads its class default.
    state = dict(_web_spec().__dict__)
    del state["network_aliases"]
    spec = model._load_spec(pickle.dumps(state))
    assert spec == _web_spec()


def test_the_cache_of_loaded_specs_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "_loaded_specs", Interned(2))
    specs = [dataclasses.replace(_web_spec(), replicas=n) for n in range(5)]
    loaded = [pickle.loads(pickle.dumps(s)) for s in specs]
    assert loaded == specs
    assert len(model._loaded_specs) == 2
    # An evicted spec loads again, as a new object equal to it.
    assert pickle.loads(pickle.dumps(specs[0])) == specs[0]
