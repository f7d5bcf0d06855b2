"""Deadlines for a request's headers and body: a client that sends them a byte at a time is cut
off, so that it cannot hold a connection, a task and a file descriptor for as long as it likes.

uvicorn's `timeout_keep_alive` runs only between requests, and each byte resets it; it has no
deadline for a request under way. `DeadlineProtocol` is uvicorn's h11 protocol with one timer:
from the connection (or a later request's first byte) until the request's headers are whole
(`header_timeout`), then until its body is whole (`body_timeout`). Neither is reset by a byte.
When one runs out, the client gets a 408 that closes the connection (`Connection: close`); a
client that sent no byte of a request is closed without one. `ktbert serve` runs it
(`ktbert/serve/server.py`), so the deadlines hold with no proxy in front.
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

# When the service stops, a body still on its way gets this long before a 503 ends it.
DRAIN_BODY_GRACE_S = 1.0
# After a deadline's answer the connection reads (and drops) what still comes for this long
# before it closes: closing with unread bytes sends a TCP reset, which can destroy the answer
# before the client reads it.
LINGER_S = 2.0


def deadline_protocol(header_timeout: float, body_timeout: float) -> type:
    """`DeadlineProtocol` with these deadlines, in seconds: uvicorn's `http=` option takes the class."""
    return type("DeadlineProtocol", (DeadlineProtocol,),
                {"header_timeout": float(header_timeout), "body_timeout": float(body_timeout)})


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers and one for its body.

    Attributes:
        header_timeout: float. seconds from the connection, or from a later request's first
            byte, until the request's headers are whole.
        body_timeout: float. seconds from the headers until the body is whole.
    """

    header_timeout = 10.0
    body_timeout = 30.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._timer = None  # asyncio.TimerHandle of the deadline under way
        self._phase = None  # "headers", "body" or "stopping"
        self._lingering = False

    # === uvicorn's protocol, followed ===

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm("headers", self.header_timeout)

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:  # the connection is ending: what comes is dropped
            return
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()  # a pipelined request may have been read

    def shutdown(self) -> None:
        """The server stops: a request whose body is still coming gets `DRAIN_BODY_GRACE_S`
        more (or what is left of its deadline, if less), then a 503; the rest as uvicorn does."""
        if self._phase == "body" and not (self.cycle and self.cycle.response_started):
            left = self._timer.when() - self.loop.time() if self._timer else 0.0
            self._arm("stopping", max(0.0, min(left, DRAIN_BODY_GRACE_S)))
        super().shutdown()

    # === the deadlines ===

    def _follow(self) -> None:
        """Arms or clears the deadline for where the request under way stands."""
        if self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            # Between requests uvicorn's keep-alive timer runs; a next request's first bytes
            # start its headers' deadline (a new connection's runs from the connection).
            if not self.conn.trailing_data[0] and self.cycle is not None:
                self._disarm()
            elif self._phase != "headers":
                self._arm("headers", self.header_timeout)
        elif state is h11.SEND_BODY:
            if self._phase not in ("body", "stopping"):
                self._arm("body", self.body_timeout)
        else:  # the request came whole (or the connection is done with)
            self._disarm()

    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._timer = self.loop.call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._phase = None

    def _expired(self, phase: str) -> None:
        self._timer = self._phase = None
        if self.transport.is_closing():
            return
        cycle = self.cycle if self.conn.their_state is h11.SEND_BODY else None
        if cycle is not None and cycle.response_started:
            self._close()  # answered without its body: the rest is not waited for
        elif phase == "headers" and not self.conn.trailing_data[0]:
            self.transport.close()  # no byte of a request came: nothing to answer
        elif phase == "stopping":
            self._refuse(503, "the service is stopping and this request's body had not all arrived: "
                              "send the request again.", "body unfinished when the service stopped")
        elif phase == "headers":
            self._refuse(408, f"the request's headers did not arrive within header_timeout={self.header_timeout:g} s, "
                              "so the connection is closed. Send them at once, or start the service with a larger "
                              "`header_timeout` (`ktbert serve --header-timeout`).",
                         f"headers not whole within {self.header_timeout:g} s")
        else:
            self._refuse(408, f"the request's body did not arrive within body_timeout={self.body_timeout:g} s of its "
                              "headers, so the connection is closed. Send it at once, or start the service with a "
                              "larger `body_timeout` (`ktbert serve --body-timeout`).",
                         f"body not whole within {self.body_timeout:g} s")
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's receive() answers http.disconnect, its send() nothing
            cycle.message_event.set()

    def _refuse(self, status: int, message: str, note: str) -> None:
        """Writes a JSON `{"detail": message}` answer with `Connection: close`, closes, and logs `note`."""
        body = json.dumps({"detail": message}).encode("utf-8")
        reason = {408: b"Request Timeout", 503: b"Service Unavailable"}[status]
        headers = [*self.server_state.default_headers, (b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        head = b"HTTP/1.1 %d %s\r\n" % (status, reason) + b"".join(b"%s: %s\r\n" % pair for pair in headers)
        self.transport.write(head + b"\r\n" + body)
        self._close()
        client = "%s:%d - " % self.client if self.client else ""
        self.logger.info("%sconnection closed with %d: %s", client, status, note)

    def _close(self) -> None:
        """Ends the connection: no more from this side (TCP FIN after what was written), what
        the client still sends dropped for `LINGER_S`, then closed."""
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self._lingering = True
        self.transport.write_eof()
        self.flow.resume_reading()
        self.loop.call_later(LINGER_S, self.transport.close)
