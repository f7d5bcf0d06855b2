"""Stopping: SIGTERM drains the requests taken before the process exits, `/ready` answers 503
from the signal on while `/health` stays 200, a body still coming is refused rather than waited
for, and a real `ktbert serve` under load leaves no request it took unanswered, exits within its
drain timeout and never writes its API key to its log."""

import asyncio
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np

from helpers import child_env, running
from ktbert.evaluate.decisions import Decisions
from ktbert.serve.server import build_server
from ktbert.serve.service import create_app

KEY = "drain-test-key_0123456789abcdefXYZ"


class GatedStub:
    """A predictor answering [0.25, 0.75]; a call holding "slow" waits for `gate`."""

    decisions = Decisions(2)

    def __init__(self):
        self.gate, self.entered = threading.Event(), threading.Event()

    def get_classes(self):
        return ["neg", "pos"]

    def predict(self, texts, return_proba=False):
        if "slow" in texts:
            self.entered.set()
            assert self.gate.wait(20), "the test never opened the gate"
        return np.tile(np.float32([0.25, 0.75]), (len(texts), 1))


def read_to_end(sock, timeout=20.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_stopping_answers_the_request_in_the_model_and_refuses_a_body_still_coming():
    stub = GatedStub()
    app = create_app(stub, body_timeout=60, drain_timeout=15)
    drain = app.state.drain
    with ThreadPoolExecutor(2) as pool:
        with running(app) as url:
            in_model = pool.submit(httpx.post, f"{url}/predict", json={"texts": ["slow"]}, timeout=30)
            assert stub.entered.wait(20)
            sock = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])))
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\n{\"texts\": [")
            deadline = time.monotonic() + 20
            while drain.received < 2:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            threading.Timer(1.0, stub.gate.set).start()  # the model call ends while the server stops
            start = time.monotonic()
        stopped = time.monotonic() - start
        answer, slow = read_to_end(sock), in_model.result(30)
        sock.close()
    assert (slow.status_code, slow.json()["labels"]) == (200, ["pos"])
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") and b"connection: close" in answer
    assert answer.endswith(b'{"detail": "the service is stopping and this request\'s body had not all arrived: '
                           b'send the request again."}')
    assert stopped < 10.0  # neither the body's deadline (60 s) nor the drain timeout (15 s)
    assert drain.draining and drain.received == drain.answered == 2


def test_sigterm_marks_the_drain_and_stops_after_the_delay():
    app = create_app(GatedStub(), drain_delay=30)
    server = build_server(app)
    server.handle_exit(signal.SIGTERM, None)
    assert app.state.drain.draining and not server.should_exit  # still serving, /ready answers 503
    asyncio.run(server.on_tick(1))
    assert not server.should_exit
    server._stop_at = time.monotonic()  # the delay is over
    asyncio.run(server.on_tick(1))
    assert server.should_exit
    again = build_server(create_app(GatedStub(), drain_delay=30))
    again.handle_exit(signal.SIGTERM, None)
    again.handle_exit(signal.SIGTERM, None)  # a second signal stops it at once
    assert again.should_exit


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sigterm_under_load_leaves_no_request_taken_unanswered(sources, tmp_path):
    key_file = tmp_path / "key.txt"
    key_file.write_text(KEY + "\n")
    port, log_path = free_port(), tmp_path / "server.log"
    command = [sys.executable, "-m", "ktbert", "serve", str(sources["A"]), "--port", str(port), "--max-wait-ms", "5",
               "--api-key-file", str(key_file), "--drain-delay", "2", "--drain-timeout", "15",
               "--body-timeout", "60"]
    url, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {KEY}"}
    got, lock = [], threading.Lock()  # (monotonic time, status) of every answer this test read
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=child_env())
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, "ktbert serve exited: " + log_path.read_text()
            assert time.monotonic() < deadline, "ktbert serve did not answer /health within 180 s"
            try:
                got.append((time.monotonic(), httpx.get(f"{url}/health", timeout=5).status_code))
                break
            except httpx.TransportError:
                time.sleep(0.2)
        stop = threading.Event()

        def client(i):
            with httpx.Client(base_url=url, timeout=30, headers=auth) as http:
                n = 0
                while True:
                    try:
                        answer = http.post("/predict", json={"texts": [f"the film was good {i} {n}"]})
                    except httpx.TransportError:
                        if stop.is_set():
                            return  # the server stopped taking connections
                        raise
                    with lock:
                        got.append((time.monotonic(), answer.status_code))
                    n += 1

        with ThreadPoolExecutor(8) as pool:
            clients = [pool.submit(client, i) for i in range(8)]
            stalled = socket.create_connection(("127.0.0.1", port))  # a body that never comes
            stalled.sendall(b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\nX-API-Key: " + KEY.encode()
                            + b"\r\n\r\n{")
            time.sleep(2.0)
            stop.set()
            process.send_signal(signal.SIGTERM)
            sigterm = time.monotonic()
            ready, health = httpx.get(f"{url}/ready", timeout=5), httpx.get(f"{url}/health", timeout=5)
            got += [(time.monotonic(), ready.status_code), (time.monotonic(), health.status_code)]
            process.wait(30)
            exited = time.monotonic() - sigterm
            for future in clients:
                future.result(30)
        stalled_answer = read_to_end(stalled)
        stalled.close()
        got.append((time.monotonic(), int(stalled_answer[9:12])))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
    log = log_path.read_text()
    summary = re.search(r"ktbert serve drained in [\d.]+ s: (\d+) requests received, (\d+) answered, (\d+) unanswered",
                        log)
    assert summary, log[-3000:]
    received, answered, unanswered = map(int, summary.groups())
    statuses = [status for _, status in got]
    assert (ready.status_code, ready.json()) == (503, {"detail": "the service is stopping: send requests to "
                                                                 "another instance."})
    assert health.status_code == 200 and statuses.count(503) == 2  # /ready, and the body that never came
    assert set(statuses) == {200, 503}
    assert sum(1 for t, status in got if t > sigterm + 2.0 and status == 200) >= 1  # answered while draining
    # Every request the server took was answered, and every answer reached its client.
    assert (unanswered, received, answered) == (0, len(got), len(got))
    assert exited < 2.0 + 15.0  # the drain delay, then within the drain timeout
    assert KEY not in log and KEY[:12] not in log
