"""The ``half`` fixture: the lab of the fping tests (fpinglab.py), removed after each test."""

import pytest
from fpinglab import half_alive_lab


@pytest.fixture
def half(make_lab):
    return half_alive_lab(make_lab)
