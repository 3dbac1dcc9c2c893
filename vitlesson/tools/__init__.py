"""Standalone tools: the benchmark (``bench``), moving weights between
checkpoint formats (``checkpoints``) and the attention maps of any DINO
checkpoint (``attention``)."""
