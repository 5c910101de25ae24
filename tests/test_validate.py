"""`neuroart.validate`: the one check of numbers from any front end (finite, in range)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuroart._util import NeuroartError


def test_validate_refuses_non_finite_and_out_of_range():
    from neuroart import validate as V

    for bad in (math.inf, -math.inf, math.nan, "inf", "nan", "x", None, True, [1]):
        with pytest.raises(NeuroartError, match="lr must be a finite number > 0"):
            V.finite("lr", bad, low=0, low_open=True)
    with pytest.raises(NeuroartError, match=r"lr must be a finite number > 0, got inf$"):
        V.finite("lr", float("inf"), low=0, low_open=True)
    with pytest.raises(NeuroartError, match=r"span must be a finite number > 0.5 and < 1, got 1.0"):
        V.finite("span", 1.0, low=0.5, low_open=True, high=1, high_open=True)
    assert V.finite("lr", "0.25", low=0) == 0.25 and V.finite("x", np.float32(2)) == 2.0
    for bad in (0, -1, 2.5, math.inf, math.nan, "3x", True, 10**9):
        with pytest.raises(NeuroartError, match="steps must be a positive integer"):
            V.positive_int("steps", bad, high=1000)
    assert V.positive_int("steps", 3.0) == 3 and V.positive_int("steps", np.int64(7)) == 7
    assert V.integer("seed", "12", low=0) == 12
    with pytest.raises(NeuroartError, match="frames must be an integer >= 2 and <= 1000, got 1"):
        V.integer("frames", 1, low=2, high=1000)


def test_validate_imports_neither_tensorflow_nor_click():
    import subprocess
    import sys

    code = "import sys, neuroart.validate; print('tensorflow' in sys.modules, 'click' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
