"""srzoo: command-line super-resolution with a zoo of lightweight networks."""

from srzoo.errors import SrzooError
from srzoo.models import build_model, get_family, list_families

__version__ = "0.1.0"

__all__ = ["SrzooError", "__version__", "build_model", "get_family", "list_families"]
