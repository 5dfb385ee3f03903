"""Request guards for the local service: token, origin, host and body size (plain ASGI).

They run before routing, for HTTP and WebSocket alike, and answer with the same JSON error
shape as the API: ``{"error": "..."}``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_COOKIE = "hipsense_token"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
DEFAULT_MAX_BODY_BYTES = 1_000_000


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    return host in LOOPBACK_HOSTS or host.startswith("127.")


class _BodyTooLargeError(Exception):
    pass


async def send_json_error(send: Send, status: int, message: str) -> None:
    """Send a complete ``{"error": message}`` HTTP response."""
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    """Reject requests that are unauthenticated, cross-origin, to a foreign host or too big.

    Parameters
    ----------
    app : the ASGI application to protect.
    token : required on every request when set: ``Authorization: Bearer <token>``,
        ``?token=<token>`` or the ``hipsense_token`` cookie the dashboard page sets.
    allowed_hosts : accepted ``Host`` header names (guards against DNS rebinding); None
        accepts any host (used when a token protects the service).
    max_body_bytes : larger request bodies are answered with 413.
    upload_limits : larger limits for upload paths (``{"/api/clients/import": bytes}``).
    """

    def __init__(
        self,
        app: ASGIApp,
        token: str | None = None,
        allowed_hosts: set[str] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        upload_limits: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = allowed_hosts
        self.max_body_bytes = max_body_bytes
        self.upload_limits = dict(upload_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self._check(scope, headers)
        if problem is not None:
            status, message = problem
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            else:
                await send_json_error(send, status, message)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limits.get(scope.get("path", ""), self.max_body_bytes)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await send_json_error(send, 413, self._too_large(limit))
            return
        await self._limited(scope, receive, send, limit)

    @staticmethod
    def _too_large(limit: int) -> str:
        return f"request body larger than {limit} bytes; send less data at once"

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLargeError:
            if not started:
                await send_json_error(send, 413, self._too_large(limit))

    def _check(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        host = headers.get("host", "")
        hostname = urlsplit(f"//{host}").hostname or ""
        if self.allowed_hosts is not None and hostname not in self.allowed_hosts:
            return 403, (
                f"host {hostname!r} is not served here; open the dashboard at the address "
                "hipsense serve printed"
            )
        origin = headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != host:
            return 403, f"cross-origin request from {origin} refused; use the dashboard itself"
        if self.token is None:
            return None
        supplied = self._supplied_token(scope, headers)
        if supplied is None:
            return 401, (
                "this service needs a token: send 'Authorization: Bearer <token>' or add "
                "?token=<token> to the URL"
            )
        if not hmac.compare_digest(supplied.encode(), self.token.encode()):
            return 401, "wrong token; use the one given to hipsense serve --token"
        return None

    @staticmethod
    def _supplied_token(scope: Scope, headers: dict[str, str]) -> str | None:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("token"):
            return query["token"][0]
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:
            return None
        morsel = cookie.get(TOKEN_COOKIE)
        return morsel.value if morsel is not None else None
