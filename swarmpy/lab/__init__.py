"""Several hosts on one machine, as network namespaces (the lab and the test fixtures)."""

# Here rather than in manage.py so the CLI can show it without importing the lab machinery.
DEFAULT_NAME = "lab"
