"""Tables in: CSV/TSV files (gzip'd too) read with pandas, and texts and labels taken from DataFrames.

Column names are checked before anything is read out of them, and bytes that do not decode
are reported by line with the encoding to pass instead.
"""

from __future__ import annotations

import gzip
import os

from ktbert.checks import check_texts, echo
from ktbert.data.labels import encode_indicator_columns, encode_single_column
from ktbert.data.texts import TextData


def read_table(path, sep=",", encoding="utf-8", header="infer", read_csv_kwargs=None):
    """Reads a CSV/TSV file (gzip and other compressions by extension), naming the fix for bad bytes."""
    import pandas as pd

    if encoding is not None and not isinstance(encoding, str):
        raise TypeError(f"`encoding` must be the name of a text encoding, e.g. 'utf-8' or 'latin-1'. "
                        f"Received: encoding={echo(encoding)}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such file: {path!r}")
    unquoted_retry = sep == "\t" and "quoting" not in (read_csv_kwargs or {})
    try:
        try:
            frame = pd.read_csv(path, sep=sep, encoding=encoding, header=header, **(read_csv_kwargs or {}))
        except pd.errors.ParserError as err:
            retried = _read_unquoted(path, None, encoding, header, read_csv_kwargs) if unquoted_retry else None
            if retried is None:
                raise ValueError(
                    f"{path!r} could not be read as a table separated by {sep!r}: {str(err).strip()}. Pass the "
                    "file's separator, e.g. sep='\\t' for tab-separated files, or sep=None to detect it."
                ) from err
            return retried
        if unquoted_retry and _swallowed_records(frame):
            frame = _read_unquoted(path, frame, encoding, header, read_csv_kwargs)
        return frame
    except UnicodeDecodeError as err:
        where = _first_bad_line(path, encoding or "utf-8")
        raise ValueError(
            f"{path!r} is not valid {encoding or 'utf-8'} text: byte "
            f"{err.object[err.start:err.start + 1]!r} cannot be decoded{where}. Pass the file's "
            "encoding, e.g. encoding='latin-1' or encoding='cp1252'."
        ) from err


def _swallowed_records(frame) -> int:
    """Cells in which a later line is itself a whole record (as many tabs as the table has
    separators): rows that an unmatched quote glued together, not a quoted multi-line cell."""
    separators = len(frame.columns) - 1
    if separators < 1:
        return 0

    def swallowed(value) -> bool:
        return isinstance(value, str) and any(line.count("\t") == separators for line in value.split("\n")[1:])

    return sum(int(frame[c].map(swallowed).sum()) for c in frame.columns
               if frame[c].dtype == object or str(frame[c].dtype) in ("str", "string"))


def _read_unquoted(path, quoted, encoding, header, read_csv_kwargs):
    """A tab-separated file read again without quote processing, when a stray double quote
    opened a cell that swallowed whole records after it (`quoted`: pandas' frame), or ran to the
    end of the file (`quoted` None); says so. Returns pandas' reading (None if there was none)
    when the file does not read better that way."""
    import csv
    import warnings

    import pandas as pd

    try:
        frame = pd.read_csv(path, sep="\t", encoding=encoding, header=header, quoting=csv.QUOTE_NONE,
                            **(read_csv_kwargs or {}))
    except pd.errors.ParserError:
        return quoted
    if quoted is not None and len(frame) <= len(quoted):
        return quoted
    before = "could not read it" if quoted is None else f"read {len(quoted)} rows"
    warnings.warn(
        f"{path!r}: a double quote (\") opened a cell that swallowed the records after it, so pandas {before}; "
        f"read again without quote processing: {len(frame)} rows. Pass "
        "read_csv_kwargs={'quoting': csv.QUOTE_MINIMAL} to keep pandas' reading.",
        UserWarning, stacklevel=3,
    )
    return frame


def _first_bad_line(path, encoding) -> str:
    """' (line N)' for the first line that does not decode, or '' if it cannot be told."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            for number, line in enumerate(f, start=1):
                try:
                    line.decode(encoding)
                except UnicodeDecodeError:
                    return f" (line {number})"
    except OSError:
        return ""
    return ""



def texts_and_labels(frame, text_column, label_columns, label_sep, what, class_names=None, multilabel=None):
    """Reads texts and labels out of a DataFrame, checking the column names first."""
    if not hasattr(frame, "columns") or not hasattr(frame, "iloc"):
        raise TypeError(f"`{what}` must be a pandas DataFrame. Received: {echo(frame)}. Read a file with "
                        "`ktbert.read_data(path)` or `pandas.read_csv(path)` first.")
    columns = list(frame.columns)
    pair = isinstance(text_column, (list, tuple))
    if pair and len(text_column) != 2:
        raise ValueError(f"`text_column` must name one column of texts, or two for text pairs. Received: "
                         f"text_column={list(text_column)}")
    for name in (text_column if pair else [text_column]):
        if name not in columns:
            raise ValueError(f"`text_column` {name!r} is not a column of {what}. Columns present: {columns}")
    if isinstance(label_columns, (str, int)) and not isinstance(label_columns, bool):
        label_columns = [label_columns]
    if label_columns is not None and not isinstance(label_columns, (list, tuple)):
        raise TypeError(f"`label_columns` must be a column name or a list of names. Received: "
                        f"label_columns={echo(label_columns)}. Pass e.g. label_columns='label'.")
    label_columns = list(label_columns or [])
    if not label_columns:
        raise ValueError(
            "`label_columns` is required: name the column holding each text's class, or one "
            f"0/1 column per class. Columns present: {columns}"
        )
    unknown = [c for c in label_columns if c not in columns]
    if unknown:
        raise ValueError(
            f"`label_columns` {unknown} not found in {what}. Columns present: {columns}"
        )
    if pair:  # text pairs: one (a, b) tuple per row
        texts = list(zip(*(check_texts(frame[c].tolist(), what=f"{what}[{c!r}]", allow_empty=False)
                           for c in text_column)))
    else:
        texts = check_texts(frame[text_column].tolist(), what=f"{what}[{text_column!r}]", allow_empty=False)
    if len(label_columns) == 1:
        labels = encode_single_column(
            frame[label_columns[0]].tolist(), class_names, label_sep,
            what=f"{what}[{label_columns[0]!r}]",
        )
    else:
        if label_sep is not None:
            raise ValueError(
                "`label_sep` splits one label column into several labels; it cannot be used "
                f"with several label columns. Received: label_columns={label_columns}"
            )
        labels = encode_indicator_columns(
            frame[label_columns].to_numpy(), label_columns, multilabel, what=f"{what}{label_columns}"
        )
    return texts, labels


def tokenize_df(frame, preproc, text_column, label_columns, label_sep=None, what: str = "df") -> TextData:
    """The texts and labels of `frame`, encoded by a fitted preprocessor (its classes, its maxlen).

    For data scored after training, such as a test set: labels the training data did not have
    are refused by name.
    """
    texts, labels = texts_and_labels(frame, text_column, label_columns, label_sep, what,
                                     class_names=preproc.get_classes(), multilabel=preproc.multilabel)
    return TextData(preproc.preprocess(texts), labels.y)
