"""Compose files as `docker stack deploy` reads them (docker/cli's cli/compose): load YAML,
interpolate ${VAR}s, validate against docker/cli's schema, merge several files, and convert the
result to Engine API specs. Pure functions over plain data; the only I/O is reading the files a
Compose file names (env_file, secrets' and configs' file:), done by the loader.

The CLI's `swarmpy stack` commands (swarmpy.cli.stack) send what this package makes to the
daemon; nothing here talks to a daemon.
"""

# The labels docker/cli's convert puts on a stack's objects: the stack's name on every one, and
# on a service the image as the file wrote it.
LABEL_NAMESPACE = "com.docker.stack.namespace"
LABEL_IMAGE = "com.docker.stack.image"
