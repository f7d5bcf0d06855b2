"""The "slow and greedy clients" phase of benchmarks/serve_load.py: `ktbert serve` beside
thousands of stalled connections and a client sending the largest requests back to back.

Steps, against one `ktbert serve` (its deadlines and drain timeout as given to it):

1. unloaded: `--normal-clients` clients, one text per request, closed loop, `--slow-seconds`;
   and one model call of `max_batch` texts, timed alone (the median of 5 requests of the
   greedy client's first `max_batch` texts).
2. stalled: a child process opens `--stalled` connections (at `--stall-ramp` a second); three
   in four send whole headers, then one byte of body every `--stall-every` seconds; one in four
   sends its headers a byte every `--stall-every` seconds. A connection the server closes is
   opened again, so that `--stalled` stay stalled. The normal clients run again.
3. stalled + greedy: a greedy client sends `max_texts`-text requests back to back, beside the
   stalled connections and the normal clients.
4. SIGTERM: with all three still at it, the server gets SIGTERM; the time until its process
   exits is measured, and its log's drain line says whether a request it took went unanswered.

Every 200 answer (the greedy client's rows too) is compared with the predictor's own. Checks:
under the stalled connections the normal clients' p99 is at most 2x the unloaded p99; with the
greedy client at most one `max_batch` call plus 2x the unloaded p99; 0 wrong answers; no normal
request failed or was refused before SIGTERM; every stalled connection was closed by the
server within its deadline (plus `--stall-every` and a second); SIGTERM stopped the server
within its drain timeout, leaving no request it took unanswered.
"""

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

START, END = "<!-- serve_load.py slow clients: start -->", "<!-- serve_load.py slow clients: end -->"
HEAD = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"


# ---------------------------------------------------------------- the stalled connections (child process)

async def _stalled_slot(port: int, slow_headers: bool, every: float, flags: dict, record: dict) -> None:
    """One stalled connection after another until `flags["stop"]` (none after `flags["last"]`):
    each sends its headers (or, with whole headers, its body) a byte every `every` seconds;
    records how each one ended."""
    mode = "headers" if slow_headers else "body"
    while not (flags["stop"] or flags["last"]):
        start = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            record["connect_errors"] += 1
            await asyncio.sleep(every)
            continue
        record["opened"] += 1
        data = HEAD + b'{"texts": ["' + b"a" * 99_980
        if not slow_headers:
            writer.write(HEAD)
            data = data[len(HEAD):]
        answer = asyncio.ensure_future(reader.read())  # to the end: the server closes
        for byte in data:
            with contextlib.suppress(OSError):
                writer.write(bytes([byte]))
            await asyncio.wait({answer}, timeout=every)
            if answer.done() or flags["stop"]:
                break
        if answer.done():
            payload = b"" if answer.exception() else answer.result()
            status = int(payload[9:12]) if payload.startswith(b"HTTP/1.1 ") else None
            record["closed"].append((mode, status, round(time.monotonic() - start, 2)))
        else:
            answer.cancel()
            record["open_at_end"].append((mode, round(time.monotonic() - start, 2)))
        writer.close()


async def _stall(port: int, count: int, every: float, ramp: float, ready_path: str, last_path: str, stop_path: str,
                 max_seconds: float) -> dict:
    record = {"opened": 0, "connect_errors": 0, "closed": [], "open_at_end": []}
    flags, slots = {"stop": False, "last": False}, []
    for i in range(count):
        slots.append(asyncio.ensure_future(_stalled_slot(port, i % 4 == 3, every, flags, record)))
        await asyncio.sleep(1 / ramp)
    deadline = time.monotonic() + 60
    while record["opened"] < count and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    open(ready_path, "w").close()
    end = time.monotonic() + max_seconds
    while not os.path.exists(stop_path) and time.monotonic() < end:
        flags["last"] = os.path.exists(last_path)  # the server is stopping: no new connection
        await asyncio.sleep(0.2)
    flags["stop"] = True
    await asyncio.gather(*slots, return_exceptions=True)
    return record


def stall_main(port: int, count: int, every: float, ramp: float, folder: str, max_seconds: float) -> None:
    """Runs in a child process: `count` stalled connections to `port` until `folder`/stop appears
    (none opened again once `folder`/last appears); writes `folder`/ready once they are open and
    `folder`/stalled.json at the end."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * count + 1024)), hard))
    record = asyncio.run(_stall(port, count, every, ramp, *(os.path.join(folder, name) for name in
                                                            ("ready", "last", "stop")), max_seconds))
    with open(os.path.join(folder, "stalled.json"), "w") as f:
        json.dump(record, f)


# ---------------------------------------------------------------- the greedy client and the normal clients

def greedy_texts(texts: list, n: int) -> list:
    return [i % len(texts) for i in range(n)]


def rows_right(payload: bytes, indices: list, expected: dict, tolerance: float) -> bool:
    """Whether a many-text answer holds, row by row, the predictor's own answer to `indices`."""
    try:
        answer = json.loads(payload)
        proba = np.asarray(answer["probabilities"], dtype=np.float64)
        want = np.asarray([expected["probabilities"][i] for i in indices])
        labels_ok = all(got == expected["labels"][i] or not expected["stable"][i]
                        for got, i in zip(answer["labels"], indices))
        return bool(proba.shape == want.shape and np.abs(proba - want).max() <= tolerance and labels_ok
                    and len(answer["labels"]) == len(indices))
    except (ValueError, KeyError, TypeError):
        return False


async def greedy_client(port: int, body: bytes, indices: list, expected: dict, tolerance: float,
                        stop_at: float, tally: dict, timeout: float) -> None:
    """Sends `body` back to back until `stop_at` (or the first error after SIGTERM)."""
    from serve_load import Connection

    connection = Connection(port)
    try:
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            try:
                status, payload = await asyncio.wait_for(connection.post(body), timeout)
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as err:
                connection.close()
                tally["errors"].append(type(err).__name__)
                if tally.get("stop_on_error"):
                    return
                continue
            tally["statuses"][status] = tally["statuses"].get(status, 0) + 1
            tally["seconds"].append(time.perf_counter() - start)
            if status == 200 and not rows_right(payload, indices, expected, tolerance):
                tally["wrong"] += 1
    finally:
        connection.close()


def new_greedy_tally(stop_on_error=False) -> dict:
    return {"statuses": {}, "seconds": [], "errors": [], "wrong": 0, "stop_on_error": stop_on_error}


def greedy_summary(tally: dict, texts_per_request: int) -> dict:
    served = tally["statuses"].get(200, 0)
    return {"requests": sum(tally["statuses"].values()), "served": served, "texts_served": served * texts_per_request,
            "statuses": {str(k): v for k, v in sorted(tally["statuses"].items())}, "wrong": tally["wrong"],
            "errors": len(tally["errors"]),
            "p50_ms": round(float(np.percentile(tally["seconds"], 50)) * 1000, 1) if tally["seconds"] else None}


async def normal_until_error(port: int, clients: int, tally, timeout: float, stop_at: float) -> None:
    """Normal clients in closed loop, each stopping at its first failed request (the server stopped)."""
    from serve_load import Connection, send

    counter = iter(range(10**9))

    async def client():
        connection = Connection(port)
        try:
            for i in counter:
                failed = tally.failed
                await send(connection, i, tally, timeout)
                if tally.failed > failed or time.perf_counter() > stop_at:
                    return
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(clients)))


def process_exited(pid: int) -> bool:
    """Whether `pid` has exited (gone, or a zombie its parent has not reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


# ---------------------------------------------------------------- the phase

def slow_phase(port: int, pid: int, args, expected: dict, log_path: str) -> dict:
    """The four steps against the server on `port` (process `pid`, its output in `log_path`);
    the server has exited when it returns."""
    import httpx

    from serve_load import TEXTS, Tally, closed_loop

    def normal(seconds, extra=None):
        tally = Tally(expected, args.tolerance)

        async def both():
            await asyncio.gather(closed_loop(port, args.normal_clients, 10**9, seconds, tally, args.timeout),
                                 *([extra()] if extra else []))

        start = time.perf_counter()
        asyncio.run(both())
        return tally.summary(time.perf_counter() - start)

    indices = greedy_texts(TEXTS, args.max_texts)
    greedy_body = json.dumps({"texts": [TEXTS[i] for i in indices]}, ensure_ascii=False).encode("utf-8")
    call_body = json.dumps({"texts": [TEXTS[i] for i in indices[:args.max_batch]]}, ensure_ascii=False).encode()
    result = {"settings": {"normal_clients": args.normal_clients, "stalled": args.stalled,
                           "stall_every_s": args.stall_every,
                           "seconds": args.slow_seconds, "greedy_texts_per_request": args.max_texts,
                           **{k: getattr(args, k) for k in ("header_timeout", "body_timeout", "drain_timeout")}}}
    result["unloaded"] = normal(args.slow_seconds)
    seconds = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        for _ in range(6):  # the first warms the max_batch shape
            start = time.perf_counter()
            answer = client.post("/predict", content=call_body, headers={"Content-Type": "application/json"})
            seconds.append(time.perf_counter() - start)
            assert answer.status_code == 200 and rows_right(answer.content, indices[:args.max_batch], expected,
                                                            args.tolerance), answer.text[:300]
    result["max_batch_call_ms"] = round(float(np.median(seconds[1:])) * 1000, 1)

    with tempfile.TemporaryDirectory(prefix="ktbert_stalled_") as folder:
        result.update(stalled_steps(port, pid, args, expected, greedy_body, indices, log_path, folder, normal))
    result["verdict"] = verdict(result, args)
    return result


def stalled_steps(port, pid, args, expected, greedy_body, indices, log_path, folder, normal) -> dict:
    """Steps 2 to 4, with the stalled connections' child process working in `folder`."""
    result = {}
    from bench_common import _die_with_parent

    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serve_load.py")
    child = subprocess.Popen([sys.executable, script, "--stall-into", str(port), str(args.stalled),
                              str(args.stall_every), str(args.stall_ramp), folder, str(args.slow_seconds * 4 + 600)],
                             preexec_fn=_die_with_parent)  # it stops if the benchmark dies
    try:
        deadline = time.monotonic() + 120
        while not os.path.exists(os.path.join(folder, "ready")):
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the stalled connections did not open")
            time.sleep(0.2)
        stalled_at = time.monotonic()
        result["stalled"] = normal(args.slow_seconds)
        greedy = new_greedy_tally()

        def greedy_task(seconds):
            return lambda: greedy_client(port, greedy_body, indices, expected, args.tolerance,
                                         time.perf_counter() + seconds, greedy, args.timeout)

        result["stalled_and_greedy"] = normal(args.slow_seconds, greedy_task(args.slow_seconds))
        result["greedy"] = greedy_summary(greedy, args.max_texts)
        # Every stalled connection has had time to reach its deadline before SIGTERM.
        time.sleep(max(0.0, stalled_at + args.body_timeout + args.stall_every + 2 - time.monotonic()))
        result["sigterm"] = sigterm_step(port, pid, args, expected, greedy_body, indices, log_path,
                                         os.path.join(folder, "last"))
    finally:
        open(os.path.join(folder, "stop"), "w").close()
        try:
            child.wait(args.stall_every + 60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    with open(os.path.join(folder, "stalled.json")) as f:
        result["stalled_connections"] = stalled_summary(json.load(f), args)
    return result


def sigterm_step(port: int, pid: int, args, expected: dict, greedy_body: bytes, indices: list, log_path: str,
                 last_path: str) -> dict:
    """SIGTERM under load: seconds until the process exits, answers after the signal, the drain
    line; the stalled connections open stay, and none is opened again (`last_path`)."""
    from serve_load import Tally

    tally, greedy = Tally(expected, args.tolerance), new_greedy_tally(stop_on_error=True)
    sent = {}

    async def run():
        stop_at = time.perf_counter() + 60
        clients = asyncio.gather(normal_until_error(port, args.normal_clients, tally, args.timeout, stop_at),
                                 greedy_client(port, greedy_body, indices, expected, args.tolerance, stop_at,
                                               greedy, args.timeout))
        await asyncio.sleep(2.0)
        open(last_path, "w").close()  # the stalled clients open no more connections: the
        await asyncio.sleep(0.5)      # server's refusals after SIGTERM are not counted as theirs
        served_before = tally.served
        os.kill(pid, signal.SIGTERM)
        sent["at"], sent["served_before"] = time.monotonic(), served_before
        while not process_exited(pid) and time.monotonic() - sent["at"] < args.drain_timeout + 30:
            await asyncio.sleep(0.05)
        sent["stop_s"] = round(time.monotonic() - sent["at"], 2)
        await clients

    asyncio.run(run())
    log = open(log_path, encoding="utf-8", errors="replace").read()
    drain = re.search(r"drained in ([\d.]+) s: (\d+) requests received, (\d+) answered, (\d+) unanswered", log)
    return {"stop_seconds": sent["stop_s"], "normal_served_after_sigterm": tally.served - sent["served_before"],
            "normal_wrong": tally.wrong, "greedy": greedy_summary(greedy, args.max_texts),
            "drain_line": drain.group(0) if drain else None,
            "unanswered": int(drain.group(4)) if drain else None,
            "received": int(drain.group(2)) if drain else None}


def stalled_summary(record: dict, args) -> dict:
    """How the stalled connections ended: closed by the server (and with what), or still open."""
    out = {"opened": record["opened"], "connect_errors": record["connect_errors"]}
    for mode, limit in (("headers", args.header_timeout), ("body", args.body_timeout)):
        closed = [(status, s) for m, status, s in record["closed"] if m == mode]
        still = [s for m, s in record["open_at_end"] if m == mode]
        seconds = [s for _, s in closed]
        out[mode] = {"closed_by_server": len(closed), "with_408": sum(status == 408 for status, _ in closed),
                     "with_503": sum(status == 503 for status, _ in closed),
                     "closed_after_p50_s": round(float(np.median(seconds)), 1) if seconds else None,
                     "closed_after_max_s": max(seconds) if seconds else None, "deadline_s": limit,
                     "open_at_end": len(still), "open_at_end_oldest_s": max(still) if still else None}
    return out


def verdict(result: dict, args) -> dict:
    u, s, g = result["unloaded"], result["stalled"], result["stalled_and_greedy"]
    bound = result["max_batch_call_ms"] + 2 * u["served_p99_ms"]
    stalled, term = result["stalled_connections"], result["sigterm"]
    slack = args.stall_every + 1.0

    def cut_in_time(mode, limit):
        row = stalled[mode]
        return (row["closed_by_server"] > 0 and row["closed_after_max_s"] <= limit + slack
                and (row["open_at_end_oldest_s"] or 0) <= limit + slack)

    wrong = u["wrong"] + s["wrong"] + g["wrong"] + result["greedy"]["wrong"] + term["normal_wrong"] \
        + term["greedy"]["wrong"]
    return {
        f"stalled: normal p99 <= 2x unloaded p99 ({s['served_p99_ms']} <= 2 x {u['served_p99_ms']} ms)":
            s["served_p99_ms"] <= 2 * u["served_p99_ms"],
        f"greedy: normal p99 <= one max_batch call + 2x unloaded p99 ({g['served_p99_ms']} <= {bound:.1f} ms)":
            g["served_p99_ms"] <= bound,
        "zero wrong answers": wrong == 0,
        "no normal request failed or was refused": all(p["failed"] == 0 and p["refused"] == 0 for p in (u, s, g)),
        "the greedy client was served": result["greedy"]["served"] > 0,
        f"stalled headers closed within header_timeout + {slack:g} s": cut_in_time("headers", args.header_timeout),
        f"stalled bodies closed within body_timeout + {slack:g} s": cut_in_time("body", args.body_timeout),
        f"SIGTERM stopped the server within drain_timeout={args.drain_timeout:g} s":
            term["stop_seconds"] <= args.drain_timeout,
        "no request the server took went unanswered": term["unanswered"] == 0,
    }


# ---------------------------------------------------------------- the report

def section(result: dict, info: dict, model: str, command: str, load_before: float) -> str:
    s, st = result["settings"], result["stalled_connections"]
    u, term = result["unloaded"], result["sigterm"]
    bound = result["max_batch_call_ms"] + 2 * u["served_p99_ms"]
    lines = [
        START, "", "## Slow and greedy clients (`benchmarks/serve_load.py`)", "",
        f"CPU: {info['model']}, {info['cores']} cores, load average {load_before:.2f} before the run; the clients run "
        f"on the same CPU as the server. Model: {model}, served by `ktbert serve` alone (no proxy) with "
        f"header_timeout={s['header_timeout']:g} s, body_timeout={s['body_timeout']:g} s, "
        f"drain_timeout={s['drain_timeout']:g} s. Normal clients: {s['normal_clients']}, one text per request, closed "
        f"loop, {s['seconds']:g} s a row. Stalled: {s['stalled']:,} connections from a child process, three in four "
        f"sending whole headers then a byte of body every {s['stall_every_s']:g} s, one in four their headers a byte "
        f"every {s['stall_every_s']:g} s; each one closed is opened again. Greedy: one connection sending "
        f"{s['greedy_texts_per_request']}-text requests back to back. One max_batch model call (a request of max_batch "
        f"texts, alone): {result['max_batch_call_ms']:,.1f} ms. Command: `{command}`.", "",
        "| normal clients | sent | served (200) | refused (503) | failed | wrong | p50 / p99 (ms) | p99 bound (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, key, limit in (("unloaded", "unloaded", None),
                             (f"beside {s['stalled']:,} stalled connections", "stalled", 2 * u["served_p99_ms"]),
                             ("... and the greedy client", "stalled_and_greedy", bound)):
        row = result[key]
        lines.append(f"| {name} | {row['sent']:,} | {row['served']:,} | {row['refused']:,} | {row['failed']:,} | "
                     f"{row['wrong']:,} | {row['served_p50_ms']} / {row['served_p99_ms']} | "
                     f"{'' if limit is None else f'{limit:,.1f}'} |")
    greedy = result["greedy"]
    lines += ["", f"Greedy client: {greedy['requests']:,} requests, {greedy['texts_served']:,} texts served, "
                  f"p50 {greedy['p50_ms']} ms, {greedy['wrong']} wrong, statuses {greedy['statuses']}.", "",
              "| stalled connections | closed by the server | with 408 | with 503 | open for p50 / max (s) | "
              "deadline (s) | still open at the end (oldest, s) |", "|---|---|---|---|---|---|---|"]
    for mode in ("headers", "body"):
        row = st[mode]
        lines.append(f"| slow {mode} | {row['closed_by_server']:,} | {row['with_408']:,} | {row['with_503']:,} | "
                     f"{row['closed_after_p50_s']} / {row['closed_after_max_s']} | {row['deadline_s']:g} | "
                     f"{row['open_at_end']:,} ({row['open_at_end_oldest_s']}) |")
    lines += ["", f"Connections opened by the stalled clients: {st['opened']:,} ({st['connect_errors']} failed to "
                  f"connect). SIGTERM under load (normal, greedy and stalled clients at it): the process exited "
                  f"{term['stop_seconds']} s later; {term['normal_served_after_sigterm']} normal requests were "
                  f"answered after the signal; the server's log: \"{term['drain_line']}\".", ""]
    checks = "; ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in result["verdict"].items())
    lines += [f"Checks: {checks}.", "", END]
    return "\n".join(lines)


def write_section(text: str, out: str, result: dict) -> None:
    """Writes serve_slow.json and the section into serve.md (between its markers, else at the end)."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "serve_slow.json"), "w") as f:
        json.dump(result, f, indent=2)
    path = os.path.join(out, "serve.md")
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    if START in old and END in old:
        new = old[:old.index(START)] + text + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)
