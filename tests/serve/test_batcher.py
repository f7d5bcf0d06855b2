"""The micro-batcher: which requests share a model call, rows split back, errors kept apart,
the bounded queue. A recording function stands in for the model, so no TensorFlow runs."""

import asyncio
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ktbert.serve.batcher import DirectRunner, MicroBatcher, QueueFull


class Recorder:
    """`run(texts)` -> `(upper-cased texts, lengths)`, remembering every call's texts; raises
    ValueError for a call holding "boom"; blocks while `gate` is closed."""

    def __init__(self):
        self.calls = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __call__(self, texts):
        self.calls.append(list(texts))
        self.entered.set()
        assert self.gate.wait(10), "the test never opened the gate"
        if "boom" in texts:
            raise ValueError("boom is refused")
        return [t.upper() for t in texts], [len(t) for t in texts]


def run_async(make_coroutine, timeout=20):
    async def bounded():
        return await asyncio.wait_for(make_coroutine(), timeout)
    return asyncio.run(bounded())


async def with_batcher(recorder, body, **options):
    executor = ThreadPoolExecutor(max_workers=1)
    batcher = MicroBatcher(recorder, executor, **options)
    await batcher.start()
    try:
        return await body(batcher)
    finally:
        await batcher.stop()
        executor.shutdown(wait=False, cancel_futures=True)


def test_concurrent_requests_share_calls_up_to_max_batch():
    recorder = Recorder()
    requests = [[f"r{i}a", f"r{i}bb"] for i in range(5)]

    async def body(batcher):
        return await asyncio.gather(*(batcher.submit(texts) for texts in requests)), batcher.stats

    answers, stats = run_async(lambda: with_batcher(recorder, body, max_batch=6, max_wait_ms=50))
    # All five wait before the worker runs: three fill the first call, two share the second.
    assert recorder.calls == [requests[0] + requests[1] + requests[2], requests[3] + requests[4]]
    for texts, (upper, lengths) in zip(requests, answers):
        assert list(upper) == [t.upper() for t in texts] and list(lengths) == [len(t) for t in texts]
    assert (stats.requests, stats.model_calls, stats.texts, stats.largest_call) == (5, 2, 10, 6)


def test_a_request_larger_than_max_batch_is_cut_across_calls():
    recorder = Recorder()
    big, small = [f"t{i}" for i in range(10)], ["s"]

    async def body(batcher):
        return await asyncio.gather(batcher.submit(big), batcher.submit(small))

    answers = run_async(lambda: with_batcher(recorder, body, max_batch=4, max_wait_ms=50))
    assert recorder.calls == [big[:4], big[4:8], big[8:] + small]  # one client: its texts in order
    assert list(answers[0][0]) == [t.upper() for t in big] and list(answers[0][1]) == [2] * 10
    assert list(answers[1][0]) == ["S"]


def test_a_call_waits_at_most_max_wait_ms_for_others():
    async def later(batcher, delay_s):
        await asyncio.sleep(delay_s)
        return await batcher.submit(["b"])

    async def body(batcher):
        return await asyncio.gather(batcher.submit(["a"]), later(batcher, 0.3))

    recorder = Recorder()  # the wait (20 ms) ends long before "b" comes: two calls
    run_async(lambda: with_batcher(recorder, body, max_batch=8, max_wait_ms=20))
    assert recorder.calls == [["a"], ["b"]]
    recorder = Recorder()  # "b" comes within the wait (5 s), and fills the call: one call
    run_async(lambda: with_batcher(recorder, body, max_batch=2, max_wait_ms=5000))
    assert recorder.calls == [["a", "b"]]


def test_a_failing_call_is_retried_per_request_so_only_the_culprit_fails():
    recorder = Recorder()

    async def body(batcher):
        return await asyncio.gather(batcher.submit(["fine"]), batcher.submit(["boom"]),
                                    return_exceptions=True)

    fine, boom = run_async(lambda: with_batcher(recorder, body, max_batch=8, max_wait_ms=50))
    assert recorder.calls == [["fine", "boom"], ["fine"], ["boom"]]
    assert list(fine[0]) == ["FINE"]
    assert isinstance(boom, ValueError) and str(boom) == "boom is refused"


def test_beyond_max_queue_requests_are_refused_at_once():
    recorder = Recorder()
    recorder.gate.clear()

    async def body(batcher):
        first = asyncio.ensure_future(batcher.submit(["a"]))
        while not recorder.entered.is_set():  # "a" is in the model
            await asyncio.sleep(0.01)
        second = asyncio.ensure_future(batcher.submit(["b"]))
        await asyncio.sleep(0)
        assert batcher.waiting == 1
        with pytest.raises(QueueFull, match=re.escape(
                "the service is busy: 1 texts are waiting ahead of this request (max_queue=1). Retry shortly.")):
            await batcher.submit(["c"])
        recorder.gate.set()
        return await asyncio.gather(first, second), batcher.stats

    answers, stats = run_async(lambda: with_batcher(recorder, body, max_batch=1, max_wait_ms=0, max_queue=1))
    assert [list(a[0]) for a in answers] == [["A"], ["B"]]
    assert (stats.requests, stats.rejected) == (2, 1)


def test_a_request_whose_client_left_is_skipped():
    recorder = Recorder()
    recorder.gate.clear()

    async def body(batcher):
        first = asyncio.ensure_future(batcher.submit(["a"]))
        while not recorder.entered.is_set():
            await asyncio.sleep(0.01)
        gone = asyncio.ensure_future(batcher.submit(["gone"]))
        kept = asyncio.ensure_future(batcher.submit(["kept"]))
        await asyncio.sleep(0)
        gone.cancel()
        recorder.gate.set()
        return await asyncio.gather(first, kept)

    run_async(lambda: with_batcher(recorder, body, max_batch=8, max_wait_ms=10))
    assert recorder.calls == [["a"], ["kept"]]


def test_stop_answers_queued_requests_with_an_error():
    recorder = Recorder()
    recorder.gate.clear()

    async def body():
        executor = ThreadPoolExecutor(max_workers=1)
        batcher = MicroBatcher(recorder, executor, max_batch=1, max_wait_ms=0)
        await batcher.start()
        running = asyncio.ensure_future(batcher.submit(["a"]))
        while not recorder.entered.is_set():
            await asyncio.sleep(0.01)
        queued = asyncio.ensure_future(batcher.submit(["b"]))
        await asyncio.sleep(0)
        await batcher.stop()
        recorder.gate.set()
        executor.shutdown(wait=True)
        return await asyncio.gather(running, queued, return_exceptions=True)

    errors = run_async(body)  # the request in the model call too, not only the queued one
    assert [type(e) for e in errors] == [RuntimeError, RuntimeError]
    assert {str(e) for e in errors} == {"the service stopped before this request ran."}


def test_a_failing_pass_answers_its_requests_and_the_worker_goes_on():
    calls = []

    def run(texts):  # a wrong shape the first time: one row for two texts
        calls.append(list(texts))
        return ([t.upper() for t in texts][: 1 if len(calls) == 1 else None],)

    async def body():
        executor = ThreadPoolExecutor(max_workers=1)
        batcher = MicroBatcher(run, executor, max_batch=8, max_wait_ms=50)
        await batcher.start()
        first = await asyncio.gather(batcher.submit(["a"]), batcher.submit(["b"]), return_exceptions=True)
        later = await batcher.submit(["c"])
        await batcher.stop()
        executor.shutdown(wait=True)
        return first, later

    first, later = run_async(body)
    assert len(calls) == 2 and calls[0] == ["a", "b"]
    assert [str(e) for e in first] == ["the model answered [1] rows for 2 texts; nothing was returned."] * 2
    assert later == (["C"],)


def test_submit_before_start_says_what_to_do():
    batcher = MicroBatcher(Recorder(), None)
    with pytest.raises(RuntimeError, match=re.escape("call `await batcher.start()` first")):
        run_async(lambda: batcher.submit(["a"]))


def test_direct_runner_makes_one_call_per_request():
    recorder = Recorder()

    async def body():
        executor = ThreadPoolExecutor(max_workers=1)
        runner = DirectRunner(recorder, executor, max_queue=8)
        await runner.start()
        answers = await asyncio.gather(*(runner.submit([f"t{i}"]) for i in range(4)))
        await runner.stop()
        executor.shutdown(wait=True)
        return answers, runner.stats

    answers, stats = run_async(body)
    assert sorted(recorder.calls) == [["t0"], ["t1"], ["t2"], ["t3"]]
    assert [list(a[0]) for a in answers] == [["T0"], ["T1"], ["T2"], ["T3"]]
    assert (stats.requests, stats.model_calls, stats.largest_call) == (4, 4, 1)


@pytest.mark.parametrize("option, value, message", [
    ("max_batch", 0, "`max_batch` must be a positive integer. Received: max_batch=0"),
    ("max_wait_ms", -1, "`max_wait_ms` must be a number >= 0. Received: max_wait_ms=-1"),
    ("max_queue", 1.5, "`max_queue` must be a positive integer. Received: max_queue=1.5"),
])
def test_bad_settings_are_refused(option, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        MicroBatcher(Recorder(), None, **{option: value})
