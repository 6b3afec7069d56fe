"""What system df counts and the prunes remove (swarmpy.server.convert.disk), and the
events' filters as Docker's daemon applies them."""

from __future__ import annotations

import json

from swarmpy.server.convert.disk import (
    ImageFacts,
    container_prunable,
    image_prunable,
    layers_size,
    match_labels,
    shared_sizes,
)
from swarmpy.server.convert.events import EVENT_FILTERS, event_matches
from swarmpy.server.filters import Filters, parse_filters


def filters(**values: list[str]) -> Filters:
    return parse_filters(json.dumps({k.replace("_not", "!"): v for k, v in values.items()}), [
        "label", "label!", "until", "dangling",
    ])  # fmt: skip


def test_only_stopped_containers_are_pruned() -> None:
    none = Filters()
    assert container_prunable("exited", 10.0, {}, none, None)
    assert container_prunable("created", 10.0, {}, none, None)
    for active in ("running", "paused", "restarting"):
        assert not container_prunable(active, 10.0, {}, none, None)
    # until: only what was made before it.
    assert not container_prunable("exited", 10.0, {}, none, until=5.0)
    assert container_prunable("exited", 10.0, {}, none, until=15.0)


def test_prune_labels_keep_and_exclude() -> None:
    assert match_labels(filters(label=["keep"]), {"keep": "1"})
    assert not match_labels(filters(label=["keep"]), {})
    assert not match_labels(filters(label_not=["keep"]), {"keep": "1"})
    assert match_labels(filters(label_not=["keep=2"]), {"keep": "1"})


IMAGE = ImageFacts("sha256:a", ("busybox:latest",), 10.0, {}, ("l1", "l2"), 300)
DANGLING = ImageFacts("sha256:b", (), 10.0, {}, ("l1", "l3"), 250)


def test_images_pruned_dangling_unless_all_and_never_in_use() -> None:
    none = Filters()
    assert not image_prunable(IMAGE, set(), True, none, None)
    assert image_prunable(DANGLING, set(), True, none, None)
    assert image_prunable(IMAGE, set(), False, none, None)
    assert not image_prunable(DANGLING, {"sha256:b"}, False, none, None)
    assert not image_prunable(DANGLING, set(), True, none, until=5.0)


def test_layer_sizes_count_shared_layers_once() -> None:
    sizes = {"l1": 100, "l2": 200, "l3": 150}
    assert layers_size([IMAGE, DANGLING], sizes) == 450
    assert shared_sizes([IMAGE, DANGLING], sizes) == {"sha256:a": 100, "sha256:b": 100}
    assert shared_sizes([IMAGE], sizes) == {"sha256:a": 0}


def event(kind: str, actor_id: str, name: str, action: str = "create") -> dict[str, object]:
    return {
        "Type": kind,
        "Action": action,
        "Actor": {"ID": actor_id, "Attributes": {"name": name}},
        "scope": "swarm",
        "time": 1,
        "timeNano": 1_000_000_000,
    }


def test_event_filters_match_ids_and_names_by_prefix_as_dockers() -> None:
    web = event("service", "abc123", "web")

    def match(flt: dict[str, list[str]], ev: dict[str, object]) -> bool:
        return event_matches(parse_filters(json.dumps(flt), EVENT_FILTERS), ev)

    assert match({"service": ["web"]}, web)
    assert match({"service": ["abc"]}, web)  # an ID prefix
    assert match({"service": ["we"]}, web)  # Docker's FuzzyMatch: a name prefix too
    assert not match({"service": ["db"]}, web)
    assert match({"type": ["service", "node"], "event": ["create"]}, web)
    assert not match({"event": ["remove"]}, web)
    assert match({"scope": ["swarm"]}, web)
    assert not match({"scope": ["local"]}, web)
    assert not match({"container": ["x"]}, web)
    assert match({"image": ["busybox"]}, event("image", "sha", "busybox:latest"))
    assert not match({"image": ["alpine"]}, event("image", "sha", "busybox:latest"))


def test_container_events_carry_dockers_attributes() -> None:
    from swarmpy.engine import bundle
    from swarmpy.engine.events import ContainerEvents, signal_number
    from swarmpy.server.convert.events import local_event

    got: list[tuple[str, str, dict[str, str]]] = []
    events = ContainerEvents({"com.docker.swarm.service.name": "io.swarmpy.service"})

    def failing(action: str, cid: str, attributes: dict[str, str]) -> None:
        raise RuntimeError("a broken listener")

    events.subscribe(failing)  # logged; the others still hear of it
    events.subscribe(lambda action, cid, attributes: got.append((action, cid, attributes)))
    annotations = {
        bundle.ANN_IMAGE: "busybox:latest",
        bundle.ANN_NAME: "web.1.abc",
        bundle.ANN_LABEL_PREFIX + "tier": "front",
        "io.swarmpy.service": "web",
    }
    events.emit("die", "c1", annotations, exitCode="137")
    assert got == [
        (
            "die",
            "c1",
            {
                "tier": "front",
                "com.docker.swarm.service.name": "web",
                "image": "busybox:latest",
                "name": "web.1.abc",
                "exitCode": "137",
            },
        )
    ]
    assert (signal_number("TERM"), signal_number("SIGKILL"), signal_number("9")) == (
        "15",
        "9",
        "9",
    )
    event = local_event("container", "die", "c1", got[0][2], 2.5)
    assert (event["status"], event["id"], event["from"]) == ("die", "c1", "busybox:latest")
    assert (event["Type"], event["scope"], event["timeNano"]) == (
        "container",
        "local",
        2_500_000_000,
    )

    def match(flt: dict[str, list[str]]) -> bool:
        return event_matches(parse_filters(json.dumps(flt), EVENT_FILTERS), event)

    assert match({"container": ["web.1"]})
    assert match({"image": ["busybox"]})  # a container's image, without its tag
    assert match({"label": ["tier=front"], "scope": ["local"]})
    assert not match({"type": ["service"]})
