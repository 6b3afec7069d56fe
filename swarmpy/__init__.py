"""swarmpy: a Docker-Swarm-style multi-node container orchestrator."""

import os

# gRPC's fork handlers abort children forked while its threads are busy (pyroute2 and
# subprocess fork): the daemon never uses gRPC in a child, so it needs none of them.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
