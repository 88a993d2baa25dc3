"""The inference engine: `Upscaler` runs a network on images of any size on any device.

It owns device and precision choice (`device`), tile geometry and blending (`tiling`), the exact
breadth-first executor that runs a family's program over tiles (`breadth_first`, which imports no
network), whole-image statistics for overlap tiles (`statistics`), the x8 self-ensemble
(`ensemble`) and the optional OpenVINO back-end (`openvino`). It knows families only through
`srzoo.models.ModelFamily`.
"""
