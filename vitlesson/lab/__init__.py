"""The lab: what training teaches a tiny ViT on a CPU (``train``), DINO in
miniature (``dino``) and the probes that measure what a backbone learned
(``probes``)."""
