"""How many cases a property test draws: the full number under ``make
test``, a tenth of it (at least 5) under ``make test-fast``, which sets
``VITLESSON_FAST_TESTS=1`` so that the edit-test loop stays short."""

import os

FAST = os.environ.get("VITLESSON_FAST_TESTS") == "1"


def examples(full: int) -> int:
    return max(5, full // 10) if FAST else full
