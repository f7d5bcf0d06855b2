"""ktrain's loader arguments that BERT preprocessing does not use: refused or warned about.

The loaders keep ktrain's signatures so tutorials port unchanged; these two functions say
what of them ktbert ignores.
"""

from __future__ import annotations

import warnings

PREPROCESS_MODES = ("bert",)


def check_preprocess_mode(preprocess_mode: str) -> None:
    """ktrain's `preprocess_mode`: only 'bert' is offered."""
    if preprocess_mode not in PREPROCESS_MODES:
        raise ValueError(
            f"`preprocess_mode` must be 'bert': ktbert fine-tunes BERT encoders only. "
            f"Received: preprocess_mode={preprocess_mode!r}. For a TF-IDF baseline see "
            "scikit-learn's TfidfVectorizer + LogisticRegression."
        )


def warn_ignored(**given) -> None:
    """Warns about ktrain arguments given a value that BERT preprocessing does not use."""
    used = [k for k, v in given.items() if v is not None]
    if used:
        warnings.warn(
            f"{', '.join(used)} only mattered for ktrain's word-vector models and are ignored "
            "by BERT preprocessing; remove them to silence this warning.",
            stacklevel=3,
        )
