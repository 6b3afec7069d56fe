"""/configs: create, list, inspect (with the data), update (labels only), remove."""

from __future__ import annotations

from swarmpy.dockerjson.fileobjects import config_json
from swarmpy.server.app import Routes
from swarmpy.server.routes.fileobjects import FileRoutes


def add_routes(routes: Routes) -> None:
    FileRoutes("config", lambda api: api.configs, config_json).add(routes)
