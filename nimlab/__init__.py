"""nimlab: a course on taking NVIDIA NIM vs hand-building TensorRT-LLM/Triton, with a runnable course NIM."""

__version__ = "0.1.0"
