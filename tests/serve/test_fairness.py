"""The queue is counted in texts and fair between clients: a client sending the largest requests
back to back cannot push other clients' one-text requests behind all of its own, nor fill the
queue so that they are refused. Asserted on the composition of the model calls, not on timing."""

import asyncio
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from helpers import running
from ktbert.evaluate.decisions import Decisions
from ktbert.serve.batcher import DirectRunner, MicroBatcher, QueueFull
from ktbert.serve.fair_queue import FairQueue, Job
from ktbert.serve.service import create_app


def job(client, n, prefix=None):
    """A job of `n` texts; the queue never looks at its future."""
    return Job([f"{prefix or client}{i}" for i in range(n)], None, client)


def composition(slices):
    return [(s.job.client, s.stop - s.start) for s in slices]


def test_a_call_takes_the_same_number_of_texts_from_every_client_until_one_runs_out():
    queue = FairQueue()
    queue.put(job("greedy", 256))
    for client in ("a", "b", "c"):
        queue.put(job(client, 1))
    assert (len(queue), queue.ahead("d"), queue.ahead("greedy")) == (259, 4, 256 + 3)
    assert composition(queue.take(64)) == [("greedy", 1), ("a", 1), ("b", 1), ("c", 1)]
    assert composition(queue.take(64)) == [("greedy", 64)]  # alone, it fills a call
    queue.put(job("a", 2))
    queue.put(job("b", 3))
    assert composition(queue.take(64)) == [("greedy", 2), ("a", 2), ("b", 2)]
    assert composition(queue.take(64)) == [("greedy", 1), ("b", 1)]


def test_a_full_call_goes_round_the_clients_in_turns():
    queue = FairQueue()
    for client in "abcde":
        queue.put(job(client, 10))
    calls = [composition(queue.take(8)) for _ in range(3)]
    # 8 texts over 5 clients: one turn each, then three more; the next call starts after them.
    assert calls[0] == [("a", 2), ("b", 2), ("c", 2), ("d", 1), ("e", 1)]
    assert calls[1] == [("d", 2), ("e", 2), ("a", 2), ("b", 1), ("c", 1)]
    assert calls[2] == [("b", 2), ("c", 2), ("d", 2), ("e", 1), ("a", 1)]
    assert len(queue) == 50 - 24


def test_more_clients_than_a_call_holds_are_served_in_order_of_turns():
    queue = FairQueue()
    for client in range(6):
        queue.put(job(client, 1, prefix=f"c{client}-"))
    assert composition(queue.take(4)) == [(0, 1), (1, 1), (2, 1), (3, 1)]
    assert composition(queue.take(4)) == [(4, 1), (5, 1)]


def test_a_discarded_job_leaves_the_queue_and_its_client_line():
    queue = FairQueue()
    first, second = job("a", 3), job("a", 2, prefix="x")
    queue.put(first)
    queue.put(second)
    queue.put(job("b", 1))
    assert [s.texts for s in queue.take(2)] == [["a0"], ["b0"]]
    queue.discard(first)
    assert (len(queue), queue.ahead("b")) == (2, 1)
    assert [s.texts for s in queue.take(8)] == [["x0", "x1"]]
    assert len(queue) == 0 and queue.take(8) == []


class Recorder:
    """`run(texts)` -> `(texts,)`, recording each call; the first call waits for `gate`."""

    def __init__(self):
        self.calls, self.gate, self.entered = [], threading.Event(), threading.Event()

    def __call__(self, texts):
        self.calls.append(list(texts))
        self.entered.set()
        if len(self.calls) == 1:
            assert self.gate.wait(10), "the test never opened the gate"
        return (list(texts),)


def run_batcher(recorder, body, **options):
    async def main():
        executor = ThreadPoolExecutor(max_workers=1)
        batcher = MicroBatcher(recorder, executor, **options)
        await batcher.start()
        try:
            return await asyncio.wait_for(body(batcher), 20)
        finally:
            await batcher.stop()
            executor.shutdown(wait=False)
    return asyncio.run(main())


async def until(condition):
    while not condition():
        await asyncio.sleep(0.005)


def test_a_greedy_client_does_not_push_one_text_requests_behind_all_of_its_own():
    recorder = Recorder()
    greedy = [[f"g{r}-{i}" for i in range(16)] for r in range(2)]  # max_texts-sized, back to back

    async def body(batcher):
        async def greedy_client():
            return [await batcher.submit(texts, client="greedy") for texts in greedy]

        greedy_task = asyncio.ensure_future(greedy_client())
        await until(recorder.entered.is_set)  # its first call (4 texts) runs
        others = [asyncio.ensure_future(batcher.submit([f"one-{c}"], client=c)) for c in "abc"]
        await until(lambda: batcher.waiting == 12 + 3)
        recorder.gate.set()
        return await asyncio.gather(greedy_task, *others)

    answers = run_batcher(recorder, body, max_batch=4, max_wait_ms=0, max_queue=64)
    # The call after the greedy one under way holds each one-text request and one greedy text.
    assert recorder.calls[0] == greedy[0][:4]
    assert sorted(recorder.calls[1]) == sorted(["g0-4", "one-a", "one-b", "one-c"])
    assert [len(call) for call in recorder.calls[2:]] == [4, 4, 3, 4, 4, 4, 4]  # then greedy alone
    assert answers[0] == [(texts,) for texts in greedy] and answers[1:] == [(["one-a"],), (["one-b"],), (["one-c"],)]


def test_the_queue_counts_texts_and_a_full_client_line_refuses_only_that_client():
    recorder = Recorder()

    async def body(batcher):
        running = asyncio.ensure_future(batcher.submit(["first"], client="x"))
        await until(recorder.entered.is_set)
        big = asyncio.ensure_future(batcher.submit([f"g{i}" for i in range(8)], client="greedy"))
        await until(lambda: batcher.waiting == 8)
        with pytest.raises(QueueFull, match=re.escape(
                "the service is busy: 8 texts are waiting ahead of this request (max_queue=8). Retry shortly.")):
            await batcher.submit(["more"], client="greedy")
        # Another client's text would wait behind one greedy text only: it is let in.
        small = asyncio.ensure_future(batcher.submit(["small"], client="y"))
        await until(lambda: batcher.waiting == 9)
        recorder.gate.set()
        return await asyncio.gather(running, big, small), batcher.stats

    (_, _, small), stats = run_batcher(recorder, body, max_batch=4, max_wait_ms=0, max_queue=8)
    assert small == (["small"],) and stats.rejected == 1
    assert sorted(recorder.calls[1]) == ["g0", "small"]


class GatedStub:
    """A predictor answering [0.25, 0.75] for every text; its first call after the warm-up waits
    for `gate`, and every call's texts are recorded."""

    decisions = Decisions(2)

    def __init__(self):
        self.gate, self.entered, self.calls = threading.Event(), threading.Event(), []

    def get_classes(self):
        return ["neg", "pos"]

    def predict(self, texts, return_proba=False):
        if texts != ["warm-up"]:
            self.calls.append(list(texts))
            self.entered.set()
            assert self.gate.wait(20), "the test never opened the gate"
        return np.tile(np.float32([0.25, 0.75]), (len(texts), 1))


def test_over_http_a_greedy_connection_shares_each_call_with_the_others():
    stub = GatedStub()
    app = create_app(stub, max_batch=8, max_wait_ms=0, max_texts=32, max_queue=40)
    with running(app) as url, ThreadPoolExecutor(8) as pool:
        with httpx.Client(base_url=url, timeout=30) as greedy:
            texts = [[f"g{r}-{i}" for i in range(32)] for r in range(2)]
            greedy_answers = pool.submit(lambda: [greedy.post("/predict", json={"texts": t}) for t in texts])
            assert stub.entered.wait(20)  # greedy's first 8 texts are in the model
            deadline = time.monotonic() + 20
            while app.state.runner.waiting < 24:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            others = [pool.submit(httpx.post, f"{url}/predict", json={"texts": [f"one-{c}"]}, timeout=30)
                      for c in range(5)]
            while app.state.runner.waiting < 24 + 5:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            stub.gate.set()
            answers = [future.result(30) for future in others]
            assert [a.status_code for a in greedy_answers.result(30)] == [200, 200]
    assert all(a.status_code == 200 and a.json()["labels"] == ["pos"] for a in answers)
    # Five connections, five clients: the next call holds their texts and one of greedy's.
    assert sorted(stub.calls[1]) == sorted(["g0-8"] + [f"one-{c}" for c in range(5)])
    assert app.state.stats.requests == 2 + 5


def test_without_micro_batching_the_queue_counts_texts_too():
    recorder = Recorder()

    async def main():
        executor = ThreadPoolExecutor(max_workers=1)
        runner = DirectRunner(recorder, executor, max_queue=3)
        first = asyncio.ensure_future(runner.submit(["a", "b"], client="x"))
        await until(recorder.entered.is_set)
        second = asyncio.ensure_future(runner.submit(["c"], client="y"))  # 2 texts ahead: let in
        await until(lambda: runner.waiting == 3)
        with pytest.raises(QueueFull, match=re.escape("the service is busy: 3 texts are waiting ahead of this "
                                                      "request (max_queue=3). Retry shortly.")):
            await runner.submit(["d"], client="z")
        recorder.gate.set()
        answers = await asyncio.gather(first, second)
        executor.shutdown(wait=True)
        return answers

    assert asyncio.run(asyncio.wait_for(main(), 20)) == [(["a", "b"],), (["c"],)]
