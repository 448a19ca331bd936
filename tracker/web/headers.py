"""Security headers on every answer: what the browser may load and run, who may frame us, what it may keep."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Every script, style and image is ours, served from /static (photo previews are blob: URLs, made on the
# phone). No inline script or style anywhere: an injected one does not run.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "worker-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)
# A mail as sent carries inline styles (mail clients want them); the admin's preview shows it in a sandboxed
# frame, which takes this page's policy. Styles only: the sandbox runs no script.
MAIL_PREVIEW_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
# The API's documentation (for logged-in people only, and holding no data) runs Swagger UI and ReDoc from our own
# /static (no CDN); both inject styles, and ReDoc runs a worker from a blob.
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
    "worker-src 'self'", "worker-src 'self' blob:"
)
HSTS = "max-age=31536000; includeSubDomains"


def policy_for(path: str) -> str:
    if path.startswith("/admin/mail/"):
        return MAIL_PREVIEW_CSP
    if path in ("/docs", "/redoc"):
        return DOCS_CSP
    return CSP


def headers_for(path: str, https: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-security-policy", policy_for(path).encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    ]
    if https:
        # Only when the bureau serves us over TLS: on plain http a browser would ignore it, and a test
        # instance on http://127.0.0.1 must not teach the browser to insist on https there.
        headers.append((b"strict-transport-security", HSTS.encode()))
    if path.startswith("/orders/"):
        # An order page opened by its mailed link: nothing of it kept by the browser, a proxy or the phone.
        headers.append((b"cache-control", b"no-store"))
    return headers


class SecurityHeaders:
    """Pure ASGI middleware (no BaseHTTPMiddleware: that buffers streaming answers such as file downloads)."""

    def __init__(self, app: ASGIApp, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope["path"], self.https)
        names = {name for name, _ in extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)
