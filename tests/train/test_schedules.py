import math

import pytest

from ktbert.train.schedules import annealing_cos, one_cycle_schedule


def test_one_cycle_endpoints_and_peak():
    lr = 1e-3
    f = one_cycle_schedule(lr, total_steps=101, pct_start=0.25, div=25.0, div_final=1e5)
    assert f(0) == pytest.approx(lr / 25.0, rel=1e-12)
    assert f(25) == pytest.approx(lr, rel=1e-12)
    assert f(100) == pytest.approx(lr / 1e5, rel=1e-12)
    assert max(f(i) for i in range(101)) == pytest.approx(lr, rel=1e-12)


def test_one_cycle_follows_the_documented_formula():
    lr, n, pct = 2e-5, 40, 0.3
    f = one_cycle_schedule(lr, n, pct_start=pct, div=10.0, div_final=1e4)
    w = math.floor(pct * (n - 1) + 0.5) / (n - 1)  # the warm-up ends on step 12 of 39
    assert w == 12 / 39 and f(12) == lr
    for i in range(n):
        pos = i / (n - 1)
        if pos < w:
            expected = lr + (lr / 10.0 - lr) / 2 * (1 + math.cos(math.pi * pos / w))
        else:
            p = (pos - w) / (1 - w)
            expected = lr / 1e4 + (lr - lr / 1e4) / 2 * (1 + math.cos(math.pi * p))
        assert f(i) == pytest.approx(expected, rel=1e-12)


def test_annealing_cos_midpoint():
    assert annealing_cos(1.0, 0.0, 0.5) == pytest.approx(0.5)


def test_bad_pct_start():
    with pytest.raises(ValueError, match=r"`pct_start` must be in \[0, 1\). Received: pct_start=1.0"):
        one_cycle_schedule(1e-3, 10, pct_start=1.0)
