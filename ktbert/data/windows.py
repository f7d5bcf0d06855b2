"""Where the sliding windows over long texts start: every token in at least one window.

`TextPreprocessor.windows` tokenizes the texts; this module only places the windows on each
text's tokens, so the placement is plain arithmetic that a test can check by hand.
"""

from __future__ import annotations

import warnings

import numpy as np

MAX_WINDOWS = 64  # sliding windows per text at most; a longer text's windows stop there


def window_spans(lengths, budget: int, stride: int, max_windows: int, maxlen: int):
    """The windows over texts of `lengths` tokens, `budget` tokens each, one every `stride`.

    The last window of a text ends on its last token; a text that fits gives one window. A
    text that needs more than `max_windows` keeps its first `max_windows`, with a warning
    that names it.

    Returns:
        `(starts, sizes, owners)`: each window's first token in the flat token array, its
        length, and the index of its text.
    """
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    starts, owners = [], []
    for i, n in enumerate(lengths):
        last = max(int(n) - budget, 0)
        mine = list(range(0, last, stride)) + [last]
        if len(mine) > max_windows:
            mine = mine[:max_windows]
            warnings.warn(f"text {i} needs more than max_windows={max_windows} windows of {maxlen} "
                          "tokens: its end is not read. Raise `max_windows` to read it all.", stacklevel=3)
        starts.extend(int(offsets[i]) + s for s in mine)
        owners.extend([i] * len(mine))
    sizes = [min(budget, int(offsets[i + 1]) - s) for s, i in zip(starts, owners)]
    return starts, sizes, np.array(owners, dtype=np.int64)
