"""Deadlines for slow clients: a client sending a request's headers or body a byte at a time is
cut off with a 408 that closes the connection, an idle new connection is closed, and under
hundreds of stalled connections normal clients are still served. A stub model answers at once;
the deadlines are short (1-3 s), the time bounds generous."""

import asyncio
import json
import re
import select
import socket
import time

import httpx
import pytest

from helpers import ConstantPredictor, running
from ktbert.serve.service import create_app

HEAD = (b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n")
BODY = b'{"texts": ["a slow text that comes a byte at a time"]}'
HEADERS_408 = ("the request's headers did not arrive within header_timeout=1 s, so the connection is closed. "
               "Send them at once, or start the service with a larger `header_timeout` "
               "(`ktbert serve --header-timeout`).")
BODY_408 = ("the request's body did not arrive within body_timeout=1.5 s of its headers, so the connection is "
            "closed. Send it at once, or start the service with a larger `body_timeout` (`ktbert serve "
            "--body-timeout`).")


@pytest.fixture(scope="module")
def server():
    with running(create_app(ConstantPredictor(), header_timeout=1.0, body_timeout=1.5)) as url:
        yield ("127.0.0.1", int(url.rsplit(":", 1)[1]))


def trickle(sock, data: bytes, every: float = 0.1) -> float:
    """Sends `data` a byte every `every` seconds until the server answers or closes; returns
    when it did, on the monotonic clock."""
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        if select.select([sock], [], [], every)[0]:
            break
    else:
        raise AssertionError("the server let the whole request trickle in")
    return time.monotonic()


def read_to_end(sock, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection (fails if it does not)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def parse(answer: bytes) -> tuple[int, dict, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def test_headers_sent_a_byte_at_a_time_get_a_408_that_closes_the_connection(server):
    start = time.monotonic()  # before the connection: the server's deadline starts after it
    with socket.create_connection(server) as sock:
        answered = trickle(sock, HEAD % len(BODY) + BODY)
        status, headers, body = parse(read_to_end(sock))
    assert (status, headers["connection"], headers["content-type"]) == (408, "close", "application/json")
    assert json.loads(body) == {"detail": HEADERS_408}
    assert 1.0 <= answered - start < 8.0  # the deadline runs from the connection; no byte resets it


def test_a_body_sent_a_byte_at_a_time_gets_a_408_that_closes_the_connection(server):
    with socket.create_connection(server) as sock:
        start = time.monotonic()  # before the headers are sent: the server's deadline starts after them
        sock.sendall(HEAD % len(BODY))
        answered = trickle(sock, BODY)
        status, headers, body = parse(read_to_end(sock))
    assert (status, headers["connection"]) == (408, "close") and json.loads(body) == {"detail": BODY_408}
    assert 1.5 <= answered - start < 8.0  # from the headers


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(server):
    start = time.monotonic()
    with socket.create_connection(server) as sock:
        assert read_to_end(sock) == b""
        assert 1.0 <= time.monotonic() - start < 8.0


def test_a_kept_alive_connection_waits_idle_but_its_next_request_has_the_deadline(server):
    with socket.create_connection(server) as sock:
        sock.sendall(HEAD % len(BODY) + BODY)
        first = b""
        while not (b"\r\n\r\n" in first and first.endswith(b"}")):
            first += sock.recv(65536)
        assert parse(first)[0] == 200
        time.sleep(1.6)  # idle longer than both deadlines, within uvicorn's keep-alive (5 s)
        start = time.monotonic()
        answered = trickle(sock, HEAD % len(BODY) + BODY)
        status, headers, body = parse(read_to_end(sock))
    assert (status, json.loads(body)) == (408, {"detail": HEADERS_408})
    assert 1.0 <= answered - start < 8.0  # from the next request's first byte


def test_a_request_answered_before_its_body_came_is_closed_at_the_body_deadline(server):
    with socket.create_connection(server) as sock:
        start = time.monotonic()  # before the headers are sent: the server's deadline starts after them
        sock.sendall(b"POST /no-such-path HTTP/1.1\r\nHost: test\r\nContent-Length: 60\r\n\r\n")
        answer = b""
        while not answer.endswith(b"}"):  # its 404 comes at once
            answer += sock.recv(65536)
        closed = None
        for _ in range(60):  # the rest of its body, a byte at a time, is not waited for
            sock.sendall(b"x")
            if select.select([sock], [], [], 0.1)[0]:
                assert sock.recv(65536) == b""  # the server's end of the connection
                closed = time.monotonic()
                break
    assert parse(answer)[0] == 404
    assert closed is not None and 1.5 <= closed - start < 8.0


async def stalled_connection(port: int, slow_headers: bool, every: float) -> tuple[int | None, float]:
    """One client sending its headers (or, after whole headers, its body) a byte every `every`
    seconds; returns the status the server answered (None: closed without one) and when."""
    start = time.monotonic()  # before the connection: the server's deadline starts after it
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = HEAD % len(BODY) + BODY
    if not slow_headers:
        writer.write(HEAD % len(BODY))
        data = BODY
    answer = b""
    for byte in data:
        writer.write(bytes([byte]))
        try:
            # read(n) keeps what came if the wait is cut short; read() to the end would drop
            # its first chunk when the timeout fell between the answer and the server's close
            answer = await asyncio.wait_for(reader.read(65536), every)
            answer += await asyncio.wait_for(reader.read(), 10.0)  # the rest, to the server's close
            break
        except TimeoutError:
            if answer:
                break  # answered but not closed: the status is checked, the close by other tests
            continue
        except ConnectionResetError:
            break
    writer.close()
    status = int(answer[9:12]) if answer.startswith(b"HTTP/1.1 ") else None
    return status, time.monotonic() - start


async def normal_client(url: str, requests: int) -> list:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return [await client.post("/predict", json={"texts": [f"normal {i}"]}) for i in range(requests)]


def test_under_300_stalled_connections_normal_clients_are_served_and_the_stalled_are_cut_off():
    app = create_app(ConstantPredictor(), header_timeout=2.0, body_timeout=3.0)

    async def scenario(url, port):
        stalled = [asyncio.ensure_future(stalled_connection(port, i % 2 == 0, every=0.5)) for i in range(300)]
        await asyncio.sleep(0.5)  # all connected, trickling
        normal = await asyncio.gather(*(normal_client(url, 10) for _ in range(4)))
        return normal, await asyncio.gather(*stalled)

    with running(app) as url:
        start = time.monotonic()
        normal, stalled = asyncio.run(scenario(url, int(url.rsplit(":", 1)[1])))
        served_within = time.monotonic() - start
    answers = [response for client in normal for response in client]
    assert [(a.status_code, a.json()["labels"]) for a in answers] == [(200, ["pos"])] * 40
    assert [status for status, _ in stalled] == [408] * 300
    headers_cut = [seconds for (_, seconds), i in zip(stalled, range(300)) if i % 2 == 0]
    body_cut = [seconds for (_, seconds), i in zip(stalled, range(300)) if i % 2 == 1]
    assert 2.0 <= min(headers_cut) and max(headers_cut) < 15.0
    assert 3.0 <= min(body_cut) and max(body_cut) < 15.0
    assert served_within < 30.0


@pytest.mark.parametrize("option, value, message", [
    ("header_timeout", 0, "`header_timeout` must be a positive number. Received: header_timeout=0"),
    ("body_timeout", "30", "`body_timeout` must be a positive number. Received: body_timeout='30'"),
    ("drain_timeout", float("inf"), "`drain_timeout` must be a positive number. Received: drain_timeout=inf"),
    ("drain_delay", -1, "`drain_delay` must be a number >= 0. Received: drain_delay=-1"),
])
def test_bad_deadlines_are_refused(option, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        create_app(ConstantPredictor(), **{option: value})
