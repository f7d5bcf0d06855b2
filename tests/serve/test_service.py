"""The HTTP service: a real server on 127.0.0.1 answers as the predictor does, merges concurrent
requests into fewer model calls, and refuses bad input with a clear 4xx (or 503 when full)."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

import ktbert
from helpers import PROJECT, SERVICE_TOLERANCE, WORDS, running
from ktbert.evaluate.decisions import Decisions
from ktbert.serve.service import create_app, serve

TOLERANCE = SERVICE_TOLERANCE


def request_texts(n_requests, seed=0):
    """`n_requests` lists of 1-4 texts of toy words; a few blank, accented or emoji texts."""
    rng = np.random.default_rng(seed)
    requests = []
    for i in range(n_requests):
        texts = [" ".join(rng.choice(WORDS, size=rng.integers(1, 12))) for _ in range(rng.integers(1, 5))]
        if i % 25 == 0:
            texts.append(["", "   ", "the café was great 😀", "עברית good"][i // 25 % 4])
        requests.append(texts)
    return requests


def send_concurrently(url, requests, clients=16):
    """POSTs every request from `clients` threads; returns the responses in request order."""
    def send(indices):
        with httpx.Client(base_url=url, timeout=60) as client:
            return [(i, client.post("/predict", json={"texts": requests[i]})) for i in indices]

    chunks = [range(c, len(requests), clients) for c in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        answered = [pair for part in pool.map(send, chunks) for pair in part]
    return [response for _, response in sorted(answered, key=lambda pair: pair[0])]


def assert_answers_match(predictor, requests, responses):
    """Each response holds the predictor's labels and probabilities of its texts. The predictor
    reads all requests' texts in one call (a row depends only on its text, up to TOLERANCE),
    which is many times faster than a call per request."""
    every_text = [t for texts in requests for t in texts]
    expected_labels, expected_proba = predictor.predict(every_text), predictor.predict(every_text, return_proba=True)
    start = 0
    for texts, response in zip(requests, responses):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["classes"] == predictor.get_classes()
        assert body["labels"] == expected_labels[start:start + len(texts)]
        np.testing.assert_allclose(body["probabilities"], expected_proba[start:start + len(texts)],
                                   rtol=0, atol=TOLERANCE)
        start += len(texts)


@pytest.fixture(scope="module")
def predictor(trained_sentiment):
    learner, _, _, preproc = trained_sentiment
    return ktbert.get_predictor(learner.model, preproc)


@pytest.fixture(scope="module")
def saved(predictor, tmp_path_factory):
    folder = tmp_path_factory.mktemp("served") / "sentiment"
    predictor.save(str(folder))
    return str(folder)


@pytest.fixture(scope="module")
def strict_server(predictor):
    """A server with small limits: 4 texts and 600 bytes a request."""
    app = create_app(predictor, max_texts=4, max_bytes=600, name="sentiment")
    with running(app) as url:
        yield url


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_answers_200_requests_from_16_clients_as_the_predictor(predictor, saved, tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "ktbert", "serve", saved, "--host", "127.0.0.1", "--port", str(port),
               "--max-wait-ms", "10"]  # `ktbert serve`, as a user starts it
    log = open(tmp_path / "server.log", "w+")
    process = subprocess.Popen(command, cwd=str(tmp_path), stdout=log, stderr=log,
                               env=dict(os.environ, PYTHONPATH=PROJECT))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, "ktbert serve exited: " + open(tmp_path / "server.log").read()
            assert time.monotonic() < deadline, "ktbert serve did not answer /health within 180 s"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            time.sleep(0.2)
        requests = request_texts(200)
        responses = send_concurrently(url, requests, clients=16)
        assert_answers_match(predictor, requests, responses)
        health = httpx.get(f"{url}/health", timeout=10).json()
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)
        log.close()
    assert health["model"] == "sentiment" and health["classes"] == ["neg", "pos"]
    stats = health["stats"]
    assert stats["requests"] == 200 and stats["texts"] == sum(len(t) for t in requests)
    # Merged: fewer model calls than requests, and some call held several requests' texts.
    assert stats["model_calls"] < 200 and stats["largest_call"] > 5


def test_without_micro_batching_each_request_is_one_model_call(predictor):
    requests = request_texts(24, seed=1)
    app = create_app(predictor, micro_batching=False)
    with running(app) as url:
        responses = send_concurrently(url, requests, clients=8)
    assert_answers_match(predictor, requests, responses)
    stats = app.state.stats
    assert (stats.requests, stats.model_calls, stats.largest_call) == (24, 24, 4)


def test_a_multilabel_model_answers_a_list_of_labels_per_text(tiny_encoder):
    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]] * 4)
    texts = [" ".join(WORDS[i % 7: i % 7 + 4]) for i in range(16)]
    trn, _, preproc = ktbert.texts_from_array(texts, y, x_test=texts[:4], y_test=y[:4], class_names=["a", "b", "c"],
                                               maxlen=16, encoder=tiny_encoder, verbose=0)
    multi = ktbert.get_predictor(ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0), preproc)
    multi.set_thresholds([0.3, 0.5, 0.7])
    requests = request_texts(12, seed=2)
    app = create_app(multi, max_wait_ms=20)
    with running(app) as url:
        responses = send_concurrently(url, requests, clients=4)
        health = httpx.get(f"{url}/health", timeout=10).json()
    assert_answers_match(multi, requests, responses)
    assert all(isinstance(label, list) for r in responses for label in r.json()["labels"])
    assert health["multilabel"] is True and health["classes"] == ["a", "b", "c"]


def test_health_and_docs(strict_server):
    health = httpx.get(f"{strict_server}/health", timeout=10)
    assert health.status_code == 200
    body = health.json()
    assert {k: body[k] for k in ("status", "model", "classes", "multilabel", "micro_batching")} == {
        "status": "ok", "model": "sentiment", "classes": ["neg", "pos"], "multilabel": False,
        "micro_batching": True}
    assert body["limits"] == {"max_batch": 64, "max_wait_ms": 5.0, "max_texts": 4, "max_bytes": 600,
                              "max_queue": 256}
    docs = httpx.get(f"{strict_server}/docs", timeout=10)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = httpx.get(f"{strict_server}/openapi.json", timeout=10).json()["paths"]["/predict"]["post"]
    body_schema = schema["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema["required"] == ["texts"] and set(body_schema["properties"]) == {"texts", "return_proba"}
    assert {"200", "400", "413", "422", "503"} <= set(schema["responses"])


def test_return_proba_false_gives_labels_only(strict_server, predictor):
    texts = ["the film was great", "awful plot"]
    response = httpx.post(f"{strict_server}/predict", json={"texts": texts, "return_proba": False}, timeout=30)
    assert response.status_code == 200
    assert response.json() == {"labels": predictor.predict(texts), "classes": ["neg", "pos"]}


EXAMPLE = '{"texts": ["what a film!", "dull"]}'
BAD_BODIES = [
    ("five texts", json.dumps({"texts": ["a", "b", "c", "d", "e"]}), 413,
     "`texts` holds 5 texts, more than max_texts=4 per request. Split them over several requests, or "
     "start the service with a larger `max_texts` (`ktbert serve --max-texts`)."),
    ("too many bytes", json.dumps({"texts": ["good " * 140]}), 413,
     "the request body has 715 bytes, more than max_bytes=600. Send fewer or shorter texts per request, "
     "or start the service with a larger `max_bytes` (`ktbert serve --max-bytes`)."),
    ("malformed JSON", '{"texts": [', 400,
     f"the request body is not valid JSON (Expecting value: line 1 column 12 (char 11)). "
     f"Send a JSON object like {EXAMPLE}."),
    ("not UTF-8", b'{"texts": ["\xff"]}', 400,
     "the request body is not valid JSON ('utf-8' codec can't decode byte 0xff in position 12: invalid "
     f"start byte). Send a JSON object like {EXAMPLE}."),
    ("empty body", "", 400,
     f"the request body is not valid JSON (Expecting value: line 1 column 1 (char 0)). Send a JSON object like {EXAMPLE}."),
    ("an array", '["good"]', 422,
     f'the request body must be a JSON object like {EXAMPLE}. Received: ["good"] (a JSON array).'),
    ("texts missing", "{}", 422, f"`texts` is missing: send a JSON object like {EXAMPLE}."),
    ("misspelt field", '{"text": ["good"]}', 422,
     "unknown field(s) ['text']: /predict takes `texts` (a list of strings) and `return_proba` (true or false)."),
    ("texts a number", '{"texts": 3}', 422, "`texts` must be a list of strings. Received: texts=3 (a JSON number)."),
    ("texts null", '{"texts": null}', 422, "`texts` must be a list of strings. Received: texts=null (a JSON null)."),
    ("texts one string", '{"texts": "good film"}', 422,
     "`texts` must be a list of strings, not one string. Received: 'good film'. Wrap it in a list: [text]."),
    ("empty list", '{"texts": []}', 422, "`texts` is empty: there is nothing to tokenize."),
    ("a number among texts", '{"texts": ["good", 3]}', 422,
     "`texts` must hold strings; position 1 holds int 3. Convert the column with .astype(str) if that is what you mean."),
    ("a null among texts", '{"texts": ["good", null, "bad"]}', 422,
     "`texts` has 1 missing value(s) (None or NaN) at position(s) [1]. Drop those rows or fill them "
     "(e.g. df.dropna(subset=[...]))."),
    ("return_proba a string", '{"texts": ["good"], "return_proba": "yes"}', 422,
     '`return_proba` must be true or false. Received: return_proba="yes" (a JSON string).'),
]


@pytest.mark.parametrize("body, status, message", [case[1:] for case in BAD_BODIES],
                         ids=[case[0] for case in BAD_BODIES])
def test_bad_input_gets_a_clear_4xx(strict_server, body, status, message):
    response = httpx.post(f"{strict_server}/predict", content=body, timeout=30,
                          headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (status, {"detail": message})


def test_a_body_without_content_length_is_cut_off_at_max_bytes(strict_server):
    def chunks():  # a generator body goes out chunked, with no Content-Length
        yield b'{"texts": ["'
        for _ in range(20):
            yield b"good " * 10
        yield b'"]}'

    response = httpx.post(f"{strict_server}/predict", content=chunks(), timeout=30)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["detail"].startswith("the request body has more than max_bytes=600 bytes.")


def test_blank_texts_are_answered_as_the_predictor_answers_them(strict_server, predictor):
    texts = ["", "   ", "good"]
    response = httpx.post(f"{strict_server}/predict", json={"texts": texts}, timeout=30)
    assert response.status_code == 200
    assert response.json()["labels"] == predictor.predict(texts)
    np.testing.assert_allclose(response.json()["probabilities"], predictor.predict(texts, return_proba=True),
                               rtol=0, atol=TOLERANCE)


class GatedPredictor:
    """Answers [0.25, 0.75] for every text once `gate` opens; refuses a text "refused"."""

    decisions = Decisions(2)

    def __init__(self):
        self.gate, self.entered, self.calls = threading.Event(), threading.Event(), []

    def get_classes(self):
        return ["neg", "pos"]

    def predict(self, texts, return_proba=False):
        self.calls.append(list(texts))
        if texts != ["warm-up"]:
            self.entered.set()
            assert self.gate.wait(20), "the test never opened the gate"
        if "refused" in texts:
            raise ValueError("`texts` holds a refused text.")
        return np.tile(np.float32([0.25, 0.75]), (len(texts), 1))


def post_in_thread(url, texts):
    pool = ThreadPoolExecutor(1)
    future = pool.submit(httpx.post, f"{url}/predict", json={"texts": texts}, timeout=30)
    pool.shutdown(wait=False)
    return future


def test_a_full_queue_answers_503_at_once():
    stub = GatedPredictor()
    app = create_app(stub, max_batch=1, max_wait_ms=0, max_queue=1)
    with running(app) as url:
        first = post_in_thread(url, ["a"])
        assert stub.entered.wait(20)  # "a" is in the model
        second = post_in_thread(url, ["b"])
        deadline = time.monotonic() + 20
        while app.state.runner.waiting < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        full = httpx.post(f"{url}/predict", json={"texts": ["c"]}, timeout=30)
        stub.gate.set()
        answers = [first.result(30), second.result(30)]
    assert full.status_code == 503 and full.headers["retry-after"] == "1"
    assert full.json() == {"detail": "the service is busy: 1 texts are waiting ahead of this request (max_queue=1). "
                                     "Retry shortly. Or start the service with a larger `max_queue`."}
    assert [a.json()["labels"] for a in answers] == [["pos"], ["pos"]]
    assert app.state.stats.rejected == 1


def test_a_text_the_predictor_refuses_fails_only_its_own_request():
    stub = GatedPredictor()
    stub.gate.set()
    app = create_app(stub, max_batch=8, max_wait_ms=2000)
    with running(app) as url:
        refused, fine = post_in_thread(url, ["refused"]), post_in_thread(url, ["fine"])
        refused, fine = refused.result(30), fine.result(30)
    assert (refused.status_code, refused.json()) == (422, {"detail": "`texts` holds a refused text."})
    assert fine.status_code == 200 and fine.json()["probabilities"] == [[0.25, 0.75]]
    assert sorted(stub.calls[1]) == ["fine", "refused"]  # they shared a call, which failed


def test_bad_limits_are_refused_before_the_model_loads():
    with pytest.raises(ValueError, match=r"`max_texts` must be a positive integer\. Received: max_texts=0"):
        serve("no-such-folder", max_texts=0)
    with pytest.raises(ValueError, match=r"`max_wait_ms` must be a number >= 0\. Received: max_wait_ms=-5"):
        create_app(GatedPredictor(), max_wait_ms=-5)
