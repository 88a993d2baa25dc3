"""AIDN (NTIRE 2022 efficient SR): `network` builds it, `program` tiles it exactly, `recipe` trains
it, `detect` recognises its state dicts. This module is torch-free: the family's facts."""

from srzoo.models.family import ModelFamily

MIN_INPUT_SIZE = 15
FAMILIES = (
    ModelFamily(name="aidn", title="AIDN", aliases=("arfdn", "aidn-ntire22"), package=__name__,
                min_input_size=MIN_INPUT_SIZE, locality="global", fp16=True, bytes_per_px=6_000,
                channels_last=frozenset({"cpu"}), openvino=frozenset({"fp32", "bf16"})),
)
