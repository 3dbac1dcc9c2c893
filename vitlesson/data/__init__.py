"""The lesson's data: the sample photograph and image reading (``images``),
the generated shapes a tiny ViT learns positions from (``shapes``), the
one-object images DINO in miniature trains on (``objects``), and DINO's
multi-crop augmentation (``multicrop``)."""
