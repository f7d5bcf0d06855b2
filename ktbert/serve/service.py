"""The HTTP JSON service behind `ktbert serve`: `POST /predict`, `POST /explain`, `GET /health`,
`GET /ready`, a page to try it at `GET /` (`ktbert/serve/page.py`) and the API's docs at `/docs`,
served offline.

FastAPI and uvicorn (the `ktbert[serve]` extra) serve one predictor in one process. Concurrent
requests are merged into model calls, fairly between clients (`ktbert/serve/batcher.py`); limits
on texts and bytes per request, and on texts waiting, give clear 4xx and 503 answers, never a
500 for bad input. Deadlines cut off clients that send slowly (`ktbert/serve/protocol.py`),
SIGTERM drains the requests taken (`ktbert/serve/server.py`), and an optional API key and CORS
say who may call it (`ktbert/serve/access.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ktbert import __version__
from ktbert.serve.batcher import DirectRunner, MicroBatcher, QueueFull
from ktbert.serve.factories import load_predictor
from ktbert.evaluate.explain import occlusion_explanation, occlusion_texts
from ktbert.serve.page import CONTENT_SECURITY_POLICY, page_html
from ktbert.serve.requests import Refused, check_limits, parse_explain_body, parse_predict_body, read_body, shorten

try:
    import fastapi
    from fastapi.responses import HTMLResponse, JSONResponse

    from ktbert.serve.access import add_access, check_api_key, check_cors_origins, read_api_key
    from ktbert.serve.drain import Drain
    from ktbert.serve.offline_docs import add_offline_docs
    from ktbert.serve.schemas import (ErrorResponse, ExplainRequest, ExplainResponse, PredictPairsRequest,
                                      PredictRequest, PredictResponse)
    from ktbert.serve.server import check_timeouts, serve_app
except ImportError as err:  # the service is an optional extra
    raise ImportError("`ktbert serve` needs FastAPI and uvicorn: pip install 'ktbert[serve]'") from err


def predict_rows(predictor, texts: list) -> tuple[list, list]:
    """`(labels, probabilities)` of `texts` in one predictor call, as JSON-ready lists: a label
    per text as `predictor.predict` decides it (temperature and thresholds included)."""
    proba = np.asarray(predictor.predict(texts, return_proba=True), dtype=np.float32)
    return predictor.decisions.labels(proba, predictor.get_classes()), proba.tolist()


def client_of(request) -> tuple | None:
    """Who sent `request`, for the fair queue: its connection's address and port, or behind a
    proxy uvicorn trusts (`--forwarded-allow-ips`), the address in its X-Forwarded-For."""
    return tuple(request.client) if request.client else None


def create_app(predictor, *, max_batch: int = 64, max_wait_ms: float = 5.0, max_texts: int = 256,
               max_bytes: int = 1_000_000, max_queue: int = 256, micro_batching: bool = True,
               name: str | None = None, header_timeout: float = 10.0, body_timeout: float = 30.0,
               drain_timeout: float = 20.0, drain_delay: float = 0.0, api_key: str | None = None,
               cors_origins=()) -> "fastapi.FastAPI":
    """The FastAPI application serving `predictor`.

    Args:
        predictor: Predictor. the model to serve (`ktbert.load_predictor(folder)`).
        max_batch: int. texts in one model call at most (a larger request is cut across calls).
        max_wait_ms: float. how long a request waits for others to share its model call.
        max_texts: int. texts per request at most (413 beyond).
        max_bytes: int. bytes per request body at most (413 beyond).
        max_queue: int. texts a new request may wait behind at most, counted fairly: its
            client's own, and of each other client as many again plus one (503 beyond, with
            Retry-After).
        micro_batching: bool. merge concurrent requests, fairly between clients; False runs one
            model call per request, in arrival order.
        name: str or None. the model's name in `/health` (the folder's name under `serve`).
        header_timeout: float. seconds for a request's headers to arrive whole (408 beyond).
        body_timeout: float. seconds from the headers for the body to arrive whole (408 beyond).
        drain_timeout: float. seconds the requests taken have to be answered after SIGTERM.
        drain_delay: float. seconds the service goes on taking requests after SIGTERM, with
            `/ready` answering 503, before it drains.
        api_key: str or None. the key every request must send (`Authorization: Bearer KEY` or
            `X-API-Key: KEY`), except to `/health`, `/ready`, `/` and `/docs`; None: open.
        cors_origins: list of str. origins whose pages may call the service (`*`: any); none:
            no CORS headers.

    Returns:
        FastAPI: run it with `ktbert.serve.server.serve_app`, which applies the deadlines and the
        drain (plain `uvicorn.run` applies neither); `app.state.stats` counts requests, model
        calls and texts.

    Examples:
    ```python
    app = create_app(ktbert.load_predictor("sentiment"), max_wait_ms=2.0, api_key=key)
    serve_app(app, host="127.0.0.1", port=8000)   # from ktbert.serve.server
    ```
    """
    limits = check_limits(max_batch, max_wait_ms, max_texts, max_bytes, max_queue)
    timeouts = check_timeouts(header_timeout, body_timeout, drain_timeout, drain_delay)
    api_key = None if api_key is None else check_api_key(api_key)
    cors_origins = check_cors_origins(cors_origins)
    classes = list(predictor.get_classes())
    pairs = bool(getattr(getattr(predictor, "preproc", None), "pairs", False))
    run = functools.partial(predict_rows, predictor)
    runner = (MicroBatcher(run, None, limits["max_batch"], limits["max_wait_ms"], limits["max_queue"])
              if micro_batching else DirectRunner(run, None, limits["max_queue"]))
    drain = Drain()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        # One thread runs the model: calls never overlap, and each uses every core.
        runner.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ktbert-model")
        try:
            # The first call traces the model (and freezes a loaded predictor's weights): done
            # before the first request is accepted.
            warm_up = [("warm-up", "warm-up")] if pairs else ["warm-up"]
            ready = getattr(predictor, "warm_up", None)
            await asyncio.get_running_loop().run_in_executor(
                runner.executor, *((ready,) if callable(ready) else (run, warm_up)))
            await runner.start()
            yield
        finally:
            await runner.stop()
            runner.executor.shutdown(wait=False, cancel_futures=True)

    app = fastapi.FastAPI(title="ktbert", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                          description="Classifies texts with a ktbert predictor. A page to try it: `GET /`.")
    add_offline_docs(app)
    add_access(app, api_key, cors_origins)
    app.state.runner, app.state.stats, app.state.limits = runner, runner.stats, limits
    app.state.timeouts, app.state.drain = timeouts, drain

    @app.exception_handler(Refused)
    async def refused(request, err: Refused):
        headers = {"Retry-After": "1"} if err.status == 503 else None
        # An echo may hold an unpaired surrogate, which the UTF-8 answer could not carry.
        message = err.message.encode("utf-8", "backslashreplace").decode("utf-8")
        return JSONResponse({"detail": message}, status_code=err.status, headers=headers)

    @app.exception_handler(Exception)
    async def failed(request, err: Exception):
        # Starlette logs the traceback after this answer; the service goes on.
        return JSONResponse({"detail": f"the service failed on this request ({type(err).__name__}: "
                                       f"{shorten(str(err), 200)}). It answers other requests; if this "
                                       "one fails again, report it with the request."}, status_code=500)

    @app.get("/health")
    async def health() -> dict:
        """The service is up (liveness): the model's name and classes, the limits and deadlines,
        what was served and the texts waiting."""
        return {"status": "ok", "model": name or "predictor", "classes": classes,
                "multilabel": bool(predictor.decisions.multilabel), "ktbert_version": __version__,
                "micro_batching": bool(micro_batching), "limits": limits, "timeouts": timeouts,
                "stats": dataclasses.asdict(runner.stats), "waiting": runner.waiting}

    @app.get("/ready", responses={503: {"model": ErrorResponse, "description": "the service is stopping"}})
    async def ready():
        """The service takes requests (readiness): 503 once it is stopping, so that a load
        balancer sends it no more."""
        if drain.draining:
            return JSONResponse({"detail": "the service is stopping: send requests to another instance."},
                                status_code=503, headers={"Retry-After": "1"})
        return {"status": "ready"}

    errors = {status: {"model": ErrorResponse, "description": text} for status, text in [
        (400, "the body is not JSON"), (413, "more than max_bytes bytes or max_texts texts"),
        (422, "the body is JSON but not a valid request"), (503, "too many texts waiting")]}
    body_schema = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": (PredictPairsRequest if pairs else PredictRequest).model_json_schema()}}}}

    @app.post("/predict", response_model=PredictResponse, responses=errors, openapi_extra=body_schema)
    async def predict(request: fastapi.Request):
        """Classifies `texts`: a label per text and, unless `return_proba` is false, the class
        probabilities."""
        client = client_of(request)
        try:
            runner.check_room(client)  # refused before its body is read, parsed or tokenized
            texts, return_proba = parse_predict_body(await read_body(request, limits["max_bytes"]),
                                                     limits["max_texts"], pairs)
            labels, proba = await runner.submit(texts, client)  # checks the room again: others came meanwhile
        except QueueFull as err:
            raise Refused(503, f"{err} Or start the service with a larger `max_queue`.") from err
        except (TypeError, ValueError) as err:  # a text the predictor refuses
            raise Refused(422, str(err)) from err
        answer = {"labels": list(labels), "classes": classes}
        if return_proba:
            answer["probabilities"] = list(proba)
        return JSONResponse(answer)

    @app.post("/explain", response_model=ExplainResponse, responses=errors,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": ExplainRequest.model_json_schema()}}}})
    async def explain(request: fastapi.Request):
        """Which words drove the prediction of `text`, by occlusion: the text is predicted again
        without each of its first `max_texts - 1` words, through the same queue, limits and
        micro-batching as /predict."""
        client = client_of(request)
        try:
            runner.check_room(client)
            text, class_name = parse_explain_body(await read_body(request, limits["max_bytes"]), classes, pairs)
            scored, texts = occlusion_texts(text, max(1, limits["max_texts"] - 1))
            labels, proba = await runner.submit(texts, client)
        except QueueFull as err:
            raise Refused(503, f"{err} Or start the service with a larger `max_queue`.") from err
        except (TypeError, ValueError) as err:
            raise Refused(422, str(err)) from err
        label = labels[0]
        index = (classes.index(class_name) if class_name is not None
                 else None if isinstance(label, list) else classes.index(label))
        found = occlusion_explanation(np.asarray(proba, dtype=np.float32), scored, classes, index)
        return JSONResponse({"label": label, "class_name": found.class_name, "probability": found.probability,
                             "words": found.words, "scores": found.scores, "words_in_text": len(text.split())})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return HTMLResponse(page_html(name or "predictor", classes, pairs, limits["max_texts"], api_key is not None),
                            headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})

    return app


def serve(model_dir: str, host: str = "127.0.0.1", port: int = 8000, max_batch: int = 64,
          max_wait_ms: float = 5.0, max_texts: int = 256, max_bytes: int = 1_000_000,
          max_queue: int = 256, micro_batching: bool = True, log_level: str = "info", *,
          header_timeout: float = 10.0, body_timeout: float = 30.0, drain_timeout: float = 20.0,
          drain_delay: float = 0.0, api_key_file: str | None = None, cors_origins=(),
          quantize: str | None = None) -> None:
    """Serves the predictor saved in `model_dir` over HTTP until SIGTERM or Ctrl-C; `ktbert serve`.

    Loads the predictor once (its prediction batches hold `max_batch` texts), builds the app
    with `create_app` and runs it with uvicorn in one process, with the deadlines and the drain
    (`ktbert.serve.server.serve_app`). The API key is read from `api_key_file`, else from the
    KTBERT_API_KEY environment variable; with neither, no key is needed. Other arguments as in
    `create_app`; `log_level` is uvicorn's ("warning" drops the line per request); `quantize`
    as `Predictor.load` takes it.

    Examples:
    ```python
    from ktbert.serve.service import serve
    serve("sentiment", port=8000)   # then: curl -X POST localhost:8000/predict -d '{"texts": ["great"]}'
    ```
    """
    # Every setting is checked before the model loads.
    limits = check_limits(max_batch, max_wait_ms, max_texts, max_bytes, max_queue)
    timeouts = check_timeouts(header_timeout, body_timeout, drain_timeout, drain_delay)
    api_key, cors_origins = read_api_key(api_key_file), check_cors_origins(cors_origins)
    predictor = load_predictor(model_dir, batch_size=limits["max_batch"], quantize=quantize)
    name = os.path.basename(os.path.normpath(os.path.abspath(model_dir)))
    app = create_app(predictor, **limits, **timeouts, micro_batching=micro_batching, name=name, api_key=api_key,
                     cors_origins=cors_origins)
    serve_app(app, host=host, port=port, log_level=log_level)
