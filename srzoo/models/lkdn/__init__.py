"""LKDN and LKDN-S (Xie et al., "Large Kernel Distillation Network", CVPRW 2023): one network
class at two sizes. `network` builds and folds them, `program` tiles them exactly, `recipe` trains
them, `detect` recognises their state dicts. This module is torch-free: the families' facts."""

from srzoo.models.family import ModelFamily

# fp16: LKDN's and LKDN-S's pre-LayerNorm activations reach 3e10 and 7e4 on Set14 ppt3 (overflow).
FAMILIES = (
    ModelFamily(name="lkdn", title="LKDN", aliases=("lkdnet",), package=__name__, builder="build_lkdn",
                fp16=False, bytes_per_px=10_000, openvino=frozenset({"fp32", "bf16"})),
    ModelFamily(name="lkdn-s", title="LKDN-S", aliases=("lkdns", "lkdnets"), package=__name__,
                builder="build_lkdn_s", forms=("training", "inference"), folder="fold_lkdn",
                fp16=False, bytes_per_px=6_500, openvino=frozenset({"fp32", "bf16"})),
)
