"""`ktbert predict`: texts streamed from a text file, a CSV/TSV column or stdin through a saved
predictor, a chunk at a time, and labels (with probabilities) written as each chunk is done.

Memory stays bounded by the chunk, whatever the input's length. Only the serving room is
loaded: a deployed machine needs no training code. A blank line (or empty cell) is a text
like any other and gets its row, so output row N answers input text N.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import json
import os
import sys
import tempfile
import time
from itertools import islice

from ktbert.checks import check_count
from ktbert.data.reading import EXCEL, SEPARATORS, base_extension, table_format
from ktbert.saving import durable
from ktbert.serve.factories import load_predictor

STDIN = "-"


def predict(args) -> int:
    """`ktbert predict`: reads, predicts and writes chunk by chunk."""
    chunk_size = check_count(args.chunk_size, "chunk_size")
    batch_size = check_count(args.batch_size, "batch_size")
    chunks = text_chunks(args.input, args.text_column, chunk_size, args.sep, args.encoding)
    # after the input is checked: fails fast
    predictor = load_predictor(args.model_dir, batch_size=batch_size, quantize=args.quantize)
    classes = predictor.get_classes()
    progress = Progress(sys.stderr.isatty() if args.progress is None else args.progress)
    with output_stream(args.output) as out:
        write = writer(args.format, out, classes, args.proba, args.label_sep)
        for texts in chunks:
            proba = predictor.predict(texts, return_proba=True)
            write(predictor.decisions.labels(proba, classes), proba)
            out.flush()
            progress.update(len(texts))
    progress.close()
    return 0


def text_chunks(source: str, text_column, chunk_size: int, sep, encoding: str):
    """Lists of at most `chunk_size` texts from `source`; checks what it can before any is read.

    Args:
        source: str. a file path, or "-" for stdin.
        text_column: str, list or None. None reads one text a line; a name reads that column of a
            CSV/TSV (`sep` by extension, else sniffed; "," for stdin).
        chunk_size: int. texts per list.
        sep: str or None. the field separator of a table.
        encoding: str. the input's text encoding.
    """
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"`encoding` {encoding!r} is not a known text encoding; e.g. utf-8, latin-1, "
                         "cp1252.") from None
    name = "stdin" if source == STDIN else repr(source)
    if source != STDIN and not os.path.isfile(source):
        raise FileNotFoundError(f"No such file: {source!r}")
    extension = "" if source == STDIN else base_extension(source)
    if extension in EXCEL:
        raise ValueError(f"{name} is an Excel workbook, which cannot be streamed: save it as CSV "
                         "(or TSV) and predict on that.")
    if text_column is None:
        if extension in SEPARATORS:
            raise ValueError(f"{name} is a table: name the column holding the texts with --text-column.")
        return _line_chunks(source, name, chunk_size, encoding)
    if source != STDIN:
        sep = table_format(source, sep)[1]
        _check_column(_header(source, sep, encoding, name), text_column, name)
    return _table_chunks(source, name, text_column, chunk_size, sep or ",", encoding)


def _open_binary(source: str):
    if source == STDIN:
        return contextlib.nullcontext(sys.stdin.buffer)
    return gzip.open(source, "rb") if source.endswith(".gz") else open(source, "rb")


def _line_chunks(source, name, chunk_size, encoding):
    """One text a line; each line decoded alone, so a bad byte is reported with its line."""
    number = 0
    with _open_binary(source) as stream:
        while True:
            lines = list(islice(stream, chunk_size))
            if not lines:
                return
            texts = []
            for raw in lines:
                number += 1
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError as err:
                    raise ValueError(
                        f"line {number} of {name} is not valid {encoding} text: byte "
                        f"{raw[err.start:err.start + 1]!r} cannot be decoded. Pass the input's encoding, "
                        "e.g. --encoding latin-1."
                    ) from None
                if number == 1:
                    text = text.lstrip("\ufeff")  # a byte-order mark is not part of the text
                texts.append(text.rstrip("\r\n"))
            yield texts


def _header(source, sep, encoding, name) -> list:
    import pandas as pd

    try:
        return list(pd.read_csv(source, sep=sep, encoding=encoding, nrows=0).columns)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{name} is empty: there is no header row naming the columns.") from None


def _check_column(columns, text_column, name) -> None:
    for column in text_column if isinstance(text_column, list) else [text_column]:
        if column not in columns:
            raise ValueError(f"`text_column` {column!r} is not a column of {name}. Columns present: {columns}")


def _table_chunks(source, name, text_column, chunk_size, sep, encoding):
    """The column's cells, `chunk_size` rows at a time; empty cells are empty texts, not missing,
    and a blank or whitespace-only line is a row too, so row N of the output answers row N."""
    import pandas as pd

    reader = pd.read_csv(sys.stdin.buffer if source == STDIN else source, sep=sep, encoding=encoding,
                         dtype=str, keep_default_na=False, skip_blank_lines=False, chunksize=chunk_size)
    with reader:
        for frame in reader:
            _check_column(list(frame.columns), text_column, name)
            if isinstance(text_column, list):  # text pairs: (a, b) per row
                yield list(zip(frame[text_column[0]].tolist(), frame[text_column[1]].tolist()))
            else:
                yield frame[text_column].tolist()


@contextlib.contextmanager
def output_stream(path):
    """stdout, or a file written beside its destination and renamed into place on success,
    flushed to the disk first (`ktbert.saving.durable.publish_file`), so neither a failed run nor
    a power loss leaves a partial file that looks complete."""
    if path is None:
        yield sys.stdout
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"`--output` {path!r}: the folder {folder!r} does not exist.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"`--output` {path!r} is a folder: name a file.")
    handle, tmp = tempfile.mkstemp(prefix=".ktbert-predict-", dir=folder)
    try:
        with open(handle, "w", encoding="utf-8", newline="") as out:
            yield out
        durable.publish_file(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def writer(fmt: str, out, classes: list, proba: bool, label_sep: str):
    """A `write(labels, probabilities)` function for the output format; csv writes its header now.

    csv: a `label` column (a multi-label model's labels joined by `label_sep`), then with
    `proba` one column per class. jsonl: `{"label": ..., "probabilities": {class: p}}` per
    line, the probabilities with `proba` only, a multi-label model's labels as a list.
    Probabilities are written exactly (float32 values, shortest round-trip repr).
    """
    if fmt == "jsonl":
        def write_jsonl(labels, probabilities):
            for label, row in zip(labels, probabilities):
                record = {"label": label}
                if proba:
                    record["probabilities"] = dict(zip(classes, map(float, row)))
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return write_jsonl
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(["label"] + (list(classes) if proba else []))

    def write_csv(labels, probabilities):
        for label, row in zip(labels, probabilities):
            cell = label_sep.join(label) if isinstance(label, list) else label
            rows.writerow([cell] + ([repr(float(p)) for p in row] if proba else []))
    return write_csv


class Progress:
    """A running count of texts on stderr, rewritten in place; silent when not enabled."""

    def __init__(self, enabled: bool, stream=None):
        self.enabled = bool(enabled)
        self.stream = stream if stream is not None else sys.stderr
        self.count = 0
        self.start = time.perf_counter()

    def update(self, n: int) -> None:
        self.count += n
        if self.enabled:
            rate = self.count / max(time.perf_counter() - self.start, 1e-9)
            self.stream.write(f"\rktbert predict: {self.count:,} texts ({rate:,.0f}/s)")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.count:
            self.stream.write("\n")
            self.stream.flush()
