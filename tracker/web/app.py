"""The FastAPI application: JSON API, health, login, and the admin's view of the mail sink."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.exceptions import HTTPException as StarletteHTTPException

from tracker import product
from tracker.domain.errors import DomainError, InvalidInput
from tracker.domain.model import Actor, Role
from tracker.mail.sink import bodies, summary
from tracker.service import logins
from tracker.service.context import Context
from tracker.store.db import read, read_only
from tracker.store.tables import facilities, users
from tracker.text.templating import environment
from tracker.web import limits
from tracker.web.api import router
from tracker.web.auth import (
    COOKIE,
    LOGIN_COOKIE,
    SESSION_HOURS,
    LoginThrottled,
    context,
    csrf_valid,
    login,
    login_form_token,
    login_form_valid,
    page_actor,
    page_csrf,
    require_roles,
)
from tracker.web.closure import router as closure_router
from tracker.web.dashboard import router as dashboard_router
from tracker.web.docs import add_docs
from tracker.web.headers import SecurityHeaders
from tracker.web.metrics import install_metrics
from tracker.web.pages import error_page
from tracker.web.pages import router as pages_router
from tracker.web.upward_page import router as upward_router

templates = Jinja2Templates(env=environment(), context_processors=[page_csrf])


def create_app(ctx: Context) -> FastAPI:
    app = FastAPI(
        title="tracker",
        version="1.0.0",
        description=f"{product.NAME['en']} / {product.NAME['zh']}",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # tracker serves its own Prometheus metrics and traces nothing; FastAPI's OpenTelemetry hook otherwise
        # looks up the global providers (the process environment) on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.ctx = ctx
    # Pages go compressed: a dashboard's tables shrink about twentyfold, which a phone on a weak signal feels.
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    limits.install(app, ctx.settings.max_body_mb * 1024 * 1024)
    # Added last, so outermost: even the body limit's early refusals carry the headers.
    app.add_middleware(SecurityHeaders, https=ctx.settings.base_url.startswith("https://"))
    app.include_router(router)
    app.include_router(pages_router)
    app.include_router(upward_router)
    app.include_router(dashboard_router)
    app.include_router(closure_router)
    add_docs(app)
    install_metrics(app, ctx)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, error: DomainError) -> Response:
        body: dict = {"detail": str(error)}
        if isinstance(error, InvalidInput):
            body = {"detail": f"{error.field}: {error}", "field": error.field}
        if await wants_page(request):
            return await page_for(request, error.status_code, body["detail"])
        return JSONResponse(status_code=error.status_code, content=body)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        body = validation_body(error.errors())
        if await wants_page(request):
            return await page_for(request, 422, body["detail"])
        return JSONResponse(status_code=422, content=body)

    @app.get("/healthz", tags=["health"])
    async def healthz(request: Request) -> dict[str, str]:
        async with read_only(context(request).engine) as conn:
            await conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home(request: Request) -> Response:
        """Each role's own first page: the inspector's and facility head's work, the dashboard for those who
        read it; the administrator's is this one, with the users, the facilities and the mail."""
        actor = await page_actor(request)
        if actor is not None and HOMES[actor.role] != "/":
            return RedirectResponse(HOMES[actor.role], status_code=303)
        values: dict[str, Any] = {}
        if actor is not None:  # the administrator
            values = await read(context(request).engine, admin_home)
        return templates.TemplateResponse(request, "home.html", values)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_page(request: Request, next: str = "/") -> Response:
        return _login_form(request, next)

    @app.post("/login", include_in_schema=False)
    async def login_submit(
        request: Request,
        username: str = Form(...),
        password: str = Form(...),
        next: str = Form("/"),
        login_token: str = Form(""),
    ) -> Response:
        ctx = context(request)
        if not login_form_valid(ctx.secret, request.cookies.get(LOGIN_COOKIE), login_token):
            return error_page(request, 403, "err.csrf")
        try:
            token = await login(request, username, password)
        except LoginThrottled as refused:
            return _login_form(request, next, "login.throttled", 429, refused.retry_after)
        if token is None:
            return _login_form(request, next, "login.error", 401)
        if previous := request.cookies.get(COOKIE):
            await logins.logout(ctx, previous)  # the session this browser held is replaced, not left open
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.delete_cookie(LOGIN_COOKIE)
        response.set_cookie(
            COOKIE,
            token,
            max_age=SESSION_HOURS * 3600,
            httponly=True,
            samesite="strict",
            secure=context(request).settings.base_url.startswith("https"),
        )
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request, csrf: str = Form("")) -> Response:
        ctx = context(request)
        if session := request.cookies.get(COOKIE):
            if not csrf_valid(ctx.secret, session, csrf):
                return error_page(request, 403, "err.csrf")
            await logins.logout(ctx, session)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/admin/mail", response_class=HTMLResponse, tags=["admin"])
    async def mail_list(request: Request, actor: Actor = Depends(require_roles(Role.ADMIN))) -> Response:
        directory = context(request).settings.mail_dir
        files = sorted(directory.glob("*.eml"), reverse=True)[:500] if directory.exists() else []
        return templates.TemplateResponse(
            request, "mail_list.html", {"messages": [summary(f) for f in files]}
        )

    @app.get("/admin/mail/{name}", response_class=HTMLResponse, tags=["admin"])
    async def mail_show(
        name: str, request: Request, actor: Actor = Depends(require_roles(Role.ADMIN))
    ) -> Response:
        path = context(request).settings.mail_dir / name
        if "/" in name or not name.endswith(".eml") or not path.is_file():
            raise HTTPException(status_code=404, detail="no such message")
        text_body, html_body = bodies(path)
        return templates.TemplateResponse(
            request, "mail_show.html", {"meta": summary(path), "text": text_body, "html": html_body}
        )

    @app.exception_handler(401)
    async def unauthorised(request: Request, error: HTTPException) -> Response:
        if request.url.path.startswith("/api") or "text/html" not in request.headers.get("accept", ""):
            return JSONResponse(
                status_code=401, content={"detail": error.detail}, headers={"WWW-Authenticate": "Bearer"}
            )
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, error: StarletteHTTPException) -> Response:
        if not await wants_page(request):
            return JSONResponse(
                status_code=error.status_code, content={"detail": error.detail}, headers=error.headers
            )
        return await page_for(request, error.status_code, str(error.detail))

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> Response:
        if not await wants_page(request):
            return JSONResponse(status_code=500, content={"detail": "internal error"})
        return await page_for(request, 500, "")

    return app


# Where each role starts after logging in (and on the brand link); "/" is the administrator's own home.
HOMES = {
    Role.INSPECTOR: "/my",
    Role.FACILITY_HEAD: "/my",
    Role.TOWN_OFFICER: "/dashboard",
    Role.SECTION_CHIEF: "/dashboard",
    Role.BUREAU_LEAD: "/dashboard",
    Role.ADMIN: "/",
}
# What an error page says for a status, when nothing more precise is known.
ERROR_KEYS = {403: "err.forbidden", 404: "err.not_found", 500: "err.server"}


async def wants_page(request: Request) -> bool:
    """A refusal is a page for a browser asking for a page, JSON for the API and for programs."""
    if request.url.path.startswith(("/api", "/openapi.json", "/healthz")):
        return False
    return "text/html" in request.headers.get("accept", "")


async def page_for(request: Request, status_code: int, detail: str) -> Response:
    """An error page in the reader's language, with the reader's navigation. A 422 says what was wrong in the
    words the check gave (they name the field); other errors say it in the catalogue's words."""
    try:
        await page_actor(request)
    except (SQLAlchemyError, OSError):  # the page says what went wrong even when no reader can be named
        pass
    if status_code == 422 and "must end after it starts" in detail:
        key, values = "err.period", {}
    elif status_code == 422 and "should match pattern" in detail:  # a day or month typed wrong, in words
        key, values = "err.format", {"field": detail.split(":")[0]}
    elif status_code == 422:
        key, values = "err.invalid", {"detail": detail}
    else:
        key, values = ERROR_KEYS.get(status_code, "err.not_found" if status_code < 500 else "err.server"), {}
    return error_page(request, status_code, key, **values)


async def admin_home(conn: AsyncConnection) -> dict[str, Any]:
    people = (
        await conn.execute(
            select(users.c.username, users.c.name, users.c.role, users.c.town, users.c.active).order_by(
                users.c.role, users.c.username
            )
        )
    ).all()
    sites = (
        await conn.execute(
            select(facilities.c.code, facilities.c.name, facilities.c.town)
            .order_by(facilities.c.code)
            .limit(500)
        )
    ).all()
    count = (await conn.execute(select(func.count()).select_from(facilities))).scalar_one()
    return {"people": people, "sites": sites, "site_count": count}


def _login_form(
    request: Request,
    next: str,
    error: str | None = None,
    status_code: int = 200,
    retry_after: int | None = None,
) -> Response:
    """The login page, with the anti-forgery value its form posts back and its cookie (kept while valid, so two
    open tabs both work)."""
    ctx = context(request)
    value = request.cookies.get(LOGIN_COOKIE)
    if not login_form_valid(ctx.secret, value, value):
        value = login_form_token(ctx.secret)
    values = {"next": _safe_next(next), "error": error, "retry_after": retry_after, "login_token": value}
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    response = templates.TemplateResponse(
        request, "login.html", values, status_code=status_code, headers=headers
    )
    response.set_cookie(
        LOGIN_COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=ctx.settings.base_url.startswith("https"),
    )
    return response


def validation_body(errors: Sequence[Any]) -> dict[str, Any]:
    """A refused request's body that says, in its `detail`, which field was wrong and why, as the domain's
    InvalidInput does. The input itself is not echoed back: it may be a password."""
    problems = [
        {"field": _field_name(e.get("loc", ())), "message": str(e.get("msg", "invalid"))} for e in errors
    ]
    problems = problems or [{"field": "request", "message": "invalid request"}]
    return {
        "detail": "; ".join(f"{p['field']}: {p['message']}" for p in problems),
        "field": problems[0]["field"],
        "errors": problems,
    }


def _field_name(loc: Sequence[Any]) -> str:
    # ("query", "from") is "from", ("body", "items", 0, "note") is "items.0.note", ("body",) the body itself.
    parts = [str(part) for part in loc]
    if len(parts) > 1 and parts[0] in ("path", "query", "header", "cookie", "body"):
        parts = parts[1:]
    return ".".join(parts) or "request"


def _safe_next(target: str) -> str:
    # Only local paths: a login link must not bounce the user to another site.
    local = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if local else "/"
