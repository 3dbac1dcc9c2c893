"""How property tests draw their cases: the full number under ``make test``,
a tenth of it (at least 5) under ``make test-fast``, which sets
``VITLESSON_FAST_TESTS=1`` so that the edit-test loop stays short. In CI
(``CI`` set) the same pseudo-random cases run every time: a submission must
not pass or fail by luck; locally every run draws new ones, which is how the
bugs these tests found were found."""

import os

from hypothesis import HealthCheck, settings

FAST = os.environ.get("VITLESSON_FAST_TESTS") == "1"

settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def examples(full: int) -> int:
    return max(5, full // 10) if FAST else full


def property_settings(full: int) -> settings:
    """``full`` cases (fewer under test-fast), no deadline: a case that
    builds a model may take a while on two cores."""
    return settings(
        max_examples=examples(full),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
