"""DDistill-SR: `network` builds and folds it, `program` tiles it exactly, `recipe` trains it,
`detect` recognises its state dicts. This module is torch-free: the family's facts."""

from srzoo.models.family import ModelFamily

MIN_INPUT_SIZE = 15
# fp16: overflow-prone on full-amplitude input (see its spec).
FAMILIES = (
    ModelFamily(name="ddistill", title="DDistill-SR", aliases=("ddistill-sr", "ddistillsr"),
                package=__name__, forms=("training", "inference"), folder="fold_ddistill",
                min_input_size=MIN_INPUT_SIZE, locality="global", fp16=False, bytes_per_px=10_000,
                channels_last=frozenset({"cpu"}), openvino=frozenset({"fp32", "bf16"})),
)
