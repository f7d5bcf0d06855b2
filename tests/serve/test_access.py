"""Who may call the service: without the API key a request gets 401 (with `WWW-Authenticate`),
with it 200; the key is compared in constant time, never echoed, and never taken from the URL;
the probes, the page and the docs stay open. CORS is off unless origins are named."""

import hashlib
import re

import httpx
import pytest

import ktbert.serve.access as access
from helpers import ConstantPredictor, running
from ktbert.serve.access import read_api_key
from ktbert.serve.service import create_app

KEY = "k3y-for-the-tests_0123456789abcdef"
HOW = "send it in the `Authorization: Bearer KEY` or the `X-API-Key: KEY` header (never in the URL)"
MISSING = f"this service needs an API key: {HOW}."
WRONG = (f"the API key sent is not this service's: {HOW}, as the service was started with it "
         "(`ktbert serve --api-key-file` or KTBERT_API_KEY).")
MAKE_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
ORIGIN = "https://app.example.com"
INVALID = 'Bearer realm="ktbert", error="invalid_token"'


@pytest.fixture(scope="module")
def guarded():
    with running(create_app(ConstantPredictor(), api_key=KEY, cors_origins=[ORIGIN])) as url:
        yield url


@pytest.fixture(scope="module")
def open_service():
    with running(create_app(ConstantPredictor())) as url:
        yield url


def predict(url, headers=None, path="/predict"):
    return httpx.post(f"{url}{path}", json={"texts": ["good"]}, headers=headers or {}, timeout=30)


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {KEY}"}, {"authorization": f"bearer  {KEY}"},
                                     {"X-API-Key": KEY}, {"X-API-Key": "wrong-but-long-enough-key", "Authorization":
                                                          f"Bearer {KEY}"}],
                         ids=["bearer", "bearer lower case, spaces", "x-api-key", "a wrong key beside the right one"])
def test_with_the_key_the_service_answers_200(guarded, headers):
    answer = predict(guarded, headers)
    assert (answer.status_code, answer.json()["labels"]) == (200, ["pos"])


@pytest.mark.parametrize("headers, path, detail, challenge", [
    ({}, "/predict", MISSING, 'Bearer realm="ktbert"'),
    ({"Authorization": f"Basic {KEY}"}, "/predict", MISSING, 'Bearer realm="ktbert"'),
    ({"Authorization": "Bearer not-the-key-0123456789"}, "/predict", WRONG, INVALID),
    ({"X-API-Key": KEY[:-1]}, "/predict", WRONG, INVALID),
    ({}, "/explain", MISSING, 'Bearer realm="ktbert"'),
    ({}, f"/predict?api_key={KEY}", MISSING, 'Bearer realm="ktbert"'),  # never from the URL
    ({}, "/no-such-path", MISSING, 'Bearer realm="ktbert"'),
], ids=["none", "another scheme", "a wrong key", "the key less a character", "explain", "in the URL", "any path"])
def test_without_the_key_the_service_answers_401(guarded, headers, path, detail, challenge):
    answer = predict(guarded, headers, path)
    assert (answer.status_code, answer.json()) == (401, {"detail": detail})
    assert answer.headers["www-authenticate"] == challenge
    assert "not-the-key" not in answer.text and KEY[:-1] not in answer.text


def test_the_probes_the_page_and_the_docs_stay_open(guarded):
    for path in ("/health", "/ready", "/", "/docs", "/openapi.json", "/docs-assets/swagger-ui.css"):
        assert httpx.get(f"{guarded}{path}", timeout=30).status_code == 200, path
    page = httpx.get(guarded, timeout=30).text
    assert 'id="api-key"' in page and 'type="password"' in page
    schema = httpx.get(f"{guarded}/openapi.json", timeout=30).json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert schema["paths"]["/predict"]["post"]["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_the_key_is_compared_in_constant_time(guarded, monkeypatch):
    compared = []

    def recording(a, b):
        compared.append((a, b))
        return real(a, b)

    real = access.hmac.compare_digest
    monkeypatch.setattr(access.hmac, "compare_digest", recording)
    assert predict(guarded, {"X-API-Key": "short"}).status_code == 401
    assert predict(guarded, {"X-API-Key": KEY}).status_code == 200
    digest = hashlib.sha256(KEY.encode()).digest()
    assert compared == [(hashlib.sha256(b"short").digest(), digest), (digest, digest)]  # equal lengths, always


def test_without_a_key_the_service_is_open_and_sends_no_cors_headers(open_service):
    answer = predict(open_service, {"Origin": ORIGIN})
    assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers
    preflight = httpx.options(f"{open_service}/predict", timeout=30, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert "access-control-allow-origin" not in preflight.headers
    assert 'id="api-key"' not in httpx.get(open_service, timeout=30).text


def test_cors_answers_the_origin_named_and_no_other(guarded):
    preflight = httpx.options(f"{guarded}/predict", timeout=30, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    refused = predict(guarded, {"Origin": ORIGIN})  # a 401 the page can read
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == ORIGIN
    other = predict(guarded, {"Origin": "https://elsewhere.example", "X-API-Key": KEY})
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_key_comes_from_the_file_else_the_environment(tmp_path):
    assert read_api_key(write(tmp_path / "key", f"  {KEY}\n"), environ={"KTBERT_API_KEY": "x" * 20}) == KEY
    assert read_api_key(None, environ={"KTBERT_API_KEY": f"{KEY}\n"}) == KEY
    assert read_api_key(None, environ={}) is None


@pytest.mark.parametrize("content, env, error, message", [
    (None, {}, FileNotFoundError, "`api_key_file` names no file. Received: api_key_file='{path}'. Write the key "
                                  f"in a file, e.g. {MAKE_KEY} > key.txt"),
    ("\n\n", {}, ValueError, "the API key in api_key_file='{path}' must have at least 16 characters. Received: a "
                             f"key of 0 characters. Make one with: {MAKE_KEY}"),
    ("short", {}, ValueError, "the API key in api_key_file='{path}' must have at least 16 characters. Received: a "
                              f"key of 5 characters. Make one with: {MAKE_KEY}"),
    ("a key with spaces in it", {}, ValueError, "the API key in api_key_file='{path}' must be printable ASCII with "
     "no space (an HTTP header carries it). Received: a key with another character at position 1. Make one with: "
     f"{MAKE_KEY}"),
    ("", {"KTBERT_API_KEY": ""}, ValueError, "the API key in the KTBERT_API_KEY environment variable must have at "
     f"least 16 characters. Received: a key of 0 characters. Make one with: {MAKE_KEY}"),
    ("", {"KTBERT_API_KEY": "clé-" + "x" * 20}, ValueError, "the API key in the KTBERT_API_KEY environment variable "
     "must be printable ASCII with no space (an HTTP header carries it). Received: a key with another character at "
     f"position 2. Make one with: {MAKE_KEY}"),
], ids=["no file", "an empty file", "a short key", "spaces", "an empty variable", "not ASCII"])
def test_a_missing_empty_or_weak_key_is_refused_without_echoing_it(tmp_path, content, env, error, message):
    path = str(tmp_path / "key.txt")
    if content:
        write(tmp_path / "key.txt", content)
    with pytest.raises(error, match=re.escape(message.format(path=path))):
        read_api_key(path if "KTBERT_API_KEY" not in env else None, environ=env)


@pytest.mark.parametrize("options, message", [
    ({"api_key": "short"}, "the API key in api_key must have at least 16 characters. Received: a key of 5 characters."),
    ({"cors_origins": ["https://app.example.com/"]}, "`cors_origin` must be an origin: http:// or https://, a host "
     "and an optional port, with no path, like https://example.com, or *. "
     "Received: cors_origin='https://app.example.com/'"),
    ({"cors_origins": ["app.example.com"]}, "Received: cors_origin='app.example.com'"),
])
def test_create_app_refuses_a_weak_key_and_a_wrong_origin(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        create_app(ConstantPredictor(), **options)
