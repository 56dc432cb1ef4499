"""The export toolchain: the MutualFormer model, training and ONNX export (needs the export extra)."""

__all__: list[str] = []
