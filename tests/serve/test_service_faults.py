"""The service after faults: each bad request (malformed JSON, a wrong field or type, an empty
list, 10 MB in one request, 100,000 texts) gets its 4xx and a short message, never reaches the
model, and leaves the service answering the next request right; a full queue refuses at once
with 503, holds no more than `max_queue` texts, and serves correctly again once it drains."""

import asyncio
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

import ktbert
from helpers import WORDS
from ktbert.evaluate.decisions import Decisions
from ktbert.serve.service import Refused, create_app, read_body
from helpers import SERVICE_TOLERANCE as TOLERANCE, running

EXAMPLE = '{"texts": ["what a film!", "dull"]}'
GOOD = ["the film was great", "awful plot", ""]


@pytest.fixture(scope="module")
def predictor(tiny_encoder):
    """An untrained classifier on the tiny encoder: its answers are deterministic, which is all
    these tests compare."""
    texts = [" ".join(WORDS[i % 9: i % 9 + 4]) for i in range(16)]
    labels = [i % 2 for i in range(16)]
    trn, _, preproc = ktbert.texts_from_array(texts, labels, x_test=texts[:4], y_test=labels[:4],
                                              class_names=["neg", "pos"], maxlen=16, encoder=tiny_encoder, verbose=0)
    return ktbert.get_predictor(ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0), preproc)


@pytest.fixture(scope="module")
def server(predictor):
    """The service with its default limits (256 texts, 1,000,000 bytes a request)."""
    app = create_app(predictor)
    with running(app) as url:
        yield url, app


def chunked(total_bytes):
    """A body sent chunked (no Content-Length): one text of `total_bytes` bytes in 64 KB pieces."""
    def body():
        yield b'{"texts": ["'
        for _ in range(total_bytes // 65536):
            yield b"a" * 65536
        yield b'"]}'
    return body


def nested(depth):
    return "[" * depth + "]" * depth


BYTES_FIX = ("Send fewer or shorter texts per request, or start the service with a larger `max_bytes` "
             "(`ktbert serve --max-bytes`).")
# (case, body: str, bytes or a generator function, status, the whole message or, for a
# message that depends on the JSON parser, its start)
BAD_REQUESTS = [
    ("malformed JSON", '{"texts": ["good"', 400, "the request body is not valid JSON ("),
    ("nested 100,000 deep", nested(100_000), 400,
     f"the request body nests arrays or objects too deeply to be read. Send a JSON object like {EXAMPLE}."),
    ("a wrong field", '{"text": ["good"]}', 422,
     "unknown field(s) ['text']: /predict takes `texts` (a list of strings) and `return_proba` (true or false)."),
    ("a 5,000-character field name", json.dumps({"t" * 5000: 1, "texts": ["good"]}), 422,
     f"unknown field(s) ['{'t' * 37}...']: /predict takes `texts` (a list of strings) and `return_proba` "
     "(true or false)."),
    ("an unpaired surrogate in a field name", '{"texts": ["good"], "bad\\udc00": 1}', 422,
     "unknown field(s) ['bad\\udc00']: /predict takes `texts` (a list of strings) and `return_proba` "
     "(true or false)."),
    ("texts a number", '{"texts": 3}', 422, "`texts` must be a list of strings. Received: texts=3 (a JSON number)."),
    ("texts an object", '{"texts": {"a": "good"}}', 422,
     '`texts` must be a list of strings. Received: texts={"a": "good"} (a JSON object).'),
    ("a nested list", '{"texts": [["good", "bad"]]}', 422,
     '`texts` must hold strings; position 0 holds ["good", "bad"] (a JSON array). '
     f"Send each text as one JSON string, like {EXAMPLE}."),
    ("a 10 KB nested list, echoed short", json.dumps({"texts": ["good", ["x" * 10_000]]}), 422,
     f'`texts` must hold strings; position 1 holds ["{"x" * 55}... (a JSON array). '
     f"Send each text as one JSON string, like {EXAMPLE}."),
    ("an object among texts", '{"texts": ["good", {"text": "bad"}]}', 422,
     '`texts` must hold strings; position 1 holds {"text": "bad"} (a JSON object). '
     f"Send each text as one JSON string, like {EXAMPLE}."),
    ("null among texts", '{"texts": ["good", null]}', 422,
     "`texts` has 1 missing value(s) (None or NaN) at position(s) [1]. Drop those rows or fill them "
     "(e.g. df.dropna(subset=[...]))."),
    ("an empty list", '{"texts": []}', 422, "`texts` is empty: there is nothing to tokenize."),
    ("return_proba a number", '{"texts": ["good"], "return_proba": 1}', 422,
     "`return_proba` must be true or false. Received: return_proba=1 (a JSON number)."),
    ("a text of 10 MB", json.dumps({"texts": ["a" * 10_000_000]}), 413,
     f"the request body has 10000015 bytes, more than max_bytes=1000000. {BYTES_FIX}"),
    ("10 MB chunked, no Content-Length", chunked(10_000_000), 413,
     f"the request body has more than max_bytes=1000000 bytes. {BYTES_FIX}"),
    ("100,000 texts", json.dumps({"texts": ["a"] * 100_000}), 413,
     "`texts` holds 100000 texts, more than max_texts=256 per request. Split them over several requests, "
     "or start the service with a larger `max_texts` (`ktbert serve --max-texts`)."),
    ("100,000 longer texts", json.dumps({"texts": ["good film"] * 100_000}), 413,
     f"the request body has 1300011 bytes, more than max_bytes=1000000. {BYTES_FIX}"),
]


def assert_right_answer(url, predictor, texts=GOOD, client=None):
    response = (client or httpx).post(f"{url}/predict", json={"texts": texts}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["labels"] == predictor.predict(texts)
    np.testing.assert_allclose(response.json()["probabilities"], predictor.predict(texts, return_proba=True),
                               rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("body, status, message", [case[1:] for case in BAD_REQUESTS],
                         ids=[case[0] for case in BAD_REQUESTS])
def test_a_bad_request_gets_its_4xx_and_the_next_one_the_right_answer(server, predictor, body, status, message):
    url, app = server
    before = dict(vars(app.state.stats))
    content = body() if callable(body) else body
    response = httpx.post(f"{url}/predict", content=content, headers={"Content-Type": "application/json"},
                          timeout=30)
    assert response.status_code == status
    detail = response.json()["detail"]
    assert set(response.json()) == {"detail"} and len(detail) < 400
    assert detail == message if not message.endswith("(") else detail.startswith(message)
    # Nothing of it reached the model, nothing waits, and the service answers right.
    assert vars(app.state.stats) == before and app.state.runner.waiting == 0
    assert_right_answer(url, predictor)
    after = vars(app.state.stats)
    assert (after["requests"], after["model_calls"]) == (before["requests"] + 1, before["model_calls"] + 1)


def test_a_text_with_an_unpaired_surrogate_is_answered_as_the_predictor_answers_it(server, predictor):
    """JSON may escape half a surrogate pair ("\\ud800"); the predictor reads it as U+FFFD."""
    url, _ = server
    response = httpx.post(f"{url}/predict", content='{"texts": ["bad \\ud800", "good"]}', timeout=30)
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["probabilities"],
                               predictor.predict(["bad \ud800", "good"], return_proba=True), rtol=0, atol=TOLERANCE)
    assert_right_answer(url, predictor)


class Stream:
    """A stand-in for a Starlette request: its headers and a body of `chunks` chunks of 64 KB,
    counting the chunks read."""

    def __init__(self, headers, chunks):
        self.headers, self.chunks, self.read = headers, chunks, 0

    async def stream(self):
        for _ in range(self.chunks):
            self.read += 1
            yield b"a" * 65536


@pytest.mark.parametrize("headers, chunks_read", [
    ({"content-length": str(10_000_000)}, 0),  # refused on the header alone
    ({}, 2),  # chunked: refused once the second chunk passes 100,000 bytes
])
def test_a_10_mb_body_is_refused_without_reading_it(headers, chunks_read):
    request = Stream(headers, chunks=153)  # 10 MB
    with pytest.raises(Refused) as refused:
        asyncio.run(read_body(request, max_bytes=100_000))
    assert refused.value.status == 413 and request.read == chunks_read


class GatedModel:
    """A predictor whose model call waits for `gate`; a text's probabilities depend on its
    length, so a wrong row is seen. Records every call's texts."""

    decisions = Decisions(2)

    def __init__(self):
        self.gate, self.entered, self.calls = threading.Event(), threading.Event(), []

    def get_classes(self):
        return ["neg", "pos"]

    def expected(self, texts):
        pos = np.float32([len(t) % 10 / 10 for t in texts])
        return np.stack([1 - pos, pos], axis=1)

    def predict(self, texts, return_proba=False):
        if not return_proba:  # the tests' expected labels; the service asks for probabilities
            return self.decisions.labels(self.expected(texts), self.get_classes())
        self.calls.append(list(texts))
        if texts != ["warm-up"]:
            self.entered.set()
            assert self.gate.wait(30), "the test never opened the gate"
        if "crash" in texts:
            raise RuntimeError("the model crashed")
        return self.expected(texts)


def wait_until(condition, seconds=20):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_full_queue_refuses_fast_stays_bounded_and_recovers():
    model = GatedModel()
    app = create_app(model, max_batch=1, max_wait_ms=0, max_queue=3)
    runner = app.state.runner
    admitted = [[f"admitted {'x' * i}"] for i in range(4)]  # one in the model, three waiting
    with running(app) as url, ThreadPoolExecutor(len(admitted)) as pool:
        futures = [pool.submit(httpx.post, f"{url}/predict", json={"texts": admitted[0]}, timeout=60)]
        assert model.entered.wait(20)
        for texts in admitted[1:]:
            futures.append(pool.submit(httpx.post, f"{url}/predict", json={"texts": texts}, timeout=60))
        wait_until(lambda: runner.waiting == 3)

        # Overload: 40 requests more, a large body among them, on one kept-alive connection.
        seconds, answers = [], []
        with httpx.Client(base_url=url, timeout=30) as client:
            for i in range(40):
                body = {"texts": ["refused " + ("y" * 500_000 if i == 0 else str(i))]}
                start = time.perf_counter()
                answers.append(client.post("/predict", json=body))
                seconds.append(time.perf_counter() - start)
            # A body that never comes is not waited for: the refusal needs no byte of it.
            with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10) as raw:
                raw.sendall(b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                            b'Content-Length: 900000\r\n\r\n{"texts": ["')
                stalled = b""
                while b"\r\n\r\n" not in stalled:
                    stalled += raw.recv(4096)
            assert runner.waiting == 3  # bounded: none of the 41 was queued
            model.gate.set()
            served = [future.result(60) for future in futures]
            assert_right_answer(url, model, ["after", "the overload"], client=client)  # the same connection
        health = httpx.get(f"{url}/health", timeout=10).json()

    assert {a.status_code for a in answers} == {503} and all(a.headers["retry-after"] == "1" for a in answers)
    assert answers[0].json() == {"detail": "the service is busy: 3 texts are waiting ahead of this request "
                                           "(max_queue=3). Retry shortly. Or start the service with a larger "
                                           "`max_queue`."}
    assert max(seconds) < 2.0, seconds  # answered at once, not after the model call under way
    assert stalled.startswith(b"HTTP/1.1 503 ") and b"retry-after: 1" in stalled.lower()
    for texts, answer in zip(admitted, served):
        assert answer.status_code == 200
        np.testing.assert_allclose(answer.json()["probabilities"], model.expected(texts), atol=TOLERANCE)
    # A refused request cost no model work: none of its texts reached the model.
    assert not any(text.startswith("refused") for call in model.calls for text in call)
    assert (health["stats"]["rejected"], health["stats"]["requests"], health["waiting"]) == (41, 5, 0)


def test_a_request_refused_after_its_body_was_read_is_not_queued():
    """The room is checked again when the request is queued: others may have come while its
    body was read."""
    model = GatedModel()
    app = create_app(model, max_batch=1, max_wait_ms=0, max_queue=1)
    runner, checks = app.state.runner, []
    check_room = runner.check_room
    runner.check_room = lambda client=None: checks.append(1) or check_room(client)  # on arrival and on queueing
    with running(app) as url, ThreadPoolExecutor(3) as pool, httpx.Client(base_url=url, timeout=60) as other:
        first = pool.submit(httpx.post, f"{url}/predict", json={"texts": ["a"]}, timeout=60)
        assert model.entered.wait(20)
        assert len(checks) == 2

        def slow_body():  # passes the first check, then the queue fills while it is read
            yield b'{"texts": ["late"'
            wait_until(lambda: runner.waiting == 1)
            yield b"]}"

        late = pool.submit(httpx.post, f"{url}/predict", content=slow_body(), timeout=60)
        wait_until(lambda: len(checks) == 3)  # the late request was let in and is reading its body
        queued = pool.submit(other.post, "/predict", json={"texts": ["bb"]})
        late = late.result(30)
        model.gate.set()
        assert first.result(30).status_code == 200 and queued.result(30).status_code == 200
    assert late.status_code == 503
    assert [call for call in model.calls if call != ["warm-up"]] == [["a"], ["bb"]]
    assert app.state.stats.rejected == 1


def test_a_model_failure_is_a_json_500_and_the_service_goes_on():
    model = GatedModel()
    model.gate.set()
    app = create_app(model, max_wait_ms=0)
    with running(app) as url:
        failed = httpx.post(f"{url}/predict", json={"texts": ["crash"]}, timeout=30)
        assert_right_answer(url, model, ["fine", "still fine"])
    assert failed.status_code == 500
    assert failed.json() == {"detail": "the service failed on this request (RuntimeError: the model crashed). "
                                       "It answers other requests; if this one fails again, report it with "
                                       "the request."}
    assert app.state.runner.waiting == 0
