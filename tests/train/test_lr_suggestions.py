import numpy as np
import pytest

from ktbert.train.lr_suggestions import minimum, steep, valley


def test_suggestion_functions_on_a_known_curve():
    lrs = np.logspace(-6, 0, 13)
    losses = np.array([1.0, 1.0, 0.98, 0.9, 0.7, 0.45, 0.3, 0.25, 0.24, 0.3, 0.6, 1.2, 2.0])
    assert minimum(lrs, losses) == pytest.approx(lrs[8] / 10)
    slopes = np.gradient(losses, np.log(lrs))
    assert steep(lrs, losses) == pytest.approx(lrs[int(np.argmin(slopes))])
    assert steep(lrs, losses) == pytest.approx(lrs[4])
    # longest falling stretch: indices 1..8; two thirds of the way: 1 + 7 * 2 // 3 = 5
    assert valley(lrs, losses) == pytest.approx(lrs[5])
