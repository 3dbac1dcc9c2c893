"""``python -m vitlesson.dino`` (see :mod:`vitlesson.dino.command`)."""

from vitlesson.dino.command import main

main()
