"""Scripts that run inside ``kas shell`` (host python3 + BitBake's lib), not imported by the CLI."""

from pathlib import Path

GRAPH_PROBE = Path(__file__).with_name("graph_probe.py")
RECIPE_RUN = Path(__file__).with_name("recipe_run.py")
