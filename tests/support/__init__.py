"""Helpers shared by tests and the lab: a busybox image built from the host's busybox-static,
a local registry (Debian's docker-registry) and pytest fixtures using both."""
