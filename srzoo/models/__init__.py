"""Network families: one module per family, and the registry that names them (no torch until a build)."""

from srzoo.models.registry import (
    SCALES,
    ModelFamily,
    build_model,
    check_scale,
    get_family,
    list_families,
)

__all__ = ["SCALES", "ModelFamily", "build_model", "check_scale", "get_family", "list_families"]
