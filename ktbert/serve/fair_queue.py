"""The micro-batcher's queue, counted in texts and fair between clients.

Each client (a connection, or an address behind a trusted proxy) has its own line of requests.
A model call takes the same number of texts from every client waiting, in turns, and ends with
the turn in which one of them has no text left: a client sending the largest requests back to
back gets a call of its own when it is alone, and one text a turn beside the others. A request
larger than a call is cut across calls. Admission is fair too: `ahead(client)` counts the texts
a new request's first text would wait behind, which another client's long line does not fill.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from typing import Hashable


@dataclasses.dataclass(eq=False)
class Job:
    """One request's texts on their way through model calls: `taken` of them handed to calls,
    the rows of each slice kept by its start until all have come."""

    texts: list
    future: asyncio.Future
    client: Hashable = None
    taken: int = 0
    parts: dict = dataclasses.field(default_factory=dict)
    answered: int = 0

    def deliver(self, start: int, rows: tuple) -> bool:
        """Keeps the rows of the slice starting at `start`; True once every text has its rows
        (then the future holds them, in the texts' order)."""
        self.parts[start] = rows
        self.answered += len(rows[0]) if rows else 0
        if self.answered < len(self.texts) or self.future.done():
            return False
        if len(self.parts) == 1:
            self.future.set_result(rows)
        else:
            slices = [self.parts[key] for key in sorted(self.parts)]
            self.future.set_result(tuple([row for part in slices for row in part[k]] for k in range(len(rows))))
        return True


@dataclasses.dataclass(frozen=True)
class Slice:
    """Texts `start` to `stop` of `job`, in one model call."""

    job: Job
    start: int
    stop: int

    @property
    def texts(self) -> list:
        return self.job.texts[self.start:self.stop]


class FairQueue:
    """Jobs waiting for the model, a line per client, served in turns.

    Examples:
    ```python
    queue = FairQueue()
    queue.put(Job(["a"] * 8, future_1, client="greedy"))
    queue.put(Job(["b"], future_2, client="other"))
    [(s.job.client, len(s.texts)) for s in queue.take(4)]   # [("greedy", 1), ("other", 1)]
    ```
    """

    def __init__(self):
        self._lines: collections.OrderedDict = collections.OrderedDict()  # client -> deque of jobs, in turn order
        self._waiting: dict = {}  # client -> texts not yet taken
        self.total = 0

    def __len__(self) -> int:
        return self.total

    def jobs(self) -> list:
        """Every job with texts still waiting."""
        return [job for line in self._lines.values() for job in line]

    def put(self, job: Job) -> None:
        """Queues `job` at the end of its client's line (a new client takes the last turn)."""
        size = len(job.texts) - job.taken
        if size <= 0:
            return
        self._lines.setdefault(job.client, collections.deque()).append(job)
        self._waiting[job.client] = self._waiting.get(job.client, 0) + size
        self.total += size

    def ahead(self, client: Hashable) -> int:
        """Texts a new text of `client` would wait behind: its own waiting texts, and of every
        other client at most as many as its own plus one (they are served in turns)."""
        own = self._waiting.get(client, 0)
        return own + sum(min(n, own + 1) for other, n in self._waiting.items() if other != client)

    def discard(self, job: Job) -> None:
        """Takes `job`'s texts not yet handed to a call out of the queue (its client went away,
        or a slice of it failed)."""
        left = len(job.texts) - job.taken
        if left <= 0:
            return
        job.taken = len(job.texts)
        line = self._lines.get(job.client)
        if line is not None and job in line:
            line.remove(job)
            self._count_out(job.client, left)

    def take(self, max_batch: int) -> list:
        """The next model call's slices: the same number of texts from each client, in turns,
        until one of them has none left or the call holds `max_batch` texts."""
        clients = list(self._lines)
        if not clients:
            return []
        least = min(self._waiting[c] for c in clients)
        turns = min(least, max_batch // len(clients))
        shares = dict.fromkeys(clients, turns)
        if turns < least:  # the call fills before anyone runs out: the first clients get one more
            for client in clients[:max_batch - turns * len(clients)]:
                shares[client] += 1
                self._lines.move_to_end(client)  # the next call starts after them
        slices = []
        for client, share in shares.items():
            slices += self._take_from(client, share)
        return slices

    def _take_from(self, client: Hashable, count: int) -> list:
        line, slices = self._lines[client], []
        while count > 0 and line:
            job = line[0]
            stop = min(len(job.texts), job.taken + count)
            slices.append(Slice(job, job.taken, stop))
            count -= stop - job.taken
            self._count_out(client, stop - job.taken)
            job.taken = stop
            if stop == len(job.texts):
                line.popleft()
        return slices

    def _count_out(self, client: Hashable, n: int) -> None:
        self.total -= n
        self._waiting[client] -= n
        if not self._waiting[client]:
            del self._waiting[client], self._lines[client]
