"""Docker's Engine API JSON <-> swarmpy.model, as pure functions.

Base layer: the daemon's Engine API (swarmpy.server) reads and writes service specs with it,
and the CLI, an Engine API client, builds the same JSON from its flags and reads it back.
"""
