"""Who may call the service: an optional API key, and CORS for the origins named, none by default.

With a key, every request needs it in the `Authorization: Bearer KEY` or `X-API-Key: KEY`
header, else it gets 401 with a `WWW-Authenticate` header; never in the URL, which access logs
write down. The key is compared in constant time (the SHA-256 digests of both, with
`hmac.compare_digest`) and never logged or echoed. Open without it: `/health` and `/ready`
(probes), the page at `/` (its own calls to `/predict` and `/explain` send the key typed on
it) and `/docs` with `/openapi.json` (the API's description, the same for every ktbert service).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re

KEY_VARIABLE = "KTBERT_API_KEY"
MIN_KEY_LENGTH = 16
MAKE_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
OPEN_PATHS = frozenset({"/health", "/ready", "/", "/docs", "/openapi.json"})
OPEN_PREFIXES = ("/docs-assets/",)
ORIGIN = re.compile(r"https?://[^/\s?#@]+")
HOW = "send it in the `Authorization: Bearer KEY` or the `X-API-Key: KEY` header (never in the URL)"


def check_api_key(key: str, source: str = "api_key") -> str:
    """`key` as given, or an error naming `source` (never the key): at least 16 printable ASCII
    characters with no space, as an HTTP header carries them."""
    if not isinstance(key, str):
        raise TypeError(f"`{source}` must be a string. Received: a {type(key).__name__}")
    bad = next((i for i, char in enumerate(key) if not "!" <= char <= "~"), None)
    if bad is not None:
        raise ValueError(f"the API key in {source} must be printable ASCII with no space (an HTTP header carries "
                         f"it). Received: a key with another character at position {bad}. Make one with: {MAKE_KEY}")
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(f"the API key in {source} must have at least {MIN_KEY_LENGTH} characters. Received: a key "
                         f"of {len(key)} characters. Make one with: {MAKE_KEY}")
    return key


def read_api_key(path: str | None = None, environ=None) -> str | None:
    """The service's API key: the first line of the file at `path`, else the `KTBERT_API_KEY`
    environment variable, else None (no key needed). A file that cannot be read, or a key
    that is empty or weak, is an error, so that a service meant to be closed never starts open.

    Examples:
    ```python
    key = read_api_key("/run/secrets/ktbert_key")   # or read_api_key() for KTBERT_API_KEY
    ```
    """
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"`api_key_file` names no file. Received: api_key_file={path!r}. Write the key "
                                    f"in a file, e.g. {MAKE_KEY} > key.txt") from None
        except (IsADirectoryError, PermissionError, UnicodeDecodeError) as err:
            raise ValueError(f"`api_key_file` could not be read as text ({type(err).__name__}). "
                             f"Received: api_key_file={path!r}") from None
        lines = text.strip().splitlines()
        return check_api_key(lines[0].strip() if lines else "", f"api_key_file={path!r}")
    value = (os.environ if environ is None else environ).get(KEY_VARIABLE)
    return None if value is None else check_api_key(value.strip(), f"the {KEY_VARIABLE} environment variable")


def check_cors_origins(origins) -> list:
    """`origins` as a list, each `*` or an origin: a scheme, a host and an optional port, no path."""
    if isinstance(origins, str):
        origins = [origins]
    for origin in origins:
        if origin != "*" and not (isinstance(origin, str) and ORIGIN.fullmatch(origin)):
            raise ValueError("`cors_origin` must be an origin: http:// or https://, a host and an optional port, "
                             f"with no path, like https://example.com, or *. Received: cors_origin={origin!r}")
    return list(origins)


class ApiKeyCheck:
    """ASGI middleware answering 401 to a request without the key, except on the open paths.

    Args:
        app: the ASGI application it guards.
        key: str. the key (checked with `check_api_key`).
    """

    def __init__(self, app, key: str):
        self.app = app
        self._digest = hashlib.sha256(check_api_key(key).encode("ascii")).digest()

    def allows(self, headers) -> tuple[bool, bool]:
        """`(sent, right)`: whether the request's headers hold a key, and whether it is this one."""
        sent = []
        for name, value in headers:
            if name == b"x-api-key":
                sent.append(value.strip())
            elif name == b"authorization":
                scheme, _, token = value.strip().partition(b" ")
                if scheme.lower() == b"bearer":
                    sent.append(token.strip())
        right = False
        for token in sent:  # every one compared, in constant time over digests of equal length
            right |= hmac.compare_digest(hashlib.sha256(token).digest(), self._digest)
        return bool(sent), right

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return await self.app(scope, receive, send)
        sent, right = self.allows(scope["headers"])
        if right:
            return await self.app(scope, receive, send)
        if sent:
            detail, challenge = (f"the API key sent is not this service's: {HOW}, as the service was started with it "
                                 "(`ktbert serve --api-key-file` or KTBERT_API_KEY)."), b', error="invalid_token"'
        else:
            detail, challenge = f"this service needs an API key: {HOW}.", b""
        body = json.dumps({"detail": detail}).encode("utf-8")
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="ktbert"' + challenge)]})
        await send({"type": "http.response.body", "body": body})


def add_access(app, api_key: str | None, cors_origins) -> None:
    """Guards `app` with `api_key` (None: open) and answers CORS for `cors_origins` (none: no
    CORS headers, so browsers keep other sites' pages out); documents the key in `/docs`."""
    if api_key is not None:
        app.add_middleware(ApiKeyCheck, key=api_key)
        _document_key(app)
    if cors_origins:  # added last, so outermost: preflights and 401s carry its headers
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"],
                           expose_headers=["Retry-After"], max_age=600)


def _document_key(app) -> None:
    """The key's two headers as security schemes of every guarded operation, so that `/docs`
    shows an "Authorize" button whose key its calls send."""
    build = app.openapi

    def openapi():
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
            for path, operations in schema.get("paths", {}).items():
                if path not in OPEN_PATHS:
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}, {"apiKey": []}]
                        operation.setdefault("responses", {})["401"] = {"description": "no API key, or a wrong one"}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
