"""The API's documentation (/docs, /redoc, /openapi.json), for people who are logged in.

Whoever may call the API may read how; a visitor with no login gets no map of it. The document holds no data,
so any role may read it. Tests and tools take it from `app.openapi()`, which needs no request."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from tracker.domain.model import Actor
from tracker.web.auth import session_actor

# Swagger UI and ReDoc come with the package (static/docs, see the README there): the documentation opens where
# no CDN can be reached, and the page loads nothing from anywhere else.
ASSETS = "/static/docs"
# FastAPI's own Swagger page starts the UI with an inline script, which the pages' policy does not run: the
# same start is in /static/docs.js.
SWAGGER_PAGE = f"""<!doctype html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<title>tracker API</title>
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body>
</html>
"""
# FastAPI's ReDoc page would ask its own site for a favicon: this one loads nothing from elsewhere.
REDOC_PAGE = f"""<!doctype html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/docs.css">
<title>tracker API</title>
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="{ASSETS}/redoc.standalone.js"></script>
</body>
</html>
"""


def add_docs(app: FastAPI) -> None:
    """Serve the documentation behind a login; create the app with docs_url, redoc_url and openapi_url None."""

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(actor: Actor = Depends(session_actor)) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def swagger(actor: Actor = Depends(session_actor)) -> HTMLResponse:
        return HTMLResponse(SWAGGER_PAGE)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(actor: Actor = Depends(session_actor)) -> HTMLResponse:
        return HTMLResponse(REDOC_PAGE)
