"""Network families: a package per family (network, breadth-first program, training recipe,
state-dict detection, torch-free facts), the shared layers, and the registry that names them."""

from srzoo.models.family import SCALES, Form, ModelFamily, Reading
from srzoo.models.registry import build_model, check_scale, get_family, list_families

__all__ = ["SCALES", "Form", "ModelFamily", "Reading", "build_model", "check_scale", "get_family", "list_families"]
