"""The server `ktbert serve` runs an app with: uvicorn, in one process, with the deadlines of
`ktbert/serve/protocol.py` and a drain on SIGTERM.

On SIGTERM (or Ctrl-C) the service first answers 503 at `GET /ready`; after `drain_delay`
seconds it stops accepting connections, closes the idle ones, answers every request it has
taken, waiting up to `drain_timeout` seconds for them (uvicorn's `timeout_graceful_shutdown`),
stops the model's worker and exits, logging how many requests it received and answered.
"""

from __future__ import annotations

import logging
import time

import uvicorn

from ktbert.checks import check_non_negative, check_rate
from ktbert.serve.drain import CountRequests, Drain
from ktbert.serve.protocol import deadline_protocol

TIMEOUTS = {"header_timeout": 10.0, "body_timeout": 30.0, "drain_timeout": 20.0, "drain_delay": 0.0}
logger = logging.getLogger("uvicorn.error")


def check_timeouts(header_timeout, body_timeout, drain_timeout, drain_delay) -> dict:
    """The server's deadlines as a dict, each checked: positive seconds, a delay >= 0
    (`TIMEOUTS` holds the defaults)."""
    return {"header_timeout": check_rate(header_timeout, "header_timeout"),
            "body_timeout": check_rate(body_timeout, "body_timeout"),
            "drain_timeout": check_rate(drain_timeout, "drain_timeout"),
            "drain_delay": check_non_negative(drain_delay, "drain_delay")}


class DrainingServer(uvicorn.Server):
    """uvicorn's server, which marks `drain` as begun on the first SIGTERM or Ctrl-C and goes on
    serving `drain_delay` seconds more (a second signal stops it at once) before it shuts down."""

    def __init__(self, config: uvicorn.Config, drain: Drain, drain_delay: float = 0.0):
        super().__init__(config)
        self.drain, self.drain_delay = drain, drain_delay
        self._signal, self._stop_at = None, None

    def handle_exit(self, sig, frame) -> None:
        self.drain.begin()
        if self.drain_delay > 0 and self._signal is None and not self.should_exit:
            self._signal, self._stop_at = sig, time.monotonic() + self.drain_delay
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._signal is not None and time.monotonic() >= self._stop_at:
            sig, self._signal = self._signal, None
            super().handle_exit(sig, None)
        return await super().on_tick(counter)

    async def shutdown(self, sockets=None) -> None:
        self.drain.begin()
        await super().shutdown(sockets=sockets)
        logger.info(self.drain.summary())


def build_server(app, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> DrainingServer:
    """The uvicorn server for `app` as `ktbert serve` runs it: one process, the app's deadlines
    and drain (as `create_app` set them; the defaults for another app), requests counted.

    Args:
        app: the ASGI app, usually from `create_app`.
        host: str. the address to listen on.
        port: int. the port.
        log_level: str. uvicorn's ("warning" drops the line per request).

    Returns:
        DrainingServer: `.run()` serves until SIGTERM or Ctrl-C; `.run(sockets=[sock])` on
        sockets of your own.
    """
    settings = {**TIMEOUTS, **getattr(getattr(app, "state", None), "timeouts", {})}
    drain = getattr(getattr(app, "state", None), "drain", None) or Drain()
    # No WebSocket: an upgrade request is answered as plain HTTP, under the same deadlines.
    config = uvicorn.Config(CountRequests(app, drain), host=host, port=port, workers=1, log_level=log_level,
                            lifespan="on", timeout_graceful_shutdown=settings["drain_timeout"], ws="none",
                            http=deadline_protocol(settings["header_timeout"], settings["body_timeout"]))
    return DrainingServer(config, drain, settings["drain_delay"])


def serve_app(app, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Runs `app` with `build_server` until SIGTERM or Ctrl-C, drained as the module says.

    Examples:
    ```python
    from ktbert.serve.server import serve_app
    serve_app(create_app(ktbert.load_predictor("sentiment")), port=8000)
    ```
    """
    server = build_server(app, host=host, port=port, log_level=log_level)
    raise_open_files_limit()
    server.run()


def raise_open_files_limit() -> None:
    """Lifts the soft limit on open files to the hard one: each connection, stalled or not,
    holds a file descriptor, and a soft limit of 1,024 would refuse connections long before
    the deadlines free them."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # a hard limit the kernel refuses as a soft one: keep the soft one
            pass
