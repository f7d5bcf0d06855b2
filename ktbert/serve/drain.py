"""Whether the service is stopping, and the requests it took and answered, for `GET /ready` and
for the drain on SIGTERM (`ktbert/serve/server.py`).

`Drain` is the state: `begin()` marks the service as stopping, from which `/ready` answers 503
so that a load balancer sends no more; `CountRequests` is the ASGI middleware that counts every
request received and every answer sent, so that the server can say, when it exits, whether a
request it took went unanswered.
"""

from __future__ import annotations

import dataclasses
import time


@dataclasses.dataclass
class Drain:
    """The service's drain: stopping or not, and requests received and answered so far.

    Examples:
    ```python
    drain = Drain()
    drain.begin()        # SIGTERM: /ready answers 503 from now on
    drain.in_flight      # requests received and not yet answered
    ```
    """

    draining: bool = False
    since: float | None = None
    received: int = 0
    answered: int = 0

    @property
    def in_flight(self) -> int:
        """Requests received and not yet answered."""
        return self.received - self.answered

    def begin(self) -> None:
        """Marks the service as stopping (once; `since` is when, on the monotonic clock)."""
        if not self.draining:
            self.draining, self.since = True, time.monotonic()

    def summary(self) -> str:
        """One line for the log when the server exits."""
        took = f" in {time.monotonic() - self.since:.1f} s" if self.since is not None else ""
        return (f"ktbert serve drained{took}: {self.received} requests received, {self.answered} answered, "
                f"{self.in_flight} unanswered.")


class CountRequests:
    """ASGI middleware counting each HTTP request into `drain.received` and each whole answer
    into `drain.answered`.

    Args:
        app: the ASGI application it wraps.
        drain: Drain. where the counts go.
    """

    def __init__(self, app, drain: Drain):
        self.app, self.drain = app, drain

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.drain.received += 1

        async def counted(message):
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.drain.answered += 1

        await self.app(scope, receive, counted)
