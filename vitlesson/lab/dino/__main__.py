"""``python -m vitlesson.lab.dino`` (see :mod:`vitlesson.lab.dino.command`)."""

from vitlesson.lab.dino.command import main

main()
