"""Docker Engine API JSON <-> swarmpy.model, one module per object; pure functions."""
