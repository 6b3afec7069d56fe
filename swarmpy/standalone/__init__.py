"""Containers outside services: what ``docker run``/``create`` make, with their restart
policies, published ports and networks, as dockerd keeps them (see docs/architecture.md,
"Standalone containers")."""
