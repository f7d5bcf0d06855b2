"""The argument validators every room uses, one of each: counts, rates, fractions, choices, maxlen, texts.

Each returns the value in its plain Python type or raises an error that names the argument,
echoes what was received and says what would be right. This module imports no room, so any
room may import it.
"""

from __future__ import annotations

import math
import numbers

MIN_MAXLEN = 8
MAX_MAXLEN = 512
PAIRS_FIX = ("For text pairs, pass one (text_a, text_b) pair of two strings per entry, e.g. "
             "list(zip(texts_a, texts_b, strict=True)).")


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_missing(value) -> bool:
    """None, NaN (Python or NumPy floats), pandas' NA or NaT: a cell with no value."""
    if value is None:
        return True
    if isinstance(value, numbers.Real):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def check_count(value, what: str) -> int:
    """A positive integer: epochs, cycles, steps, batch sizes."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{what}` must be a positive integer. Received: {what}={value!r}")
    return int(value)


def check_whole_number(value, what: str) -> int:
    """An integer >= 0: caps that may be zero (texts to explain)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"`{what}` must be an integer >= 0. Received: {what}={value!r}")
    return int(value)


def check_rate(value, what: str = "lr") -> float:
    """A positive, finite number: learning rates, temperatures."""
    if not _is_number(value) or not 0 < value < math.inf:
        raise ValueError(f"`{what}` must be a positive number. Received: {what}={value!r}")
    return float(value)


def check_non_negative(value, what: str) -> float:
    """A finite number >= 0: weight decay."""
    if not _is_number(value) or not 0 <= value < math.inf:
        raise ValueError(f"`{what}` must be a number >= 0. Received: {what}={value!r}")
    return float(value)


def check_fraction(value, what: str) -> float:
    """A number strictly between 0 and 1: shares of data, decision thresholds."""
    if not _is_number(value) or not 0.0 < value < 1.0:
        raise ValueError(f"`{what}` must lie strictly between 0 and 1. Received: {what}={value!r}")
    return float(value)


def check_dropout(value, what: str = "dropout") -> float:
    """A dropout rate: a number in [0, 1). `what` may be a path in a config ("model.dropout")."""
    if not _is_number(value) or not 0 <= value < 1:
        raise ValueError(f"`{what}` must be a number in [0, 1). Received: {what.rsplit('.', 1)[-1]}={echo(value)}")
    return float(value)


def check_maxlen(maxlen, limit: int | None = None) -> int:
    """Tokens per text, [CLS] and [SEP] included: 8 up to `limit` (the encoder's longest
    input; None or anything above 512: 512, the BERT family's ceiling). The one check of
    `maxlen`: settings check it against 512 before an encoder is chosen, the preprocessor
    against its encoder's limit."""
    limit = MAX_MAXLEN if limit is None else min(int(limit), MAX_MAXLEN)
    if not isinstance(maxlen, numbers.Integral) or isinstance(maxlen, bool):
        raise TypeError(f"`maxlen` must be an integer. Received: maxlen={echo(maxlen)}")
    if not MIN_MAXLEN <= maxlen <= limit:
        raise ValueError(f"`maxlen` must be between {MIN_MAXLEN} and {limit}. Received: maxlen={maxlen}")
    return int(maxlen)


def check_choice(value, choices, what: str, fix: str = ""):
    """`value` if it is one of `choices` (compared with ==), else a ValueError naming them, and
    `fix` (a sentence on what to do instead) when given."""
    try:
        known = any(isinstance(value, type(c)) and isinstance(value, bool) == isinstance(c, bool) and value == c
                    for c in choices)
    except (TypeError, ValueError):  # an array compared element by element
        known = False
    if not known:
        raise ValueError(f"`{what}` must be one of {list(choices)}. Received: {what}={echo(value)}"
                         + (f". {fix}" if fix else ""))
    return value


def check_stride(value, budget: int, what: str = "stride") -> int:
    """Tokens between the starts of sliding windows of `budget` tokens: 1 to `budget`."""
    value = check_count(value, what)
    if value > budget:
        raise ValueError(f"`{what}` must be at most maxlen - 2 = {budget}, or windows would skip tokens. "
                         f"Received: {what}={value}")
    return value


def check_seed(value, what: str = "seed"):
    """An integer seed (0 to 2**32 - 1), or None for an unseeded run."""
    if value is None:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"`{what}` must be an integer from 0 to 2**32 - 1, or None. Received: {what}={echo(value)}")
    if not 0 <= value < 2**32:
        raise ValueError(f"`{what}` must be an integer from 0 to 2**32 - 1, or None. Received: {what}={value}")
    return int(value)


def check_flag(value, what: str) -> bool:
    """True or False (NumPy's bools too); never a truthy string such as "no"."""
    numpy_bool = type(value).__module__ == "numpy" and getattr(value, "dtype", None) == bool and value.ndim == 0
    if not isinstance(value, bool) and not numpy_bool:
        raise TypeError(f"`{what}` must be True or False. Received: {what}={echo(value)}")
    return bool(value)


def check_verbose(value) -> int:
    """0 (quiet), 1 or 2, as Keras takes `verbose`; True and False count as 1 and 0."""
    if not isinstance(value, numbers.Integral):
        raise TypeError(f"`verbose` must be 0, 1 or 2. Received: verbose={echo(value)}")
    if value not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 0, 1 or 2. Received: verbose={value}")
    return int(value)


def check_path(value, what: str, kind: str = "file"):
    """A path (str or os.PathLike) to a file or folder, returned as str; nothing is opened."""
    import os

    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)) or value == "":
        raise TypeError(f"`{what}` must be a {kind} path (str). Received: {what}={echo(value)}")
    return os.fspath(value)


def cut(value, limit: int = 80) -> str:
    """`repr(value)`, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def echo(value, limit: int = 80) -> str:
    """`repr(value)` cut to `limit` characters, with its type when that is not obvious."""
    text = cut(value, limit)
    if isinstance(value, (str, int, float, bool, type(None))):
        return text
    return f"{text} ({type(value).__name__})"


def _fix_surrogates(text: str) -> str:
    """`text` with lone UTF-16 surrogates (not encodable as UTF-8) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def check_texts(texts, what: str = "texts", allow_empty: bool = True) -> list:
    """Returns `texts` as a list of str, or raises naming the first bad entries by position.

    Lone surrogates (from JSON escapes or `surrogateescape` decoding) cannot be encoded as
    UTF-8; they become U+FFFD, as a browser shows them.
    """
    if isinstance(texts, str):
        raise TypeError(f"`{what}` must be a list of strings, not one string. Received: {texts[:60]!r}. "
                        "Wrap it in a list: [text].")
    if isinstance(texts, (bytes, bytearray)):
        raise TypeError(f"`{what}` must be a list of strings, not bytes. Received: {what}={echo(texts)}. "
                        "Decode it first, e.g. [data.decode('utf-8')].")
    if isinstance(texts, (set, frozenset)):
        raise TypeError(f"`{what}` must be a list of strings, not a set: a set has no order, so the answers "
                        f"could not be matched to the texts. Received: {what}={echo(texts)}. Pass a list.")
    if isinstance(texts, dict):
        raise TypeError(f"`{what}` must be a list of strings, not a dict. Received: {what}={echo(texts)}. "
                        "Pass its values, e.g. list(d.values()).")
    if getattr(texts, "ndim", 1) != 1:
        raise TypeError(f"`{what}` must be a flat list of strings; it has {texts.ndim} dimensions. "
                        f"Received: {what}={echo(texts)}. Pass one column, e.g. df['text'].")
    try:
        texts = list(texts)
    except TypeError:
        raise TypeError(f"`{what}` must be a list of strings. Received: {what}={echo(texts)}. "
                        "Pass e.g. ['a first text', 'a second one'].") from None
    missing = [i for i, t in enumerate(texts) if is_missing(t)]
    if missing:
        raise ValueError(
            f"`{what}` has {len(missing)} missing value(s) (None or NaN) at position(s) "
            f"{missing[:10]}. Drop those rows or fill them (e.g. df.dropna(subset=[...]))."
        )
    wrong = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if wrong:
        i = wrong[0]
        kind = type(texts[i]).__name__
        fix = {"bytes": "Decode them first, e.g. [t.decode('utf-8') for t in texts].",
               "list": f"Pass one flat list of strings, not a list of lists. {PAIRS_FIX}",
               "tuple": f"Pass one flat list of strings, not a list of tuples. {PAIRS_FIX}"}.get(
            kind, "Convert the column with .astype(str) if that is what you mean.")
        raise TypeError(
            f"`{what}` must hold strings; position {i} holds {kind} {cut(texts[i])}. {fix}"
        )
    texts = [_fix_surrogates(t) for t in texts]
    if not allow_empty:
        empty = [i for i, t in enumerate(texts) if not t.strip()]
        if empty:
            raise ValueError(
                f"`{what}` has {len(empty)} empty or blank text(s) at position(s) {empty[:10]}. "
                "A classifier cannot learn from them: drop those rows."
            )
    if not texts:
        raise ValueError(f"`{what}` is empty: there is nothing to tokenize.")
    return texts


def is_pairs(texts) -> bool:
    """Whether `texts` is a list of text pairs: its first entry a 2-tuple or 2-list (not a string)."""
    if isinstance(texts, (str, bytes, dict)) or getattr(texts, "ndim", 1) == 0:
        return False
    if getattr(texts, "ndim", 1) == 2 and getattr(texts, "shape", (0, 0))[1] == 2:
        return True
    try:
        first = texts.iloc[0] if hasattr(texts, "iloc") else next(iter(texts), None)
    except (TypeError, IndexError):  # not a sequence (check_texts says so), or an empty Series
        return False
    return isinstance(first, (tuple, list)) and len(first) == 2


def check_pairs(pairs, what: str = "pairs", allow_empty: bool = True) -> tuple:
    """`(texts_a, texts_b)`, two lists of str, from a list of `(a, b)` pairs (or an `(n, 2)`
    array); raises naming the first bad pair by position, as `check_texts` does for texts."""
    if getattr(pairs, "ndim", 1) == 2:
        pairs = [tuple(row) for row in pairs]
    try:
        pairs = list(pairs)
    except TypeError:
        raise TypeError(f"`{what}` must be a list of (text_a, text_b) pairs. Received: {what}={echo(pairs)}.") from None
    wrong = [i for i, p in enumerate(pairs) if not isinstance(p, (tuple, list)) or len(p) != 2]
    if wrong:
        found = pairs[wrong[0]]
        count = f" ({len(found)} text{'s' * (len(found) != 1)})" if isinstance(found, (tuple, list)) else ""
        raise TypeError(f"`{what}` must hold (text_a, text_b) pairs; position {wrong[0]} holds "
                        f"{cut(found)}{count}. Pass every entry as a pair of two strings, e.g. "
                        "list(zip(texts_a, texts_b, strict=True)) (strict: two lists of different lengths are "
                        "refused, not cut to the shorter).")
    a = check_texts([p[0] for p in pairs], f"{what}[i][0]", allow_empty)
    b = check_texts([p[1] for p in pairs], f"{what}[i][1]", allow_empty)
    return a, b


def check_texts_or_pairs(texts, what: str = "texts", allow_empty: bool = True) -> list:
    """`texts` checked as `check_texts` does, or as `check_pairs` does when it holds pairs: a
    list of str, or a list of `(a, b)` tuples of str."""
    if is_pairs(texts):
        return list(zip(*check_pairs(texts, what, allow_empty)))
    return check_texts(texts, what, allow_empty)
