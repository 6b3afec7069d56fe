"""One module per group of Engine API endpoints, each with ``add_routes(routes)``.

The swarm's objects (system, swarm, nodes, services, tasks, networks), over the control API,
and the node's own (disk usage and prunes, containers, exec, images), over its engine (see
``server/local.py``).
"""

from __future__ import annotations

from types import ModuleType

from swarmpy.server.routes import build as build
from swarmpy.server.routes import configs as configs
from swarmpy.server.routes import containers as containers
from swarmpy.server.routes import disk as disk
from swarmpy.server.routes import execs as execs
from swarmpy.server.routes import images as images
from swarmpy.server.routes import lifecycle as lifecycle
from swarmpy.server.routes import networks as networks
from swarmpy.server.routes import nodes as nodes
from swarmpy.server.routes import secrets as secrets
from swarmpy.server.routes import services as services
from swarmpy.server.routes import swarm as swarm
from swarmpy.server.routes import system as system
from swarmpy.server.routes import tasks as tasks
from swarmpy.server.routes import volumes as volumes

ROUTE_MODULES: tuple[ModuleType, ...] = (
    system,
    swarm,
    nodes,
    services,
    tasks,
    networks,
    secrets,
    configs,
    disk,
    containers,
    execs,
    images,
    lifecycle,
    build,
    volumes,
)
