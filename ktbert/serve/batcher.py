"""Merges concurrent prediction requests into one model call (micro-batching), for the service.

A request's texts wait in a bounded queue; one worker takes the first waiting request, waits at
most `max_wait_ms` for more, up to `max_batch` texts in all, runs the model once in a thread (so
the event loop keeps answering) and hands each request back its own rows. `DirectRunner` is the
same interface without merging: one model call per request.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from concurrent.futures import Executor
from typing import Callable, Sequence

from ktbert.checks import check_count, check_non_negative

# `run(texts)` returns a tuple of sequences, each with one row per text (e.g. labels and
# probabilities); the batcher gives each request the rows of its own texts.
Run = Callable[[list], tuple]


class QueueFull(Exception):
    """More requests are waiting than `max_queue` allows; the service answers 503."""


@dataclasses.dataclass
class BatchStats:
    """What the runner has done so far: requests answered, model calls, texts, largest call."""

    requests: int = 0
    model_calls: int = 0
    texts: int = 0
    largest_call: int = 0
    rejected: int = 0

    def count_call(self, n_texts: int, n_requests: int) -> None:
        self.model_calls += 1
        self.requests += n_requests
        self.texts += n_texts
        self.largest_call = max(self.largest_call, n_texts)


@dataclasses.dataclass
class _Request:
    texts: list
    future: asyncio.Future


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
    """Runs each request's texts as one model call, in `executor`; at most `max_queue` wait.

    Args:
        run: callable. `run(texts)` -> a tuple of sequences with one row per text.
        executor: Executor or None. where the model runs (one thread: one call at a time); may
            be set on `.executor` before `start`.
        max_queue: int. requests waiting at most; beyond them `submit` raises `QueueFull`.
    """

    def __init__(self, run: Run, executor: Executor, max_queue: int = 256):
        self.run = run
        self.executor = executor
        self.max_queue = check_count(max_queue, "max_queue")
        self.stats = BatchStats()
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """Requests submitted and not yet answered."""
        return self._waiting

    def check_room(self) -> None:
        """Raises `QueueFull` (and counts the refusal) when `max_queue` requests are waiting:
        the service calls it before reading a request, `submit` again before queueing it."""
        if self.waiting >= self.max_queue:
            self.stats.rejected += 1
            raise QueueFull(f"the service is busy: {self.waiting} requests are waiting "
                            f"(max_queue={self.max_queue}). Retry shortly.")

    async def start(self) -> None:
        """Nothing to start: each request runs on its own."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def submit(self, texts: list) -> tuple:
        """The rows of `texts`, as `run` returns them."""
        self.check_room()
        self._waiting += 1
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(self.executor, self.run, texts)
        finally:
            self._waiting -= 1
        self.stats.count_call(len(texts), 1)
        return outputs


class MicroBatcher(DirectRunner):
    """Merges concurrent requests into one model call of at most `max_batch` texts.

    The worker takes the first waiting request and, for at most `max_wait_ms`, adds the requests
    that arrive while the merged texts stay within `max_batch` (a request larger than that runs
    alone). Requests arriving while the model runs wait for the next call. If a merged call fails,
    each of its requests is run alone, so an error reaches only the request that caused it.

    Args:
        run: callable. `run(texts)` -> a tuple of sequences with one row per text.
        executor: Executor or None. where the model runs (one thread: one call at a time); may
            be set on `.executor` before `start`.
        max_batch: int. texts merged into one call at most.
        max_wait_ms: float. how long the first request of a call waits for others (0: merge
            only what is already waiting).
        max_queue: int. requests waiting at most; beyond them `submit` raises `QueueFull`.

    Examples:
    ```python
    batcher = MicroBatcher(run, executor, max_batch=64, max_wait_ms=5.0)
    await batcher.start()
    labels, proba = await batcher.submit(["what a film!"])
    await batcher.stop()
    ```
    """

    def __init__(self, run: Run, executor: Executor, max_batch: int = 64, max_wait_ms: float = 5.0,
                 max_queue: int = 256):
        super().__init__(run, executor, max_queue)
        self.max_batch = check_count(max_batch, "max_batch")
        self.max_wait_ms = check_non_negative(max_wait_ms, "max_wait_ms")
        self._pending: collections.deque = collections.deque()
        self._current: list = []  # the requests of the call under way
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None

    @property
    def waiting(self) -> int:
        """Requests queued and not yet taken into a model call."""
        return len(self._pending)

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
        self._fail([*self._current, *self._pending], RuntimeError("the service stopped before this request ran."))
        self._current, self._pending = [], collections.deque()

    async def submit(self, texts: list) -> tuple:
        """The rows of `texts`, computed in a model call shared with other requests."""
        if self._worker is None:
            raise RuntimeError("the batcher is not running: call `await batcher.start()` first.")
        self.check_room()
        request = _Request(texts, asyncio.get_running_loop().create_future())
        self._pending.append(request)
        self._arrived.set()
        return await request.future

    async def _work(self) -> None:
        while True:
            while not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
            try:
                self._current = await self._gather()
                if self._current:
                    await self._run(self._current)
            except Exception as err:  # noqa: BLE001  (a failing pass answers its requests; the worker lives on)
                self._fail(self._current, err)
            self._current = []

    @staticmethod
    def _fail(requests, error) -> None:
        for request in requests:
            if not request.future.done():
                request.future.set_exception(error)

    async def _gather(self) -> list:
        """The next call's requests: the first waiting one and those that fit within `max_batch`
        before `max_wait_ms` ends. Requests whose clients went away are dropped."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_ms / 1000
        batch, size = [], 0
        while size < self.max_batch:
            if self._pending:
                if batch and size + len(self._pending[0].texts) > self.max_batch:
                    break
                request = self._pending.popleft()
                if not request.future.done():  # a cancelled request is skipped
                    batch.append(request)
                    size += len(request.texts)
                continue
            remaining = deadline - loop.time()
            if remaining <= 0 or not batch:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break
        return batch

    async def _run(self, batch: list) -> None:
        loop = asyncio.get_running_loop()
        texts = [text for request in batch for text in request.texts]
        try:
            outputs = await loop.run_in_executor(self.executor, self.run, texts)
        except Exception as err:  # noqa: BLE001  (handed to the requests, never lost)
            if len(batch) == 1:
                self._answer(batch, None, err)
            else:
                for request in batch:  # alone, each request gets its own answer or error
                    if not request.future.done():  # unless its client went away
                        await self._run([request])
            return
        self.stats.count_call(len(texts), len(batch))
        self._answer(batch, _split(outputs, [len(r.texts) for r in batch]), None)

    @staticmethod
    def _answer(batch: list, parts, error) -> None:
        for i, request in enumerate(batch):
            if request.future.done():  # the client went away
                continue
            if error is not None:
                request.future.set_exception(error)
            else:
                request.future.set_result(parts[i])
