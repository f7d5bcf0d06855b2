"""The HTTP JSON service behind `ktbert serve`: `POST /predict`, `POST /explain`, `GET /health`, a page
to try it at `GET /` (`ktbert/serve/page.py`) and the API's docs at `/docs`, served offline.

FastAPI and uvicorn (the `ktbert[serve]` extra) serve one predictor in one process. Concurrent
requests are merged into one model call (`ktbert/serve/batcher.py`); limits on texts and bytes
per request, and on requests waiting, give clear 4xx and 503 answers, never a 500 for bad input.
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
    import uvicorn
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from pydantic import BaseModel, Field
except ImportError as err:  # the service is an optional extra
    raise ImportError("`ktbert serve` needs FastAPI and uvicorn: pip install 'ktbert[serve]'") from err


class PredictRequest(BaseModel):
    """The body of `POST /predict` (documentation: the body is read and checked by hand, so the
    size limit applies before JSON parsing and each mistake gets its own message)."""

    texts: list[str] = Field(min_length=1, description="the texts to classify, at most `max_texts`",
                             examples=[["what a film!", "dull"]])
    return_proba: bool = Field(True, description="also return each text's class probabilities")


class PredictPairsRequest(BaseModel):
    """The body of `POST /predict` for a model of text pairs."""

    pairs: list[list[str]] = Field(min_length=1, description="`[text_a, text_b]` pairs to classify, at most "
                                   "`max_texts`", examples=[[["is it open on sunday?", "we open every day"]]])
    return_proba: bool = Field(True, description="also return each pair's class probabilities")


class PredictResponse(BaseModel):
    """The answer of `POST /predict`: one label (multi-label models: a list of labels) and one row
    of probabilities per text, in the order the texts came."""

    labels: list[str | list[str]]
    probabilities: list[list[float]] | None = Field(None, description="absent when return_proba is false")
    classes: list[str] = Field(description="the class names, in the order of the probability columns")


class ExplainRequest(BaseModel):
    """The body of `POST /explain`."""

    text: str = Field(description="the text to explain", examples=["what a film!"])
    class_name: str | None = Field(None, description="the class to explain (default: the class /predict answers; "
                                   "multi-label models: the most probable one)")


class ExplainResponse(BaseModel):
    """The answer of `POST /explain`: each scored word's drop in the probability of `class_name`
    when the text is predicted without it (negative: the word argued against the class)."""

    label: str | list[str] = Field(description="what /predict answers for the text")
    class_name: str
    probability: float = Field(description="the probability of `class_name` for the whole text")
    words: list[str] = Field(description="the text's first words, split on whitespace, in order")
    scores: list[float]
    words_in_text: int = Field(description="all the text's words: those beyond `max_texts - 1` are not scored")


class ErrorResponse(BaseModel):
    """A refused request: what was wrong and how to fix it."""

    detail: str


def predict_rows(predictor, texts: list) -> tuple[list, list]:
    """`(labels, probabilities)` of `texts` in one predictor call, as JSON-ready lists: a label
    per text as `predictor.predict` decides it (temperature and thresholds included)."""
    proba = np.asarray(predictor.predict(texts, return_proba=True), dtype=np.float32)
    return predictor.decisions.labels(proba, predictor.get_classes()), proba.tolist()


def create_app(predictor, *, max_batch: int = 64, max_wait_ms: float = 5.0, max_texts: int = 256,
               max_bytes: int = 1_000_000, max_queue: int = 256, micro_batching: bool = True,
               name: str | None = None) -> "fastapi.FastAPI":
    """The FastAPI application serving `predictor`.

    Args:
        predictor: Predictor. the model to serve (`ktbert.load_predictor(folder)`).
        max_batch: int. texts merged into one model call at most (a larger request runs alone).
        max_wait_ms: float. how long a request waits for others to share its model call.
        max_texts: int. texts per request at most (413 beyond).
        max_bytes: int. bytes per request body at most (413 beyond).
        max_queue: int. requests waiting for the model at most (503 beyond, with Retry-After).
        micro_batching: bool. merge concurrent requests; False runs one model call per request.
        name: str or None. the model's name in `/health` (the folder's name under `serve`).

    Returns:
        FastAPI: run it with uvicorn; `app.state.stats` counts requests, model calls and texts.

    Examples:
    ```python
    app = create_app(ktbert.load_predictor("sentiment"), max_wait_ms=2.0)
    uvicorn.run(app, host="127.0.0.1", port=8000)
    ```
    """
    limits = check_limits(max_batch, max_wait_ms, max_texts, max_bytes, max_queue)
    classes = list(predictor.get_classes())
    pairs = bool(getattr(getattr(predictor, "preproc", None), "pairs", False))
    run = functools.partial(predict_rows, predictor)
    runner = (MicroBatcher(run, None, limits["max_batch"], limits["max_wait_ms"], limits["max_queue"])
              if micro_batching else DirectRunner(run, None, limits["max_queue"]))

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
    _offline_docs(app)
    app.state.runner, app.state.stats, app.state.limits = runner, runner.stats, limits

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
        """The service is up: the model's name and classes, the limits and what was served."""
        return {"status": "ok", "model": name or "predictor", "classes": classes,
                "multilabel": bool(predictor.decisions.multilabel), "ktbert_version": __version__,
                "micro_batching": bool(micro_batching), "limits": limits, "stats": dataclasses.asdict(runner.stats),
                "waiting": runner.waiting}

    errors = {status: {"model": ErrorResponse, "description": text} for status, text in [
        (400, "the body is not JSON"), (413, "more than max_bytes bytes or max_texts texts"),
        (422, "the body is JSON but not a valid request"), (503, "too many requests waiting")]}
    body_schema = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": (PredictPairsRequest if pairs else PredictRequest).model_json_schema()}}}}

    @app.post("/predict", response_model=PredictResponse, responses=errors, openapi_extra=body_schema)
    async def predict(request: fastapi.Request):
        """Classifies `texts`: a label per text and, unless `return_proba` is false, the class
        probabilities."""
        try:
            runner.check_room()  # refused before its body is read, parsed or tokenized
            texts, return_proba = parse_predict_body(await read_body(request, limits["max_bytes"]),
                                                     limits["max_texts"], pairs)
            labels, proba = await runner.submit(texts)  # checks the room again: others came meanwhile
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
        try:
            runner.check_room()
            text, class_name = parse_explain_body(await read_body(request, limits["max_bytes"]), classes, pairs)
            scored, texts = occlusion_texts(text, max(1, limits["max_texts"] - 1))
            labels, proba = await runner.submit(texts)
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
        return HTMLResponse(page_html(name or "predictor", classes, pairs, limits["max_texts"]),
                            headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})

    return app


def _offline_docs(app) -> None:
    """`/docs`: Swagger UI 5 from the files the `fastapi-offline` package ships (Swagger UI is
    Apache-2.0, the package MIT), served by this app, so the page works on a machine with no
    network (FastAPI's own page loads them from a CDN)."""
    from importlib.resources import files

    try:
        assets = files("fastapi_offline") / "static"
    except ModuleNotFoundError:  # an install of the extra from before it was added
        @app.get("/docs", include_in_schema=False)
        async def docs_missing():
            return HTMLResponse("<p>/docs needs the fastapi-offline package: pip install 'ktbert[serve]'. "
                                "The API's schema is at <a href='/openapi.json'>/openapi.json</a>.</p>")
        return
    app.mount("/docs-assets", StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="ktbert: API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon.png")


def serve(model_dir: str, host: str = "127.0.0.1", port: int = 8000, max_batch: int = 64,
          max_wait_ms: float = 5.0, max_texts: int = 256, max_bytes: int = 1_000_000,
          max_queue: int = 256, micro_batching: bool = True, log_level: str = "info") -> None:
    """Serves the predictor saved in `model_dir` over HTTP until interrupted; `ktbert serve`.

    Loads the predictor once (its prediction batches hold `max_batch` texts), builds the app
    with `create_app` and runs it with uvicorn in one process. Arguments as in `create_app`;
    `log_level` is uvicorn's ("warning" drops the line per request).

    Examples:
    ```python
    from ktbert.serve.service import serve
    serve("sentiment", port=8000)   # then: curl -X POST localhost:8000/predict -d '{"texts": ["great"]}'
    ```
    """
    limits = check_limits(max_batch, max_wait_ms, max_texts, max_bytes, max_queue)  # before loading
    predictor = load_predictor(model_dir, batch_size=limits["max_batch"])
    name = os.path.basename(os.path.normpath(os.path.abspath(model_dir)))
    app = create_app(predictor, **limits, micro_batching=micro_batching, name=name)
    uvicorn.run(app, host=host, port=port, workers=1, log_level=log_level)
