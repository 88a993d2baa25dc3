"""ALKDNet (Qu & Ke 2024): `network` builds it, `program` tiles it exactly, `recipe` trains it,
`detect` recognises its state dicts. This module is torch-free: the family's facts."""

from srzoo.models.family import ModelFamily

MIN_INPUT_SIZE = 13
FAMILIES = (
    ModelFamily(name="alkdn", title="ALKDNet", aliases=("alkdnet",), package=__name__,
                min_input_size=MIN_INPUT_SIZE, locality="global", fp16=True, bytes_per_px=13_000,
                openvino=frozenset({"fp32"})),
)
