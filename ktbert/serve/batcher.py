"""Merges concurrent prediction requests into one model call (micro-batching), for the service.

A request's texts wait in a queue counted in texts and fair between clients
(`ktbert/serve/fair_queue.py`); one worker waits at most `max_wait_ms` for texts to arrive, up
to `max_batch`, takes the next call's texts in turns from every client waiting, runs the model
once in a thread (so the event loop keeps answering) and hands each request back its own rows.
`DirectRunner` is the same interface without merging: one model call per request.
"""

from __future__ import annotations

import asyncio
import dataclasses
from concurrent.futures import Executor
from typing import Callable, Hashable, Sequence

from ktbert.checks import check_count, check_non_negative
from ktbert.serve.fair_queue import FairQueue, Job

# `run(texts)` returns a tuple of sequences, each with one row per text (e.g. labels and
# probabilities); the batcher gives each request the rows of its own texts.
Run = Callable[[list], tuple]


class QueueFull(Exception):
    """More texts are waiting ahead of a request than `max_queue` allows; the service answers 503."""


@dataclasses.dataclass
class BatchStats:
    """What the runner has done so far: requests answered, model calls, texts, largest call."""

    requests: int = 0
    model_calls: int = 0
    texts: int = 0
    largest_call: int = 0
    rejected: int = 0

    def count_call(self, n_texts: int, n_requests: int) -> None:
        """One model call of `n_texts` texts, which completed `n_requests` requests."""
        self.model_calls += 1
        self.requests += n_requests
        self.texts += n_texts
        self.largest_call = max(self.largest_call, n_texts)


def _split(outputs: tuple, sizes: Sequence[int]) -> list:
    """`outputs` (sequences of rows) cut into one tuple of slices per request."""
    rows = [len(output) for output in outputs]
    if any(n != sum(sizes) for n in rows):
        raise RuntimeError(f"the model answered {rows} rows for {sum(sizes)} texts; nothing was returned.")
    parts, start = [], 0
    for size in sizes:
        parts.append(tuple(rows[start:start + size] for rows in outputs))
        start += size
    return parts


class DirectRunner:
    """Runs each request's texts as one model call, in `executor`; at most `max_queue` texts wait.

    Args:
        run: callable. `run(texts)` -> a tuple of sequences with one row per text.
        executor: Executor or None. where the model runs (one thread: one call at a time); may
            be set on `.executor` before `start`.
        max_queue: int. texts submitted and not yet answered at most; beyond them `submit`
            raises `QueueFull`.
    """

    def __init__(self, run: Run, executor: Executor, max_queue: int = 256):
        self.run = run
        self.executor = executor
        self.max_queue = check_count(max_queue, "max_queue")
        self.stats = BatchStats()
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """Texts submitted and not yet answered."""
        return self._waiting

    def ahead(self, client: Hashable = None) -> int:
        """Texts a new request of `client` would wait behind: here, all those submitted."""
        return self._waiting

    def check_room(self, client: Hashable = None) -> None:
        """Raises `QueueFull` (and counts the refusal) when `max_queue` texts would be served
        before a new request of `client`: the service calls it before reading a request, and
        `submit` again before queueing it."""
        ahead = self.ahead(client)
        if ahead >= self.max_queue:
            self.stats.rejected += 1
            raise QueueFull(f"the service is busy: {ahead} texts are waiting ahead of this request "
                            f"(max_queue={self.max_queue}). Retry shortly.")

    async def start(self) -> None:
        """Nothing to start: each request runs on its own."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def submit(self, texts: list, client: Hashable = None) -> tuple:
        """The rows of `texts`, as `run` returns them."""
        self.check_room(client)
        self._waiting += len(texts)
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(self.executor, self.run, texts)
        finally:
            self._waiting -= len(texts)
        self.stats.count_call(len(texts), 1)
        return outputs


class MicroBatcher(DirectRunner):
    """Merges concurrent requests into model calls of at most `max_batch` texts, fair between clients.

    The worker waits at most `max_wait_ms` after a text arrives for `max_batch` texts to wait,
    then takes a call's texts in turns, one from each client waiting, until one of them has
    none left or the call is full: alone, a client fills calls; beside others, a client sending
    large requests adds one text a turn, so theirs are not pushed behind all of its own. A
    request larger than a call is cut across calls. Texts arriving while the model runs wait
    for the next call. If a merged call fails, each request's slice is run alone, so an error
    reaches only the request that caused it.

    Args:
        run: callable. `run(texts)` -> a tuple of sequences with one row per text.
        executor: Executor or None. where the model runs (one thread: one call at a time); may
            be set on `.executor` before `start`.
        max_batch: int. texts merged into one call at most.
        max_wait_ms: float. how long the first text of a call waits for others (0: merge
            only what is already waiting).
        max_queue: int. texts a new request's first text may wait behind, in the fair order
            (its client's own, and of each other client as many again plus one); beyond
            them `submit` raises `QueueFull`.

    Examples:
    ```python
    batcher = MicroBatcher(run, executor, max_batch=64, max_wait_ms=5.0)
    await batcher.start()
    labels, proba = await batcher.submit(["what a film!"], client=("10.0.0.7", 51234))
    await batcher.stop()
    ```
    """

    def __init__(self, run: Run, executor: Executor, max_batch: int = 64, max_wait_ms: float = 5.0,
                 max_queue: int = 256):
        super().__init__(run, executor, max_queue)
        self.max_batch = check_count(max_batch, "max_batch")
        self.max_wait_ms = check_non_negative(max_wait_ms, "max_wait_ms")
        self._queue = FairQueue()
        self._current: list = []  # the slices of the call under way
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None

    @property
    def waiting(self) -> int:
        """Texts queued and not yet taken into a model call."""
        return self._queue.total

    def ahead(self, client: Hashable = None) -> int:
        """Texts a new request of `client` would wait behind, in the fair order."""
        return self._queue.ahead(client)

    async def start(self) -> None:
        """Starts the worker on the running event loop."""
        self._arrived = asyncio.Event()
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        """Stops the worker; requests still queued or in the call under way are answered
        with an error."""
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        jobs = [s.job for s in self._current] + self._queue.jobs()
        self._fail(jobs, RuntimeError("the service stopped before this request ran."))
        self._current, self._queue = [], FairQueue()

    async def submit(self, texts: list, client: Hashable = None) -> tuple:
        """The rows of `texts`, computed in model calls shared with other requests; `client`
        names the sender, whose requests wait in a line of their own."""
        if self._worker is None:
            raise RuntimeError("the batcher is not running: call `await batcher.start()` first.")
        if not len(texts):
            raise ValueError("`texts` is empty: there is nothing to run.")
        self.check_room(client)
        job = Job(list(texts), asyncio.get_running_loop().create_future(), client)
        self._queue.put(job)
        # A job answered early (its client went away, a slice failed) leaves the queue at once.
        job.future.add_done_callback(lambda _: self._queue.discard(job))
        self._arrived.set()
        return await job.future

    async def _work(self) -> None:
        while True:
            while not self._queue.total:
                self._arrived.clear()
                await self._arrived.wait()
            try:
                await self._gather()
                self._current = self._queue.take(self.max_batch)
                if self._current:
                    await self._run(self._current)
            except Exception as err:  # noqa: BLE001  (a failing pass answers its requests; the worker lives on)
                self._fail([s.job for s in self._current], err)
            self._current = []

    @staticmethod
    def _fail(jobs, error) -> None:
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(error)

    async def _gather(self) -> None:
        """Waits until `max_batch` texts wait or `max_wait_ms` has passed since this call began
        gathering."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_ms / 1000
        while self._queue.total < self.max_batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    async def _run(self, slices: list) -> None:
        loop = asyncio.get_running_loop()
        slices = [s for s in slices if not s.job.future.done()]  # a client that went away is skipped
        if not slices:
            return
        texts = [text for s in slices for text in s.texts]
        try:
            outputs = await loop.run_in_executor(self.executor, self.run, texts)
        except Exception as err:  # noqa: BLE001  (handed to the requests, never lost)
            if len(slices) == 1:
                self._fail([slices[0].job], err)
            else:
                for piece in slices:  # alone, each slice gets its own answer or error
                    await self._run([piece])
            return
        parts = _split(outputs, [s.stop - s.start for s in slices])
        completed = sum(s.job.deliver(s.start, part) for s, part in zip(slices, parts))
        self.stats.count_call(len(texts), completed)

