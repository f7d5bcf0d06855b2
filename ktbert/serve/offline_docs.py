"""`/docs`, the API's page, served by the service itself so that it works with no network."""

from __future__ import annotations

from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles


def add_offline_docs(app) -> None:
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
