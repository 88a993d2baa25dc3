"""The `srzoo` command line. Each sub-command lives in its own module and registers on import."""

from srzoo.cli import bench, eval, models, train, upscale, zoo  # noqa: F401  (registers commands)
from srzoo.cli.app import app, main

__all__ = ["app", "main"]
