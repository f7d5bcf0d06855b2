"""ktrain's arguments that ktbert does not use: refused or warned about.

The loaders and `get_learner` keep ktrain's signatures so tutorials port unchanged; these two
functions say what of them ktbert ignores, and why.
"""

from __future__ import annotations

import warnings

from ktbert.checks import check_choice

PREPROCESS_MODES = ("bert",)


def check_preprocess_mode(preprocess_mode: str) -> None:
    """ktrain's `preprocess_mode`: only 'bert' is offered."""
    check_choice(preprocess_mode, PREPROCESS_MODES, "preprocess_mode",
                 "ktbert fine-tunes BERT encoders only; for a TF-IDF baseline see `ktbert.compare`")


WORD_VECTORS = "only mattered for ktrain's word-vector models and are ignored by BERT preprocessing"


def warn_ignored(why: str = WORD_VECTORS, **given) -> None:
    """Warns, saying `why`, about ktrain arguments given a value ktbert does not use (None: not given)."""
    used = [k for k, v in given.items() if v is not None]
    if used:
        warnings.warn(f"{', '.join(used)} {why}; remove them to silence this warning.", stacklevel=3)
