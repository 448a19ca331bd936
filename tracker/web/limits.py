"""How much one request may carry: its body in bytes, its photos, its notes. The same limits on pages and API."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# One note, reason or description, in characters (the API has always taken this many).
MAX_NOTE_CHARS = 4000
# Photos on one form or in one API call (per item of an inspection).
MAX_PHOTOS = 10


def note_length(text: str) -> int:
    """A note's length as the page's text box counts it: a browser sends each line break as two characters."""
    return len(text.replace("\r\n", "\n"))


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=_message(limit))
        self.limit = limit


def _message(limit: int) -> str:
    return f"request body: larger than the limit of {limit // (1024 * 1024)} MB; send fewer or smaller photos"


def too_large(request_path: str, accept: str, limit: int) -> Response:
    """413, as JSON for the API and as a short text a person can read for the pages."""
    if request_path.startswith("/api") or "text/html" not in accept:
        return JSONResponse(status_code=413, content={"detail": _message(limit)})
    mb = limit // (1024 * 1024)
    return PlainTextResponse(
        f"提交的内容太大（上限 {mb} MB）：请少选几张照片，或选较小的照片。\n"
        f"What you sent is larger than {mb} MB: choose fewer or smaller photos.\n",
        status_code=413,
    )


class NulInText(HTTPException):
    def __init__(self, where: str) -> None:
        super().__init__(status_code=422, detail=f"{where}: a NUL or control character is not accepted")
        self.where = where


# In a query or a path nothing needs a control character; PostgreSQL refuses a NUL in any text outright.
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A NUL as JSON writes it and as a form encodes it (and as itself): bodies of those two kinds are checked.
_NUL_IN_BODY = {
    b"application/json": re.compile(rb"\\u0000|\x00", re.IGNORECASE),
    b"application/x-www-form-urlencoded": re.compile(rb"%00|\x00"),
}


class BodyLimit:
    """Refuses a request whose body is larger than `max_bytes`: at once when its Content-Length says so, and
    while it is read when it is sent in chunks without one."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        query = unquote_to_bytes(scope.get("query_string", b""))
        if _CONTROL.search(query) or _CONTROL.search(scope["path"].encode("utf-8", "replace")):
            await _refused("query", scope["path"])(scope, receive, send)
            return
        nul = _NUL_IN_BODY.get(headers.get(b"content-type", b"").split(b";")[0].strip().lower())
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > self.max_bytes:
            accept = headers.get(b"accept", b"").decode("latin-1")
            await too_large(scope["path"], accept, self.max_bytes)(scope, receive, send)
            return
        received = 0
        tail = b""

        async def counted() -> Message:
            nonlocal received, tail
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if nul is not None:
                    if nul.search(tail + chunk):
                        raise NulInText("body")
                    tail = chunk[-5:]
                if received > self.max_bytes:
                    # An HTTPException passes through FastAPI's body parsing as itself (any other error
                    # would become a 400), and the handler install() registers answers it.
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)


def _refused(where: str, path: str) -> Response:
    return JSONResponse(status_code=422, content={"detail": NulInText(where).detail, "field": where})


def install(app: FastAPI, max_bytes: int) -> None:
    app.add_middleware(BodyLimit, max_bytes=max_bytes)

    async def refuse(request: Request, error: Any) -> Response:
        return _refused(error.where, request.url.path)

    app.add_exception_handler(NulInText, refuse)

    async def answer(request: Request, error: Any) -> Response:
        return too_large(request.url.path, request.headers.get("accept", ""), max_bytes)

    app.add_exception_handler(BodyTooLarge, answer)
