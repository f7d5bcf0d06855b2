"""`ktbert embed`: the fine-tuned encoder's text vectors (`Predictor.embed`) of texts streamed
as `ktbert predict` streams them, a chunk at a time, one row per text in the input's order.

jsonl writes `{"embedding": [...]}` a line, as each chunk is done. npy needs a file (`--output`):
the rows go to a temporary file as they come, and the `.npy` is written from it at the end, so
memory stays bounded by the chunk here too.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

import numpy as np

from ktbert.checks import check_count
from ktbert.cli.predicting import Progress, output_stream, text_chunks
from ktbert.serve.factories import load_predictor


def embed(args) -> int:
    """`ktbert embed`: reads, embeds and writes chunk by chunk."""
    fmt = args.format or ("npy" if str(args.output or "").endswith(".npy") else "jsonl")
    if fmt == "npy" and args.output is None:
        raise ValueError("`--format npy` writes a binary file: name it with --output FILE.npy "
                         "(or write text with --format jsonl).")
    chunk_size = check_count(args.chunk_size, "chunk_size")
    batch_size = check_count(args.batch_size, "batch_size")
    chunks = text_chunks(args.input, args.text_column, chunk_size, args.sep, args.encoding)
    predictor = load_predictor(args.model_dir, batch_size=batch_size)  # after the input is checked: fails fast
    progress = Progress(sys.stderr.isatty() if args.progress is None else args.progress)
    if fmt == "jsonl":
        with output_stream(args.output) as out:
            for texts in chunks:
                for row in predictor.embed(texts):
                    out.write(json.dumps({"embedding": [float(v) for v in row]}) + "\n")
                out.flush()
                progress.update(len(texts))
    else:
        width = int(predictor.model.output_dropout.input.shape[-1])
        write_npy(args.output, (predictor.embed(texts) for texts in chunks), width, progress)
    progress.close()
    return 0


def write_npy(path: str, blocks, width: int, progress) -> None:
    """Writes float32 row blocks of `width` columns to `path` as one `.npy` array, through a
    temporary file beside it (renamed into place on success, as `output_stream` does)."""
    with tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(path))) as rows:
        count = 0
        for block in blocks:
            rows.write(np.ascontiguousarray(block, dtype=np.float32).tobytes())
            count += len(block)
            progress.update(len(block))
        rows.seek(0)
        with output_stream(path) as out:
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                      "shape": (count, width)}
            np.lib.format.write_array_header_1_0(out.buffer, header)
            shutil.copyfileobj(rows, out.buffer)
