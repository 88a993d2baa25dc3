"""srzoo: command-line super-resolution with a zoo of lightweight networks."""

from srzoo.errors import SrzooError
from srzoo.models import build_model, get_family, list_families

__version__ = "0.1.0"

__all__ = ["SrzooError", "__version__", "build_model", "get_family", "list_families", "upscale"]


def __getattr__(name: str) -> object:
    """Import `srzoo.upscale` on first use, so that `import srzoo` stays fast."""
    if name == "upscale":
        from srzoo.api import upscale

        return upscale
    raise AttributeError(f"module 'srzoo' has no attribute {name!r}")
