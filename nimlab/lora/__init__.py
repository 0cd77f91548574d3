"""LoRA adapters for the course NIM: find and check them (no torch), train one on CPU (peft), serve them."""
