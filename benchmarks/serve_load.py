"""`ktbert serve` under faults and overload, over loopback: bad requests, ten times the load it
can serve, recovery, and memory over 20,000 requests; every answer checked.

Builds a predictor (as benchmarks/serve.py does: the default encoder at maxlen 64, untrained head;
`--smoke`: the tests' tiny random encoder) or takes a saved one (`--model`), computes the expected
answer of every text it will send in a child process (`ktbert.load_predictor`), starts
`ktbert serve` in a child process on 127.0.0.1, and runs five phases, each bounded in requests
and seconds:

1. capacity: closed loop (each client sends its next request when the last is answered);
   the requests/s served set the overload rate.
2. bad input: malformed JSON, a wrong field, wrong types, an empty list, a text of 10 MB (with
   and without Content-Length), 100,000 texts; each must get a 4xx, and a good request after it
   the right answer.
3. overload: an open loop firing at `--overload` times the capacity over `--connections` kept-alive
   connections; beyond `max_queue` waiting texts (one a request) the service must answer 503 at once.
4. recovery: closed loop again as soon as the overload's last answer came; every request must
   be served, and right.
5. memory: `--memory-requests` requests, closed loop; the server's RSS read every second, and
   compared after 1,000 requests and at the end.
6. slow and greedy clients (benchmarks/serve_slow.py): normal clients unloaded, then beside
   `--stalled` connections sending a byte every few seconds, then beside a greedy client sending
   `max_texts`-text requests back to back too; then SIGTERM under all of it. Last, as it stops
   the server; `--slow-only` runs it alone, `--skip-slow` leaves it out.

Every 200 answer is compared with the expected probabilities (1e-5) and labels: a wrong answer
anywhere fails the run. The expected answers are computed in a child process so that the client
process stays light (no TensorFlow): it shares the CPU with the server. The model is built and
served in float32 (`KTBERT_PRECISION`) so that 1e-5 holds whatever the requests were merged
with. The server's RSS is read from /proc/<pid>/status (Linux). Writes
docs/benchmarks/serve_load.json and the "Load and faults" section of docs/benchmarks/serve.md
(between markers; the rest of the file is kept); the sixth phase serve_slow.json and its own
section. The clients run on the same CPU as the server: run it alone. Exits 1 if a check failed.

    python benchmarks/serve_load.py               # the full run (about 8 minutes on 2 cores)
    python benchmarks/serve_load.py --slow-only   # the slow and greedy clients alone (about 3 minutes)
    python benchmarks/serve_load.py --smoke       # the tiny encoder, small counts (about 2 minutes)
"""

import argparse
import asyncio
import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from bench_common import (DOCS, LOAD_SECTION, SERVE_TEXTS, build_serving_predictor, cpu, ktbert_env,
                          process_memory_kib, serve_command, service)
from serve_slow import section as slow_section, slow_phase, stall_main, write_section as write_slow_section

TEXTS = SERVE_TEXTS + ["", "the café was great 😀", "עברית good", "a long review that goes on. " * 120]
BODIES = [json.dumps({"texts": [text]}, ensure_ascii=False).encode("utf-8") for text in TEXTS]
START, END = LOAD_SECTION, "<!-- serve_load.py: end -->"  # serve.py keeps the section when it rewrites serve.md
# Served in float32 so that answers agree within 1e-5 whatever the requests were merged with.
FLOAT32 = {"KTBERT_PRECISION": "float32"}


# ---------------------------------------------------------------- children: model and expected answers

def expected_answers(model: str, out: str, tolerance: float) -> None:
    """Runs in a child process: the saved predictor's answer to each of `TEXTS`, written to `out`
    as JSON; `stable` says whether the label holds when any probability moves by `tolerance`
    (else a label that differs within the tolerance is not counted wrong)."""
    import ktbert

    predictor = ktbert.load_predictor(model)
    proba = np.asarray(predictor.predict(TEXTS, return_proba=True), dtype=np.float64)
    labels = predictor.predict(TEXTS)
    classes = predictor.get_classes()
    stable = []
    for row, label in zip(proba, labels):
        moved = [row + sign * tolerance * np.eye(len(row))[j] for j in range(len(row)) for sign in (1, -1)]
        stable.append(all(predictor.decisions.labels(np.array([m]), classes)[0] == label for m in moved))
    with open(out, "w") as f:
        json.dump({"classes": classes, "labels": labels, "probabilities": proba.tolist(), "stable": stable}, f)


# ---------------------------------------------------------------- the client

class Connection:
    """One kept-alive HTTP/1.1 connection, with as little client work per request as can be:
    the clients share the server's CPU, and the load must come from the server."""

    def __init__(self, port: int):
        self.port, self.reader, self.writer = port, None, None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status, length, close = int(head[9:12]), 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        payload = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Tally:
    """What one phase's requests got: counts by outcome, latencies, wrong answers."""

    def __init__(self, expected: dict, tolerance: float):
        self.expected, self.tolerance = expected, tolerance
        self.served, self.refused, self.other_4xx, self.failed, self.wrong = 0, 0, 0, 0, 0
        self.served_s, self.refused_s, self.errors = [], [], {}

    def record(self, text_index: int, status: int | None, payload: bytes, seconds: float, error: str = "") -> None:
        if status == 200:
            self.served += 1
            self.served_s.append(seconds)
            if not self.right(text_index, payload):
                self.wrong += 1
        elif status == 503:
            self.refused += 1
            self.refused_s.append(seconds)
        elif status is not None and 400 <= status < 500:
            self.other_4xx += 1
        else:
            self.failed += 1
            key = error or f"HTTP {status}"
            self.errors[key] = self.errors.get(key, 0) + 1

    def right(self, i: int, payload: bytes) -> bool:
        try:
            answer = json.loads(payload)
            proba = np.asarray(answer["probabilities"], dtype=np.float64)
            close = proba.shape == (1, len(self.expected["classes"])) and \
                np.abs(proba[0] - self.expected["probabilities"][i]).max() <= self.tolerance
            label_ok = answer["labels"] == [self.expected["labels"][i]] or not self.expected["stable"][i]
            return bool(close and label_ok and answer["classes"] == self.expected["classes"])
        except (ValueError, KeyError, TypeError):
            return False

    def summary(self, seconds: float) -> dict:
        def ms(values, q):
            return round(float(np.percentile(values, q)) * 1000, 1) if values else None
        sent = self.served + self.refused + self.other_4xx + self.failed
        return {"sent": sent, "served": self.served, "refused": self.refused, "other_4xx": self.other_4xx,
                "failed": self.failed, "wrong": self.wrong, "seconds": round(seconds, 2),
                "sent_per_s": round(sent / seconds, 1), "served_per_s": round(self.served / seconds, 1),
                "served_p50_ms": ms(self.served_s, 50), "served_p99_ms": ms(self.served_s, 99),
                "refused_p50_ms": ms(self.refused_s, 50), "refused_p99_ms": ms(self.refused_s, 99),
                "errors": self.errors}




async def send(connection: Connection, i: int, tally: Tally, timeout: float) -> None:
    text = i % len(TEXTS)
    start = time.perf_counter()
    try:
        status, payload = await asyncio.wait_for(connection.post(BODIES[text]), timeout)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, TimeoutError) as err:
        connection.close()  # a half-read answer leaves the connection unusable
        tally.record(text, None, b"", time.perf_counter() - start, type(err).__name__)
        return
    tally.record(text, status, payload, time.perf_counter() - start)


async def closed_loop(port: int, clients: int, requests: int, max_seconds: float, tally: Tally,
                      timeout: float, on_request=None) -> float:
    """`clients` connections share `requests` requests, each sending its next when the last is
    answered, until `max_seconds`; returns the seconds taken."""
    counter = iter(range(requests))
    stop_at = time.perf_counter() + max_seconds

    async def client():
        connection = Connection(port)
        try:
            for i in counter:
                if time.perf_counter() > stop_at:
                    return
                await send(connection, i, tally, timeout)
                if on_request is not None:
                    on_request()
        finally:
            connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - start


async def open_loop(port: int, rate: float, seconds: float, connections: int, tally: Tally,
                    timeout: float) -> dict:
    """Request i is due at `i / rate` seconds, whatever the answers to earlier ones (open loop),
    for `seconds`; each of `connections` connections sends the next due request when free. A
    request due while every connection is busy goes out late; one still unsent 50% past the
    end (the client could not keep up) is not sent."""
    total = int(rate * seconds)
    counter = iter(range(total))
    late, unsent, last_sent = [], [0], [0.0]
    start = time.perf_counter()
    stop_at = start + 1.5 * seconds

    async def client():
        connection = Connection(port)
        try:
            for i in counter:
                now = time.perf_counter()
                if now > stop_at:
                    unsent[0] += 1
                    continue
                delay = start + i / rate - now
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    late.append(-delay)
                last_sent[0] = max(last_sent[0], time.perf_counter() - start)
                await send(connection, i, tally, timeout)
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return {"planned": total, "planned_per_s": round(rate, 1), "not_sent": unsent[0],
            "seconds": round(time.perf_counter() - start, 2), "send_seconds": round(last_sent[0], 2),
            "sent_late": len(late),
            "late_p99_ms": round(float(np.percentile(late, 99)) * 1000, 1) if late else 0.0}


# ---------------------------------------------------------------- the server's memory and queue

class Sampler:
    """A thread reading the server's RSS (and its queue, from /health) every `interval`
    seconds, each sample tagged with the phase under way."""

    def __init__(self, pid: int, url: str, interval: float):
        self.pid, self.url, self.interval = pid, url, interval
        self.phase, self.samples = "start", []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss_mb(self, field: str = "VmRSS") -> float:
        kib = process_memory_kib(self.pid, field)
        if kib is None:
            raise RuntimeError(f"no {field} in /proc/{self.pid}/status")
        return kib / 1024

    def _run(self):
        import httpx

        with httpx.Client(base_url=self.url, timeout=5) as client:
            while not self._stop.is_set():
                waiting = None
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    waiting = client.get("/health").json()["waiting"]
                with contextlib.suppress(OSError, RuntimeError):
                    self.samples.append((time.perf_counter(), self.phase, self.rss_mb(), waiting))
                self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def of(self, phase: str) -> dict:
        rows = [s for s in self.samples if s[1] == phase]
        waiting = [s[3] for s in rows if s[3] is not None]
        return {"peak_rss_mb": round(max(s[2] for s in rows), 1) if rows else None,
                "max_waiting_seen": max(waiting) if waiting else None}


# ---------------------------------------------------------------- the bad requests

def bad_requests() -> list:
    """`(case, body)`: each a request the service must refuse with a 4xx; a body that is a
    function is a generator, sent chunked (no Content-Length)."""
    def chunked():
        yield b'{"texts": ["'
        for _ in range(10_000_000 // 65536):
            yield b"a" * 65536
        yield b'"]}'

    return [
        ("malformed JSON", b'{"texts": ["good"'),
        ("not UTF-8", b'{"texts": ["\xff"]}'),
        ("arrays nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000),
        ("not an object", b'["good"]'),
        ("a wrong field (`text`)", b'{"text": ["good"]}'),
        ("`texts` missing", b"{}"),
        ("`texts` a number", b'{"texts": 3}'),
        ("`texts` an object", b'{"texts": {"a": "good"}}'),
        ("`texts` one string", b'{"texts": "good"}'),
        ("a nested list", b'{"texts": [["good"]]}'),
        ("null among texts", b'{"texts": ["good", null]}'),
        ("a number among texts", b'{"texts": ["good", 3]}'),
        ("an empty list", b'{"texts": []}'),
        ("`return_proba` a string", b'{"texts": ["good"], "return_proba": "yes"}'),
        ("a text of 10 MB", json.dumps({"texts": ["a" * 10_000_000]}).encode()),
        ("a text of 10 MB, chunked", chunked),
        ("100,000 texts", json.dumps({"texts": ["a"] * 100_000}).encode()),
        ("100,000 texts of 9 characters", json.dumps({"texts": ["good film"] * 100_000}).encode()),
    ]


def bad_input_phase(url: str, tally: Tally) -> list:
    """Each bad request once, then a good one (both recorded in `tally`); returns a row per case."""
    import httpx

    rows = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for case, body in bad_requests():
            start = time.perf_counter()
            try:
                response = client.post("/predict", content=body() if callable(body) else body,
                                       headers={"Content-Type": "application/json"})
                status, detail = response.status_code, response.json().get("detail", "")
            except (httpx.HTTPError, ValueError) as err:
                status, detail = None, f"{type(err).__name__}: {err}"
            seconds = time.perf_counter() - start
            tally.record(0, status, b"", seconds, detail[:80] if status is None else "")
            start = time.perf_counter()
            good = client.post("/predict", content=BODIES[1])
            tally.record(1, good.status_code, good.content, time.perf_counter() - start)
            rows.append({"case": case, "status": status, "ms": round(seconds * 1000, 1), "detail": detail[:160],
                         "next_answer_right": good.status_code == 200 and tally.right(1, good.content)})
    return rows


# ---------------------------------------------------------------- the run

def capacity_phase(port: int, args, expected: dict) -> dict:
    warm = Tally(expected, args.tolerance)  # 100 requests first, not counted
    asyncio.run(closed_loop(port, args.capacity_clients, 100, 30, warm, args.timeout))
    tally = Tally(expected, args.tolerance)
    seconds = asyncio.run(closed_loop(port, args.capacity_clients, args.capacity_requests, args.phase_seconds,
                                      tally, args.timeout))
    row = {**tally.summary(seconds), "clients": args.capacity_clients, "warm_up_wrong": warm.wrong}
    if not row["served"]:
        raise RuntimeError(f"the capacity phase served nothing: {row}")
    return row


def overload_phase(port: int, args, expected: dict, capacity: dict) -> dict:
    tally = Tally(expected, args.tolerance)
    loop = asyncio.run(open_loop(port, args.overload * capacity["served_per_s"], args.overload_seconds,
                                 args.connections, tally, args.timeout))
    row = {**tally.summary(loop["seconds"]), **loop, "connections": args.connections}
    # Sent per second of sending; served per second of the whole phase, the last answers included.
    row["sent_per_s"] = round(row["sent"] / max(loop["send_seconds"], 1e-3), 1)
    return row


def recovery_phase(port: int, args, expected: dict, overload_end: float) -> dict:
    tally, first = Tally(expected, args.tolerance), []

    def note_first():
        if tally.served and not first:
            first.append(round(time.perf_counter() - overload_end, 3))

    seconds = asyncio.run(closed_loop(port, args.recovery_clients, args.recovery_requests, args.phase_seconds,
                                      tally, args.timeout, note_first))
    return {**tally.summary(seconds), "first_served_after_overload_s": first[0] if first else None}


def memory_phase(port: int, args, expected: dict, sampler) -> dict:
    """The server's RSS at the start, after 1,000 requests and at the end of the phase."""
    tally, count = Tally(expected, args.tolerance), [0]
    rss = {"start": sampler.rss_mb(), "after_1000": float("nan")}

    def mark():
        count[0] += 1
        if count[0] == 1000:
            rss["after_1000"] = sampler.rss_mb()

    seconds = asyncio.run(closed_loop(port, args.memory_clients, args.memory_requests, args.memory_seconds,
                                      tally, args.timeout, mark))
    rss["end"] = sampler.rss_mb()
    growth = rss["end"] - rss["after_1000"]
    return {**tally.summary(seconds), "rss_start_mb": round(rss["start"], 1),
            "rss_after_1000_mb": round(rss["after_1000"], 1), "rss_end_mb": round(rss["end"], 1),
            "growth_after_1000_mb": round(growth, 1),
            "growth_after_1000_pct": round(100 * growth / rss["after_1000"], 2)}


def run(args, model: str, expected: dict, limits: dict, log_path: str) -> dict:
    """The five phases against one `ktbert serve`; each phase's counts, latencies and peak RSS."""
    import httpx

    results, phases = {}, {}
    command = functools.partial(serve_command, model, options=limits)  # called with the port
    with service(command, env=ktbert_env(**FLOAT32), log_path=log_path) as (url, pid):
        port = int(url.rsplit(":", 1)[1])
        results["limits"] = httpx.get(f"{url}/health", timeout=10).json()["limits"]
        if args.slow_only:
            results["slow_and_greedy"] = slow_phase(port, pid, args, expected, log_path)
            results["phases"] = phases
            return results
        with Sampler(pid, url, args.sample_seconds) as sampler:
            results["rss_after_start_mb"] = round(sampler.rss_mb(), 1)
            sampler.phase = "capacity"
            phases["capacity"] = capacity_phase(port, args, expected)
            sampler.phase = "bad input"
            tally, start = Tally(expected, args.tolerance), time.perf_counter()
            results["bad_requests"] = bad_input_phase(url, tally)
            phases["bad input"] = tally.summary(time.perf_counter() - start)
            sampler.phase = "overload"
            phases["overload"] = overload_phase(port, args, expected, phases["capacity"])
            sampler.phase = "recovery"
            phases["recovery"] = recovery_phase(port, args, expected, time.perf_counter())
            sampler.phase = "memory"
            phases["memory"] = memory_phase(port, args, expected, sampler)
            for name, row in phases.items():
                row.update(sampler.of(name))
                print(name, json.dumps(row), flush=True)
            results["peak_rss_mb"] = round(sampler.rss_mb("VmHWM"), 1)
            results["rss_samples"] = [(round(t - sampler.samples[0][0], 1), phase, round(rss, 1), waiting)
                                      for t, phase, rss, waiting in sampler.samples]
            if not args.skip_slow:  # last: it ends with SIGTERM
                sampler.phase = "slow and greedy"
                results["slow_and_greedy"] = slow_phase(port, pid, args, expected, log_path)
    results["phases"] = phases
    return results


def judge(results: dict, args) -> None:
    """Adds the ratios the report compares by, and the verdict, to `results`."""
    c, o = results["phases"]["capacity"], results["phases"]["overload"]
    results["ratios"] = {
        "overload_sent_over_capacity": round(o["sent_per_s"] / c["served_per_s"], 2),
        "overload_served_over_capacity": round(o["served_per_s"] / c["served_per_s"], 2),
        "refused_p99_over_served_p99": round(o["refused_p99_ms"] / o["served_p99_ms"], 4)
        if o["refused_p99_ms"] and o["served_p99_ms"] else None}
    results["verdict"] = verdict(results, args)


def verdict(results: dict, args) -> dict:
    """The acceptance checks, each True or False."""
    p = results["phases"]
    served_p99, refused_p99 = p["overload"]["served_p99_ms"], p["overload"]["refused_p99_ms"]
    return {
        "every bad request got a 4xx": all(r["status"] is not None and 400 <= r["status"] < 500
                                           for r in results["bad_requests"]),
        "every answer after a bad request was right": all(r["next_answer_right"] for r in results["bad_requests"]),
        "zero wrong answers": sum(phase["wrong"] for phase in p.values()) + p["capacity"]["warm_up_wrong"] == 0,
        "nothing failed outside the overload": all(p[k]["failed"] == 0 for k in ("capacity", "bad input",
                                                                                "recovery", "memory")),
        "the overload was refused with 503": p["overload"]["refused"] > 0,
        "refusals were faster than answers (p99)": refused_p99 is not None and served_p99 is not None
                                                  and refused_p99 < served_p99,
        f"the queue stayed within max_queue={args.max_queue}":
            (p["overload"]["max_waiting_seen"] or 0) <= args.max_queue,
        "every request after the overload was served": p["recovery"]["served"] == p["recovery"]["sent"] > 0,
        f"memory flat: < {args.flat_pct}% growth from the 1,000th request to the end":
            p["memory"]["growth_after_1000_pct"] < args.flat_pct,
    }


def fmt(value, digits=1):
    return "" if value is None else (f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}")


def reading(results: dict) -> str:
    """One paragraph saying what the numbers mean, each claim from the numbers or the checks."""
    p, s, ok = results["phases"], results["settings"], results["verdict"]
    c, o, r, m = p["capacity"], p["overload"], p["recovery"], p["memory"]
    bad = results["bad_requests"]
    statuses = ", ".join(str(code) for code in sorted({row["status"] for row in bad if row["status"] is not None}))
    drain_s = s["max_queue"] / o["served_per_s"] if o["served_per_s"] else None
    growth = (o["peak_rss_mb"] - c["peak_rss_mb"]) if o["peak_rss_mb"] and c["peak_rss_mb"] else None
    kept_up = o["not_sent"] == 0 and o["late_p99_ms"] < 100
    return " ".join([
        f"The service served {fmt(c['served_per_s'])} requests/s with {s['capacity_clients']} clients.",
        f"{'Every' if ok['every bad request got a 4xx'] else 'NOT every'} bad request got a 4xx ({statuses}), in at "
        f"most {fmt(max(row['ms'] for row in bad))} ms, and the request after "
        f"{'each' if ok['every answer after a bad request was right'] else 'one of them was NOT'} answered right.",
        f"Offered {fmt(results['ratios']['overload_sent_over_capacity'], 1)}x its capacity"
        + ("" if kept_up else f" (the client, on the same cores, could not send the planned {s['overload']:g}x)")
        + f", it served {fmt(o['served'])} requests "
        f"({fmt(results['ratios']['overload_served_over_capacity'], 2)}x the capacity) and "
        f"refused {fmt(o['refused'])} with 503 in p99 {fmt(o['refused_p99_ms'])} ms, "
        f"{fmt(results['ratios']['refused_p99_over_served_p99'], 3)} of the served p99 of {fmt(o['served_p99_ms'])} ms "
        f"(a full queue of {s['max_queue']} at the {fmt(o['served_per_s'])}/s served takes {fmt(drain_s, 2)} s to "
        f"drain); {fmt(o['failed'])} failed.",
        f"At most {fmt(o['max_waiting_seen'])} texts waited (max_queue={s['max_queue']}), and the server's RSS "
        f"peaked {fmt(growth)} MB above the capacity phase's.",
        f"After the overload the first request was answered {fmt(r['first_served_after_overload_s'], 2)} s later; "
        f"{fmt(r['served'])} of {fmt(r['sent'])} recovery requests were served.",
        f"Over the memory phase's {fmt(m['sent'])} requests the RSS moved {fmt(m['growth_after_1000_mb'])} MB "
        f"({fmt(m['growth_after_1000_pct'], 2)}%) after the first 1,000.",
        f"Wrong answers in all phases: {sum(phase['wrong'] for phase in p.values()) + c['warm_up_wrong']}.",
    ])


def section(results: dict) -> str:
    """The "Load and faults" section of serve.md."""
    p, s, info, ratios = results["phases"], results["settings"], results["cpu"], results["ratios"]
    o, m = p["overload"], p["memory"]
    lines = [
        START, "", "## Load and faults (`benchmarks/serve_load.py`)", "",
        f"CPU: {info['model']}, {info['cores']} cores, load average {results['load_before']:.2f} before the run; "
        "the clients run on the same CPU as the server. Model: "
        f"{results['model']}, served by `ktbert serve` with max_queue={s['max_queue']}, max_batch={s['max_batch']}, "
        f"max_wait_ms={s['max_wait_ms']}, max_texts={s['max_texts']}, max_bytes={s['max_bytes']:,}. One text per "
        f"request, drawn from {len(TEXTS)} fixed texts (one of {len(TEXTS[-1]):,} characters); every 200 answer is "
        f"compared with the predictor's own (probabilities within {s['tolerance']:g}, labels equal). Capacity: "
        f"closed loop, {s['capacity_clients']} clients. Overload: open loop at {s['overload']:g}x the capacity "
        f"({fmt(o['planned_per_s'])} requests/s planned) over {s['connections']} connections for "
        f"{s['overload_seconds']:g} s. Recovery: {s['recovery_clients']} clients; memory: {s['memory_clients']} "
        f"clients, the server's RSS read every {s['sample_seconds']:g} s. Latency: from writing the request to "
        f"reading the whole answer. Command: `{results['command']}`." + (f" Note: {results['note']}"
                                                                          if "note" in results else ""), "",
        "| phase | sent | requests/s | served (200) | refused (503) | other 4xx | failed | wrong answers | "
        "served p50 / p99 (ms) | refused p50 / p99 (ms) | server peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in p.items():
        lines.append(f"| {name} | {fmt(row['sent'])} | {fmt(row['sent_per_s'])} | {fmt(row['served'])} | "
                     f"{fmt(row['refused'])} | {fmt(row['other_4xx'])} | {fmt(row['failed'])} | {fmt(row['wrong'])} | "
                     f"{fmt(row['served_p50_ms'])} / {fmt(row['served_p99_ms'])} | "
                     f"{fmt(row['refused_p50_ms'])} / {fmt(row['refused_p99_ms'])} | {fmt(row['peak_rss_mb'])} |")
    lines += [
        "", f"Ratios: overload sent / capacity = {fmt(ratios['overload_sent_over_capacity'], 2)} "
        f"({fmt(o['sent_per_s'])} / {fmt(p['capacity']['served_per_s'])} requests/s, over the "
        f"{fmt(o['send_seconds'])} s of sending; {fmt(o['sent_late'])} requests went out late, p99 "
        f"{fmt(o['late_p99_ms'])} ms, {fmt(o['not_sent'])} not at all); overload served (over the whole "
        f"{fmt(o['seconds'])} s) / capacity = {fmt(ratios['overload_served_over_capacity'], 2)}; "
        "refused p99 / served p99 = "
        f"{fmt(ratios['refused_p99_over_served_p99'], 3)}. Most texts waiting seen on `/health` during the "
        f"overload: {fmt(o['max_waiting_seen'])}. Server RSS: {fmt(results['rss_after_start_mb'])} MB after "
        f"start-up; memory phase {fmt(m['rss_start_mb'])} MB at its start, {fmt(m['rss_after_1000_mb'])} MB after "
        f"1,000 requests, {fmt(m['rss_end_mb'])} MB after {fmt(m['sent'])} ({fmt(m['growth_after_1000_mb'])} MB, "
        f"{fmt(m['growth_after_1000_pct'], 2)}%); peak {fmt(results['peak_rss_mb'])} MB over the run (VmHWM).", "",
        "| bad request | status | ms | the next request answered right |", "|---|---|---|---|",
    ]
    for row in results["bad_requests"]:
        right = "yes" if row["next_answer_right"] else "NO"
        lines.append(f"| {row['case']} | {row['status']} | {fmt(row['ms'])} | {right} |")
    checks = "; ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in results["verdict"].items())
    lines += ["", f"Checks: {checks}.", "", reading(results), "", END]
    return "\n".join(lines)


def write_report(results: dict, out: str) -> str:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "serve_load.json"), "w") as f:
        json.dump(results, f, indent=2, ensure_ascii=False)
    text, path = section(results), os.path.join(out, "serve.md")
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    if START in old and END in old:
        new = old[:old.index(START)] + text + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a saved predictor's folder; default: build one (see above)")
    parser.add_argument("--smoke", action="store_true", help="the tiny random encoder and small counts; "
                                                             "writes to --out only if given")
    parser.add_argument("--out", help="where serve.md and serve_load.json go (default docs/benchmarks; "
                                      "with --smoke a temporary folder)")
    parser.add_argument("--max-queue", type=int, default=256, help="ktbert serve --max-queue (its default)")
    parser.add_argument("--max-batch", type=int, default=64, help="ktbert serve --max-batch (its default)")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="ktbert serve --max-wait-ms (its default)")
    parser.add_argument("--capacity-clients", type=int, default=32)
    parser.add_argument("--capacity-requests", type=int, default=4000)
    parser.add_argument("--overload", type=float, default=10.0, help="the overload rate, times the capacity")
    parser.add_argument("--overload-seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=None, help="overload connections (default 4x max_queue)")
    parser.add_argument("--recovery-clients", type=int, default=8)
    parser.add_argument("--recovery-requests", type=int, default=500)
    parser.add_argument("--memory-clients", type=int, default=8)
    parser.add_argument("--memory-requests", type=int, default=20_000)
    parser.add_argument("--memory-seconds", type=float, default=480.0)
    parser.add_argument("--phase-seconds", type=float, default=60.0, help="capacity and recovery phases at most")
    parser.add_argument("--sample-seconds", type=float, default=1.0, help="how often RSS and /health are read")
    parser.add_argument("--timeout", type=float, default=30.0, help="a request not answered by then failed")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="probabilities must agree within it")
    parser.add_argument("--flat-pct", type=float, default=5.0, help="memory growth allowed after 1,000 requests")
    parser.add_argument("--max-minutes", type=float, default=14.0, help="the whole run at most, build included")
    slow = parser.add_argument_group("slow and greedy clients (benchmarks/serve_slow.py)")
    slow.add_argument("--slow-only", action="store_true", help="run only the slow and greedy clients' phase")
    slow.add_argument("--skip-slow", action="store_true", help="leave the slow and greedy clients' phase out")
    slow.add_argument("--max-texts", type=int, default=256, help="ktbert serve --max-texts, the greedy client's "
                                                                 "texts per request (its default)")
    slow.add_argument("--normal-clients", type=int, default=4, help="one-text clients, closed loop")
    slow.add_argument("--stalled", type=int, default=3000, help="stalled connections")
    slow.add_argument("--stall-every", type=float, default=3.0, help="seconds between a stalled client's bytes")
    slow.add_argument("--stall-ramp", type=float, default=500.0, help="stalled connections opened a second")
    slow.add_argument("--slow-seconds", type=float, default=20.0, help="seconds of each normal-client row")
    slow.add_argument("--header-timeout", type=float, default=10.0, help="ktbert serve --header-timeout (its default)")
    slow.add_argument("--body-timeout", type=float, default=30.0, help="ktbert serve --body-timeout (its default)")
    slow.add_argument("--drain-timeout", type=float, default=20.0, help="ktbert serve --drain-timeout (its default)")
    parser.add_argument("--expect-into", nargs=2, metavar=("MODEL", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--stall-into", nargs=6, metavar=("PORT", "N", "EVERY", "RAMP", "FOLDER", "SECONDS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.expect_into:
        expected_answers(*args.expect_into, args.tolerance)
        return 0
    if args.stall_into:
        port, count, every, ramp, folder, seconds = args.stall_into
        stall_main(int(port), int(count), float(every), float(ramp), folder, float(seconds))
        return 0
    if args.smoke:
        args.capacity_requests, args.overload_seconds = min(args.capacity_requests, 1000), min(args.overload_seconds, 5)
        args.recovery_requests, args.memory_requests = min(args.recovery_requests, 200), min(args.memory_requests, 2000)
        args.max_minutes = min(args.max_minutes, 5)
        args.stalled, args.stall_every, args.stall_ramp = min(args.stalled, 100), 0.5, 200.0
        args.slow_seconds, args.header_timeout, args.body_timeout = min(args.slow_seconds, 4.0), 2.0, 3.0
        args.drain_timeout = min(args.drain_timeout, 10.0)
    args.connections = args.connections or 4 * args.max_queue
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `service` stops the server

    def too_long(*_):
        raise TimeoutError(f"the run took more than --max-minutes={args.max_minutes:g}")

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(int(args.max_minutes * 60))
    out = args.out or (tempfile.mkdtemp(prefix="ktbert_serve_load_smoke_") if args.smoke else DOCS)
    limits = {"max_queue": args.max_queue, "max_batch": args.max_batch, "max_wait_ms": args.max_wait_ms,
              "max_texts": args.max_texts, "header_timeout": args.header_timeout, "body_timeout": args.body_timeout,
              "drain_timeout": args.drain_timeout}
    load_before = round(os.getloadavg()[0], 2)  # above ~0.2 something else shares the cores: the numbers drop
    with tempfile.TemporaryDirectory(prefix="ktbert_serve_load_") as tmp:
        model, name = args.model, f"{args.model} (served in float32)"
        if model is None:
            model = os.path.join(tmp, "predictor")
            name = build_serving_predictor(model, tiny=args.smoke, env=ktbert_env(**FLOAT32)) + ", float32"
        expected_path = os.path.join(tmp, "expected.json")
        subprocess.run([sys.executable, __file__, "--expect-into", model, expected_path, "--tolerance",
                        str(args.tolerance)], check=True, timeout=600, env=ktbert_env(**FLOAT32))
        with open(expected_path) as f:
            expected = json.load(f)
        results = run(args, model, expected, limits, os.path.join(tmp, "server.log"))
    command = "python benchmarks/serve_load.py" + (" --smoke" if args.smoke else "") + \
        (" --slow-only" if args.slow_only else "") + (" --skip-slow" if args.skip_slow else "")
    failed = []
    slow_result = results.pop("slow_and_greedy", None)
    if slow_result is not None:
        print(slow_section(slow_result, cpu(), name, command, load_before))
        write_slow_section(slow_section(slow_result, cpu(), name, command, load_before), out, slow_result)
        failed += [check for check, ok in slow_result["verdict"].items() if not ok]
    if args.slow_only:
        print(f"written to {out}")
        if failed:
            print("FAILED: " + "; ".join(failed), file=sys.stderr)
        return 1 if failed else 0
    results.update({"cpu": cpu(), "model": name, "load_before": load_before, "command": command,
                    "settings": {**results.pop("limits"), "tolerance": args.tolerance,
                                 "capacity_clients": args.capacity_clients, "overload": args.overload,
                                 "overload_seconds": args.overload_seconds, "connections": args.connections,
                                 "recovery_clients": args.recovery_clients, "memory_clients": args.memory_clients,
                                 "memory_requests": args.memory_requests, "sample_seconds": args.sample_seconds}})
    judge(results, args)
    print(write_report(results, out))
    print(f"written to {out}")
    failed = [name for name, ok in results["verdict"].items() if not ok] + failed
    if failed:
        print("FAILED: " + "; ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
