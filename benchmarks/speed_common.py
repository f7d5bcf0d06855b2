"""What the speed benchmark's worker processes share: the task file they read, the result file
they write, their peak memory and the matmul timing loop.

Standard library only: `speed_ktbert.py` imports it under the project's Python and
`speed_torch.py` under the benchmark's own PyTorch environment.
"""

import json
import os
import resource
import time

# A training warm-up of -1 batches means one full epoch.
FULL_EPOCH = -1
# Prediction is warmed up on this many texts before it is timed: a full batch of 32 and a
# partial one, so both batch shapes have run once (as the last batch of the timed call).
PREDICT_WARMUP_TEXTS = 48
MATMUL_SIZE = 2048
MATMUL_SECONDS = 3.0


def read_task(path: str) -> dict:
    """The dataset a worker runs on, as `speed.py` wrote it: texts, labels, maxlen, sizes."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_result(path: str, result: dict) -> None:
    """Writes a worker's measurements with its peak resident memory (MiB) added."""
    result = dict(result, peak_rss_mib=peak_rss_mib())
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)


def peak_rss_mib() -> float:
    """This process's peak resident memory; Linux reports `ru_maxrss` in KiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def matmul_gflops(run_once, n: int = MATMUL_SIZE, seconds: float = MATMUL_SECONDS) -> float:
    """Best GFLOP/s of `run_once()` (one float32 n x n matmul, finished when it returns) over
    about `seconds` of repeats, after three warm-up calls; a matmul is 2 n^3 FLOPs."""
    for _ in range(3):
        run_once()
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        run_once()
        best = min(best, time.perf_counter() - t)
    return round(2 * n**3 / best / 1e9, 1)


def batch_shape_totals(shapes) -> dict:
    """Token counts of a training epoch from its `(batch, width)` shapes: the padded tokens
    (sum of b*s) and the attention units (sum of b*s^2) that the FLOP estimate needs."""
    shapes = list(shapes)
    return {
        "batches": len(shapes),
        "padded_tokens": int(sum(b * s for b, s in shapes)),
        "attention_units": int(sum(b * s * s for b, s in shapes)),
    }
