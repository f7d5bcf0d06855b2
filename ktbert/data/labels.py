"""Turns the label column(s) users have into class indices or multi-label 0/1 rows.

Accepted: one column of strings, integers or booleans; one column of several labels joined by a
separator (`label_sep="|"`); or several 0/1 columns, one per class (one-hot, or multi-label when
a row has several 1s). Class names are kept in a stable order and returned with the labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ktbert.checks import is_missing


@dataclass
class EncodedLabels:
    """Labels ready for training.

    Args:
        y: numpy array. class indices `(n,)`, or 0/1 float32 rows `(n, classes)` if multilabel.
        class_names: list of str. the classes, index = output position.
        multilabel: bool. whether a row can hold several classes.
    """

    y: np.ndarray
    class_names: list
    multilabel: bool


def _check_missing(values, what: str) -> None:
    missing = [i for i, v in enumerate(values) if is_missing(v)]
    if missing:
        raise ValueError(
            f"{what} has {len(missing)} missing label(s) (None or NaN) at row position(s) "
            f"{missing[:10]}. Drop those rows (df.dropna(subset=[...])) or give them a class."
        )


def _name(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value).strip()


def _sort_key(name: str):
    """Numbers sort as numbers (2 before 10), everything else as text."""
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def _check_classes(class_names: list, what: str) -> None:
    if len(class_names) < 2:
        raise ValueError(
            f"{what} holds a single class {class_names}: a classifier needs at least two. "
            "Check the label column, or add examples of the other classes."
        )


def encode_single_column(values, class_names=None, label_sep=None, what="the label column") -> EncodedLabels:
    """Encodes one column of labels.

    Args:
        values: sequence. one label per text (str, int, bool), or separator-joined labels.
        class_names: list of str or None. the known classes (for validation data); None learns
            them from `values`.
        label_sep: str or None. separator between several labels in one cell (multi-label).
        what: str. how error messages name the column.
    """
    values = list(values)
    _check_missing(values, what)
    if label_sep is not None:
        rows = [[p.strip() for p in str(v).split(label_sep) if p.strip()] for v in values]
        learned = sorted({c for row in rows for c in row}, key=_sort_key)
        names = list(class_names) if class_names is not None else learned
        _check_unknown(learned, names, what)
        _check_classes(names, what)
        index = {c: i for i, c in enumerate(names)}
        y = np.zeros((len(rows), len(names)), dtype=np.float32)
        for r, row in enumerate(rows):
            y[r, [index[c] for c in row]] = 1.0
        return EncodedLabels(y, names, True)
    labels = [_name(v) for v in values]
    learned = sorted(set(labels), key=_sort_key)
    names = list(class_names) if class_names is not None else learned
    _check_unknown(learned, names, what)
    _check_classes(names, what)
    index = {c: i for i, c in enumerate(names)}
    return EncodedLabels(np.array([index[c] for c in labels], dtype=np.int32), names, False)


def encode_indicator_columns(matrix, column_names, multilabel=None, what="the label columns") -> EncodedLabels:
    """Encodes several 0/1 columns, one per class.

    Args:
        matrix: 2-D array-like `(n, classes)` of 0/1 or booleans.
        column_names: list of str. one class name per column.
        multilabel: bool or None. None decides from the data: multi-label if any row does not
            hold exactly one 1.
        what: str. how error messages name the columns.
    """
    names = [str(c) for c in column_names]
    _check_classes(names, what)
    rows = np.asarray(matrix, dtype=object)
    flat = list(rows.ravel())
    _check_missing(flat, what)
    try:
        numeric = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        numeric = None
    if numeric is None or not np.isin(numeric, (0.0, 1.0)).all():
        bad = sorted({_name(v) for v in flat if _name(v) not in ("0", "1", "True", "False")})[:5]
        raise ValueError(
            f"{what} {names} must hold only 0/1 (or True/False) when several label columns are "
            f"given. Found other values: {bad}. For one column of class names pass a single "
            "column name as `label_columns`."
        )
    per_row = numeric.sum(axis=1)
    if multilabel is None:
        multilabel = not np.all(per_row == 1)
    if not multilabel:
        if not np.all(per_row == 1):
            bad = np.flatnonzero(per_row != 1)[:10].tolist()
            raise ValueError(
                f"{what} must hold exactly one 1 per row for single-label data; rows {bad} do "
                "not. Pass multilabel=True if a text can have several classes or none."
            )
        return EncodedLabels(numeric.argmax(axis=1).astype(np.int32), names, False)
    return EncodedLabels(numeric.astype(np.float32), names, True)


def _check_unknown(found, known, what) -> None:
    unknown = [c for c in found if c not in set(known)]
    if unknown:
        raise ValueError(
            f"{what} has label(s) {unknown[:10]} that the training data does not have "
            f"(training classes: {list(known)}). Remove those rows or add examples of them to "
            "the training data."
        )


def encode_array_labels(y, class_names, label_sep, what, train_labels=None) -> EncodedLabels:
    array = np.asarray(y, dtype=object)
    if array.ndim == 2:
        names = class_names or [str(i) for i in range(array.shape[1])]
        if len(names) != array.shape[1]:
            raise ValueError(
                f"`class_names` has {len(names)} names but `{what}` has {array.shape[1]} columns."
            )
        multilabel = None if train_labels is None else train_labels.multilabel
        return encode_indicator_columns(array, names, multilabel, what=f"`{what}`")
    values = list(array)
    if class_names and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        if not all(0 <= v < len(class_names) for v in values):
            raise ValueError(
                f"`{what}` holds integers outside 0..{len(class_names) - 1}, the positions of "
                f"`class_names` {list(class_names)}."
            )
        names = [str(c) for c in class_names] if train_labels is None else train_labels.class_names
        return EncodedLabels(np.asarray(values, dtype=np.int32), names, False)
    known = None if train_labels is None else train_labels.class_names
    return encode_single_column(values, known, label_sep, what=f"`{what}`")
