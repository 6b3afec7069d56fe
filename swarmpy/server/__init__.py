"""The Docker Engine API, served by the daemon so Docker's CLI and docker-py drive swarmpy.

- ``app.py``: the aiohttp application, its middlewares (API version prefix and negotiation,
  errors as ``{"message"}`` with Docker's status codes) and the route helper;
- ``routes/``: one module per group of endpoints (system, swarm, nodes, services, tasks,
  networks), thin handlers over the node's control API and membership; and the node's own
  (containers, exec, images) over its engine, with what they share in ``local.py``;
- ``convert/``: Docker's JSON <-> swarmpy.model, pure functions (strict on input);
- ``filters.py``: Docker's ``filters=`` parameter; ``logstream.py``/``stream.py``: log streams
  in Docker's multiplexed framing; ``events.py``: the recent events for ``/events``;
  ``hijack.py``: the connection exec start takes over (101 UPGRADED, raw both ways);
- ``backend.py``: what the server needs of the daemon; ``listeners.py``: unix and TCP (TLS)
  sockets, started by swarmpy.daemon.
"""
