"""The API's documentation (/docs, /redoc, /openapi.json), for people who are logged in.

Whoever may call the API may read how; a visitor with no login gets no map of it. The document holds no data,
so any role may read it. Tests and tools take it from `app.openapi()`, which needs no request."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from tracker.domain.model import Actor
from tracker.text.templating import environment
from tracker.web.auth import session_actor

# Swagger UI and ReDoc come with the package (static/docs, see the README there): the documentation opens where
# no CDN can be reached, and the page loads nothing from anywhere else.
ASSETS = "/static/docs"
# The two pages (templates docs_swagger.html, docs_redoc.html) are FastAPI's, less what the pages' policy refuses:
# Swagger UI is started from /static/docs.js rather than an inline script, and ReDoc asks no other site for a
# favicon.


def _page(name: str) -> str:
    return environment().get_template(name).render(assets=ASSETS)


def add_docs(app: FastAPI) -> None:
    """Serve the documentation behind a login; create the app with docs_url, redoc_url and openapi_url None."""

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(actor: Actor = Depends(session_actor)) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def swagger(actor: Actor = Depends(session_actor)) -> HTMLResponse:
        return HTMLResponse(_page("docs_swagger.html"))

    @app.get("/redoc", include_in_schema=False)
    async def redoc(actor: Actor = Depends(session_actor)) -> HTMLResponse:
        return HTMLResponse(_page("docs_redoc.html"))
