"""What `POST /predict` reads: the body within its byte limit, its JSON checked field by field,
and the service's limits. Each mistake becomes a `Refused` with its status and one message that
says what is wrong and how to fix it, in the request's own JSON terms."""

from __future__ import annotations

import json

from ktbert.checks import check_count, check_non_negative, check_pairs, check_texts

EXAMPLE = '{"texts": ["what a film!", "dull"]}'
PAIRS_EXAMPLE = '{"pairs": [["is it open on sunday?", "we open every day"]]}'
FIELDS = ("texts", "pairs", "return_proba")
JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number",
              bool: "boolean", type(None): "null"}


class Refused(Exception):
    """A request the service answers with `status` and `message` (a 4xx or 503)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def check_limits(max_batch=64, max_wait_ms=5.0, max_texts=256, max_bytes=1_000_000, max_queue=256) -> dict:
    """The service's limits as a dict, each checked: positive counts, a wait >= 0 ms."""
    return {"max_batch": check_count(max_batch, "max_batch"),
            "max_wait_ms": check_non_negative(max_wait_ms, "max_wait_ms"),
            "max_texts": check_count(max_texts, "max_texts"),
            "max_bytes": check_count(max_bytes, "max_bytes"),
            "max_queue": check_count(max_queue, "max_queue")}


def shorten(text: str, limit: int = 60) -> str:
    """`text`, cut to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _echo(value) -> str:
    """`value` as short JSON, with its JSON type."""
    kind = JSON_TYPES.get(type(value), type(value).__name__)
    return f"{shorten(json.dumps(value, ensure_ascii=False))} (a JSON {kind})"


async def read_body(request, max_bytes: int) -> bytes:
    """The request's body, refused with 413 once it is larger than `max_bytes` (by its declared
    Content-Length, before reading, or while reading a body sent without one), and with 400
    when the connection closes before it has all come."""
    from starlette.requests import ClientDisconnect

    fix = ("Send fewer or shorter texts per request, or start the service with a larger "
           "`max_bytes` (`ktbert serve --max-bytes`).")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Refused(400, f"the Content-Length header must be a number of bytes. Received: {declared!r}")
        if int(declared) > max_bytes:
            raise Refused(413, f"the request body has {int(declared)} bytes, more than max_bytes={max_bytes}. {fix}")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise Refused(413, f"the request body has more than max_bytes={max_bytes} bytes. {fix}")
            chunks.append(chunk)
    except ClientDisconnect:  # gone, or cut off by the body's deadline: nobody reads this answer
        raise Refused(400, "the connection closed before the request body had all arrived.") from None
    return b"".join(chunks)


def parse_predict_body(body: bytes, max_texts: int, pairs: bool = False) -> tuple[list, bool]:
    """`(texts, return_proba)` from the raw body of `POST /predict`, or `Refused` saying what
    is wrong: 400 for a body that is not JSON, 413 for more than `max_texts` texts, 422 for
    the rest (texts are checked as the predictor checks them, with its messages). A model of
    text pairs (`pairs=True`) takes `pairs`, a list of `[text_a, text_b]`, instead of `texts`:
    then `texts` is a list of `(a, b)` tuples."""
    try:
        data = json.loads(body)
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError both are
        raise Refused(400, f"the request body is not valid JSON ({err}). Send a JSON object like {EXAMPLE}.") from err
    except RecursionError as err:  # "[[[[..." a few thousand deep: within max_bytes, beyond the parser
        raise Refused(400, "the request body nests arrays or objects too deeply to be read. "
                           f"Send a JSON object like {EXAMPLE}.") from err
    if not isinstance(data, dict):
        raise Refused(422, f"the request body must be a JSON object like {EXAMPLE}. Received: {_echo(data)}.")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        names = [shorten(name, 40) for name in unknown[:5]] + [f"and {len(unknown) - 5} more"] * (len(unknown) > 5)
        what = "`pairs` (a list of [text_a, text_b])" if pairs else "`texts` (a list of strings)"
        raise Refused(422, f"unknown field(s) {names}: /predict takes {what} and `return_proba` (true or false).")
    if pairs:
        return _parse_pairs(data, max_texts)
    if "pairs" in data:
        raise Refused(422, f"this model classifies single texts, not pairs: send `texts`, like {EXAMPLE}.")
    if "texts" not in data:
        raise Refused(422, f"`texts` is missing: send a JSON object like {EXAMPLE}.")
    texts, return_proba = data["texts"], data.get("return_proba", True)
    if not isinstance(return_proba, bool):
        raise Refused(422, f"`return_proba` must be true or false. Received: return_proba={_echo(return_proba)}.")
    if not isinstance(texts, (list, str)):
        raise Refused(422, f"`texts` must be a list of strings. Received: texts={_echo(texts)}.")
    if isinstance(texts, list) and len(texts) > max_texts:
        raise Refused(413, f"`texts` holds {len(texts)} texts, more than max_texts={max_texts} per request. "
                           "Split them over several requests, or start the service with a larger "
                           "`max_texts` (`ktbert serve --max-texts`).")
    if isinstance(texts, list):
        check_entries(texts)
    try:
        return check_texts(texts), return_proba
    except (TypeError, ValueError) as err:
        raise Refused(422, str(err)) from err


def _parse_pairs(data: dict, max_texts: int) -> tuple[list, bool]:
    """`(pairs, return_proba)` from a parsed body for a model of text pairs."""
    if "pairs" not in data:
        raise Refused(422, f"this model classifies pairs of texts: send `pairs`, like {PAIRS_EXAMPLE}.")
    pairs, return_proba = data["pairs"], data.get("return_proba", True)
    if not isinstance(return_proba, bool):
        raise Refused(422, f"`return_proba` must be true or false. Received: return_proba={_echo(return_proba)}.")
    if not isinstance(pairs, list) or not pairs:
        raise Refused(422, f"`pairs` must be a non-empty list of [text_a, text_b]. Received: pairs={_echo(pairs)}.")
    if len(pairs) > max_texts:
        raise Refused(413, f"`pairs` holds {len(pairs)} pairs, more than max_texts={max_texts} per request. "
                           "Split them over several requests, or start the service with a larger "
                           "`max_texts` (`ktbert serve --max-texts`).")
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)):
            raise Refused(422, f"`pairs` must hold [text_a, text_b] pairs of two strings; position {i} holds "
                               f"{_echo(pair)}. Send them like {PAIRS_EXAMPLE}.")
    try:
        return list(zip(*check_pairs(pairs))), return_proba
    except (TypeError, ValueError) as err:
        raise Refused(422, str(err)) from err


def check_entries(texts: list) -> None:
    """Refuses (422) an array or an object among `texts`, in the request's own JSON terms
    (`check_texts` would name Python types and advise on data frames)."""
    for i, text in enumerate(texts):
        if isinstance(text, (list, dict)):
            raise Refused(422, f"`texts` must hold strings; position {i} holds {_echo(text)}. "
                               f"Send each text as one JSON string, like {EXAMPLE}.")


EXPLAIN_EXAMPLE = '{"text": "what a film!"}'


def parse_explain_body(body: bytes, classes: list, pairs: bool = False) -> tuple[str, str | None]:
    """`(text, class_name)` from the raw body of `POST /explain`, or `Refused` as for `/predict`:
    one non-blank `text`, and optionally `class_name`, one of `classes` (default: the class
    `/predict` answers)."""
    if pairs:
        raise Refused(422, "/explain scores the words of one text; this model classifies pairs of texts, "
                           "which it cannot explain yet.")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise Refused(400, f"the request body is not valid JSON. Send a JSON object like {EXPLAIN_EXAMPLE}.") from err
    if not isinstance(data, dict):
        raise Refused(422, f"the request body must be a JSON object like {EXPLAIN_EXAMPLE}. Received: {_echo(data)}.")
    unknown = sorted(set(data) - {"text", "class_name"})
    if unknown:
        raise Refused(422, f"unknown field(s) {[shorten(n, 40) for n in unknown[:5]]}: /explain takes `text` "
                           "(one string) and `class_name` (optional).")
    text, class_name = data.get("text"), data.get("class_name")
    if not isinstance(text, str) or not text.strip():
        raise Refused(422, f"`text` must be one non-blank string, like {EXPLAIN_EXAMPLE}. "
                           f"Received: text={_echo(text)}.")
    if class_name is not None and class_name not in classes:
        raise Refused(422, f"`class_name` must be one of {classes}. Received: class_name={_echo(class_name)}.")
    return check_texts([text])[0], class_name
