"""The executor's node description is the session request's, field for field."""

from __future__ import annotations

from swarmpy import codec
from swarmpy.agent.exec import NodeDescription
from swarmpy.api import dispatcher_pb2
from swarmpy.model import ENGINE_VERSION, Resources


def test_node_description_converts_to_the_session_request() -> None:
    desc = NodeDescription(
        "host1", "198.51.100.7", Resources(nano_cpus=2 * 10**9, memory_bytes=1 << 30)
    )
    pb = codec.to_proto(desc, dispatcher_pb2.NodeDescription())
    assert (pb.hostname, pb.addr, pb.engine_version) == ("host1", "198.51.100.7", ENGINE_VERSION)
    assert pb.resources.memory_bytes == 1 << 30
    assert codec.from_proto(NodeDescription, pb) == desc
