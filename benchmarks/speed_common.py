"""What the speed benchmark's worker processes share: their command line, the task file they
read, the result file they write with their peak memory, and the matmul timing loop.

Standard library only (and `bench_common`, which is too): `speed_ktbert.py` imports it under
the project's Python and `speed_torch.py` under the benchmark's own PyTorch environment.
"""

import argparse
import json
import time

from bench_common import peak_rss_kib

# A training warm-up of -1 batches means one full epoch.
FULL_EPOCH = -1
# Prediction is warmed up on this many texts before it is timed: a full batch of 32 and a
# partial one, so both batch shapes have run once (as the last batch of the timed call).
PREDICT_WARMUP_TEXTS = 48
# The timed prediction call is repeated this many times in the same process, and its median
# counts: one call takes 1 to 3 s, and on a shared 2-core VM a single call swung by 1.5x
# between runs of the same code (measured 2026-12-06).
PREDICT_CALLS = 5
MATMUL_SIZE = 2048
MATMUL_SECONDS = 3.0


def timed_calls(call, times: int = PREDICT_CALLS) -> dict:
    """Runs `call()` `times` times; `seconds` is the median call's, `seconds_each_call` all."""
    each = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        each.append(time.perf_counter() - start)
    return {"seconds": sorted(each)[(len(each) - 1) // 2], "seconds_each_call": [round(t, 3) for t in each]}


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
    """This process's peak resident memory in MiB."""
    return round(peak_rss_kib() / 1024, 1)


def worker_parser(doc: str) -> argparse.ArgumentParser:
    """The command line both workers take: what to measure, the task and result files, the
    training warm-up; each worker adds its own options."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["peak", "train", "predict"])
    parser.add_argument("--task")
    parser.add_argument("--result", required=True)
    parser.add_argument("--warmup-batches", type=int, default=FULL_EPOCH)
    return parser


def run_measurement(args, measurements: dict, versions) -> int:
    """Runs `measurements[args.what](task, args)` on the task in `args.task` (None for `peak`)
    and writes its result, with `versions()` added, to `args.result`."""
    task = read_task(args.task) if args.task else None
    result = measurements[args.what](task, args)
    write_result(args.result, {**result, "versions": versions()})
    return 0


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
