"""How many cases the property tests of multi-crop and the data sets draw."""

from __future__ import annotations

from tests.support.examples import property_settings

SETTINGS = property_settings(60)
