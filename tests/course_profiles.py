"""The course NIM's runnable profile names, as the packaged manifest spells them (one place for the tests)."""

OPT = "nimlab_native-cpu-int8-tp1-pp1-throughput"  # optimized, auto-selected on >= 2 CPUs with AVX2
OPT_FP32 = "nimlab_native-cpu-fp32-tp1-pp1-throughput"  # optimized fp32 (force it to compare precision)
BF16 = "nimlab_native-cpu-bf16-tp1-pp1-throughput"  # needs avx512_bf16
GEN = "nimlab_torch-fp32-tp1-pp1"  # generic: no hardware tag, batches in flight too
OPT_LORA = "nimlab_native-cpu-fp32-tp1-pp1-throughput-lora"
GEN_LORA = "nimlab_torch-fp32-tp1-pp1-lora"
