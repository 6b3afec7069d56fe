"""/secrets: create, list, inspect (never the data), update (labels only), remove."""

from __future__ import annotations

from swarmpy.dockerjson.fileobjects import secret_json
from swarmpy.server.app import Routes
from swarmpy.server.routes.fileobjects import FileRoutes


def add_routes(routes: Routes) -> None:
    FileRoutes("secret", lambda api: api.secrets, secret_json).add(routes)
