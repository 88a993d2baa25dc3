"""Network families. Importing this package registers all of them."""

from srzoo.models import aidn, alkdn, ddistill, lkdn  # noqa: F401  (registration side effects)
from srzoo.models.registry import (
    SCALES,
    ModelFamily,
    build_model,
    check_scale,
    get_family,
    list_families,
)

__all__ = ["SCALES", "ModelFamily", "build_model", "check_scale", "get_family", "list_families"]
