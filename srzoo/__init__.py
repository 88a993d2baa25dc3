"""srzoo: command-line super-resolution with a zoo of lightweight networks."""

from srzoo.errors import SrzooError
from srzoo.models import build_model, get_family, list_families

__version__ = "0.1.0"

__all__ = ["SrzooError", "__version__", "build_model", "get_family", "list_families", "upscale", "upscale_files"]


def __getattr__(name: str) -> object:
    """Import `srzoo.upscale` / `srzoo.upscale_files` on first use, so that `import srzoo` stays fast."""
    if name == "upscale":
        from srzoo.api import upscale

        return upscale
    if name == "upscale_files":
        from srzoo.media.batch import upscale_files

        return upscale_files
    raise AttributeError(f"module 'srzoo' has no attribute {name!r}")
