"""Throughput and latency of `ktbert serve` over loopback, with and without micro-batching.

Builds a predictor (the default encoder at maxlen 64 with an untrained head: the head does not
change the speed) or takes a saved one (`--model`), starts the service in a child process on
127.0.0.1, and for 1, 8 and 32 concurrent clients sends `--requests` requests (one short text
each; each client sends its next request when the last one is answered), bounded by
`--max-seconds` per setting. Reports requests/s, p50 and p99 latency and the texts per model
call; writes docs/benchmarks/serve.md and serve.json. The clients run on the same CPU as the
server. Run it alone.

    python benchmarks/serve.py                      # the full run (minutes)
    python benchmarks/serve.py --smoke              # a tiny random encoder, a few requests
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import threading
import time

import numpy as np

from bench_common import DOCS, LOAD_SECTION, SERVE_TEXTS as TEXTS, build_serving_predictor, cpu, service


@contextlib.contextmanager
def micro_batching_service(model: str, micro_batching: bool, max_wait_ms: float):
    """`ktbert.serve.service.serve` in a child process, uvicorn logging warnings only (not a line
    per request, which would cost the server time); yields its URL, stops it on exit."""
    def command(port: int) -> list:
        code = (f"from ktbert.serve.service import serve\n"
                f"serve({model!r}, port={port}, micro_batching={micro_batching}, max_wait_ms={max_wait_ms}, "
                f"log_level='warning')\n")
        return [sys.executable, "-c", code]

    with service(command) as (url, _):
        yield url


def load(url: str, clients: int, requests: int, max_seconds: float) -> dict:
    """`clients` threads in closed loops share `requests` requests of one text each, stopping
    after `max_seconds`; returns requests/s, latency percentiles and the model calls made."""
    import httpx

    with httpx.Client(base_url=url, timeout=120) as http:  # warm-up, not counted
        for text in TEXTS[:3]:
            http.post("/predict", json={"texts": [text]})
    before = httpx.get(f"{url}/health", timeout=10).json()["stats"]
    latencies, errors, lock = [], [], threading.Lock()
    counter = iter(range(requests))
    stop_at = time.perf_counter() + max_seconds

    def client():
        with httpx.Client(base_url=url, timeout=120) as http:
            for i in counter:  # shared: each request is taken once
                if time.perf_counter() > stop_at:
                    return
                start = time.perf_counter()
                response = http.post("/predict", json={"texts": [TEXTS[i % len(TEXTS)]]})
                with lock:
                    (latencies if response.status_code == 200 else errors).append(time.perf_counter() - start)

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    after = httpx.get(f"{url}/health", timeout=10).json()["stats"]
    calls = after["model_calls"] - before["model_calls"]
    ms = np.array(latencies) * 1000
    return {"clients": clients, "requests": len(latencies), "errors": len(errors), "seconds": round(seconds, 2),
            "requests_per_s": round(len(latencies) / seconds, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 1) if len(ms) else None,
            "p99_ms": round(float(np.percentile(ms, 99)), 1) if len(ms) else None,
            "model_calls": calls, "texts_per_call": round((after["texts"] - before["texts"]) / max(calls, 1), 2)}


def report(results: dict, out: str) -> str:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "serve.json"), "w") as f:
        json.dump(results, f, indent=2)
    info = results["cpu"]
    lines = [
        "# `ktbert serve`: requests/s and latency over loopback", "",
        f"CPU: {info['model']}, {info['cores']} cores, flags {', '.join(info['flags'])}; the clients run on the "
        f"same CPU as the server. Model: {results['model']}. One short text per request; each client sends "
        f"its next request when the last is answered; at most {results['requests']} requests or "
        f"{results['max_seconds']:.0f} s per row. Micro-batching waits at most {results['max_wait_ms']} ms "
        f"for other requests. Command: `{results['command']}`.", "",
        "| micro-batching | clients | requests | requests/s | p50 (ms) | p99 (ms) | texts per model call | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        lines.append(f"| {'on' if row['micro_batching'] else 'off'} | {row['clients']} | {row['requests']} | "
                     f"{row['requests_per_s']} | {row['p50_ms']} | {row['p99_ms']} | {row['texts_per_call']} | "
                     f"{row['errors']} |")
    path = os.path.join(out, "serve.md")
    kept = open(path).read() if os.path.exists(path) else ""
    kept = kept[kept.index(LOAD_SECTION):] if LOAD_SECTION in kept else ""  # benchmarks/serve_load.py writes it
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + ("\n" + kept if kept else ""))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a saved predictor's folder; default: build one (see above)")
    parser.add_argument("--requests", type=int, default=400, help="requests per row at most")
    parser.add_argument("--max-seconds", type=float, default=120, help="seconds per row at most")
    parser.add_argument("--clients", default="1,8,32", help="concurrent clients, comma-separated")
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--smoke", action="store_true",
                        help="the tests' tiny random encoder, 20 requests a row; writes to --out only if given")
    parser.add_argument("--out", help="where serve.md and serve.json go (default docs/benchmarks; "
                                      "with --smoke a temporary folder)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.requests, args.max_seconds = min(args.requests, 20), min(args.max_seconds, 30)
    out = args.out or (tempfile.mkdtemp(prefix="ktbert_serve_smoke_") if args.smoke else DOCS)
    with tempfile.TemporaryDirectory(prefix="ktbert_serve_bench_") as tmp:
        model, name = args.model, args.model
        if model is None:
            model = os.path.join(tmp, "predictor")
            name = build_serving_predictor(model, tiny=args.smoke)
        rows = []
        for micro_batching in (True, False):
            with micro_batching_service(model, micro_batching, args.max_wait_ms) as url:
                for clients in (int(c) for c in args.clients.split(",")):
                    row = {"micro_batching": micro_batching, **load(url, clients, args.requests, args.max_seconds)}
                    print(json.dumps(row), flush=True)
                    rows.append(row)
    command = "python benchmarks/serve.py" + (" --smoke" if args.smoke else "")
    results = {"cpu": cpu(), "model": name, "requests": args.requests, "max_seconds": args.max_seconds,
               "max_wait_ms": args.max_wait_ms, "command": command, "rows": rows}
    print(report(results, out))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
