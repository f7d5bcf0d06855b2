"""Labelled data from a path, as a DataFrame: a CSV, TSV or Excel file (gzip'd too) or a folder
of class sub-folders.

The command line reads its DATA with `read_data`; in Python it gives the DataFrame that
`texts_from_df` and `train_classifier` take. `table_format` tells how a file is read.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import zipfile

from ktbert.checks import check_path
from ktbert.data.folders import read_class_folders
from ktbert.data.tables import read_table

SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
EXCEL = (".xlsx", ".xlsm")
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zip", ".zst")
SNIFFED = ",\t;|"  # the separators a file of another extension may use
SNIFF_BYTES = 1 << 16


def table_format(path: str, sep: str | None = None) -> tuple:
    """How a file is read: `("excel", None)` or `("text", separator)`.

    The extension decides (`.csv`, `.tsv`/`.tab`, `.xlsx`, each optionally compressed, e.g.
    `.tsv.gz`); `sep` overrides it; other files are sniffed for `,`, tab, `;` or `|`.
    """
    extension = base_extension(path)
    if extension in EXCEL:
        return "excel", None
    if sep is not None:
        return "text", sep
    if extension in SEPARATORS:
        return "text", SEPARATORS[extension]
    return "text", _sniff_separator(path)


def text_separator(path, sep, what: str = "train_filepath") -> str:
    """The separator of a CSV/TSV file: `sep` when given, else by extension or sniffed.

    An Excel file is refused with the way to read it.
    """
    if sep is not None and (not isinstance(sep, str) or not sep):
        raise TypeError(f"`sep` must be a non-empty string such as ',' or '\\t', or None to detect it. "
                        f"Received: sep={sep!r}")
    path = check_path(path, what)
    kind, found = table_format(path, sep)
    if kind == "excel":
        raise ValueError(f"`{what}` {str(path)!r} is an Excel workbook, not a CSV/TSV file: read it with "
                         "`ktbert.read_data(path, text_column, label_column)` and pass the frame to "
                         "`ktbert.texts_from_df`.")
    return found


def base_extension(path: str) -> str:
    """The extension under any compression's, lower-cased: ".tsv" for "Dev.TSV.gz"."""
    name = os.path.basename(str(path)).lower()
    for compression in COMPRESSIONS:
        if name.endswith(compression):
            name = name[: -len(compression)]
            break
    return os.path.splitext(name)[1]


def _opener(path):
    """`open` for the file's compression (gzip, bz2, xz), so it reads decompressed bytes."""
    import bz2
    import lzma

    name = str(path).lower()
    return next((o for ext, o in ((".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open)) if name.endswith(ext)), open)


def _sniff_separator(path) -> str:
    opener = _opener(path)
    try:
        with opener(path, "rb") as f:
            sample = f.read(SNIFF_BYTES).decode("utf-8", errors="replace")
        return csv.Sniffer().sniff(sample, delimiters=SNIFFED).delimiter
    except (OSError, csv.Error):
        return ","


def read_data(path, text_column: str = "text", label_column: str = "label", sep: str | None = None,
              encoding: str = "utf-8"):
    """Reads labelled texts from a table file or a folder of class sub-folders.

    Args:
        path: str. a `.csv`, `.tsv` or `.xlsx` file, optionally compressed (`.gz`, ...), a
            text file of another extension whose separator is sniffed, or a folder holding one
            sub-folder per class with one text file per example.
        text_column: str. for a folder, the name given to the texts' column.
        label_column: str. for a folder, the name given to the class names' column.
        sep: str or None. the field separator of a text table; None: by extension, else sniffed.
        encoding: str. the text encoding of the files.

    Returns:
        pandas.DataFrame. a table as it is, or a folder's texts and class names in two columns.

    Examples:
    ```python
    df = ktbert.read_data("reviews.tsv.gz")
    df = ktbert.read_data("aclImdb/train", text_column="review", label_column="sentiment")
    run = ktbert.train_classifier(ktbert.TrainingSettings("review", "sentiment"), df)
    ```
    """
    import pandas as pd

    path = check_path(path, "path", "file or folder")
    if os.path.isdir(path):
        return _read_folder(path, text_column, label_column, encoding)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such file or folder: {path!r}")
    kind, sep = table_format(path, sep)
    try:
        if kind == "excel":
            return _read_excel(path)
        return read_table(path, sep=sep, encoding=encoding)
    except pd.errors.EmptyDataError as err:
        raise ValueError(f"{path!r} is empty: there are no rows to read.") from err
    except pd.errors.ParserError as err:
        raise ValueError(
            f"{path!r} could not be read as a table separated by {sep!r}: {err}. Pass the file's "
            "separator, e.g. sep='\\t' for TSV."
        ) from err


def _read_excel(path):
    import pandas as pd

    try:
        if path.lower().endswith((".zip", ".zst")):
            raise ValueError(f"{path!r}: a workbook compressed as .zip or .zst cannot be read; "
                             "decompress it, or compress it with gzip (.xlsx.gz).")
        if _opener(path) is not open:  # pandas decompresses text tables only
            with _opener(path)(path, "rb") as f:
                return pd.read_excel(io.BytesIO(f.read()), engine="openpyxl")
        return pd.read_excel(path, engine="openpyxl")
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError) as err:  # gzip's and bz2's bad data are OSErrors
        raise ValueError(f"{path!r} is not an Excel workbook ({err}): save it as .xlsx, or as CSV.") from err


def _read_folder(path, text_column, label_column, encoding):
    import pandas as pd

    if not isinstance(label_column, str):
        raise ValueError(
            "A folder of class sub-folders gives one class per text: name one label column. "
            f"Received: label_column={label_column!r}"
        )
    split = [name for name in ("train", "test") if _holds_folders(os.path.join(path, name))]
    if "train" in split:
        raise ValueError(
            f"{path!r} holds train/ and test/ folders (the aclImdb layout), not class folders: read "
            f"{os.path.join(path, 'train')!r} for training and {os.path.join(path, 'test')!r} for "
            "validation separately."
        )
    texts, labels = read_class_folders(path, None, encoding)
    return pd.DataFrame({text_column: texts, label_column: labels})


def _holds_folders(path) -> bool:
    return os.path.isdir(path) and any(os.path.isdir(os.path.join(path, d)) for d in os.listdir(path))
