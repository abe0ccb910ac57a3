"""Request limits checked before any route runs: body size, and NUL characters.

A pure ASGI middleware, so that an oversized body is refused from its Content-Length before a
byte of it is read, and a body sent without one (chunked) is cut off as soon as it grows past
the limit instead of being buffered whole. NUL is never part of a valid URL or form value
here, and PostgreSQL refuses it in text: it is answered 400 at the door rather than failing
deep inside a query.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MB = 1024 * 1024
DEFAULT_BODY_LIMIT = 1 * MB  # forms and JSON: an usulan is a few kilobytes
# Telegram's updates are small (photos come by file id, not inline); its path has its own entry
# so that it can be tuned apart from the API.
PATH_BODY_LIMITS: dict[str, int] = {"/telegram/webhook": 1 * MB}
FORM = b"application/x-www-form-urlencoded"


def body_limit(path: str) -> int:
    return PATH_BODY_LIMITS.get(path, DEFAULT_BODY_LIMIT)


def _has_nul(raw: bytes) -> bool:
    return b"\x00" in raw or b"\x00" in unquote_to_bytes(raw.replace(b"+", b" "))


@dataclass
class _Body:
    """What the middleware has let through of one request's body."""

    limit: int
    received: int = 0
    too_large: bool = False
    chunks: list[bytes] = field(default_factory=list)


class RequestLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _has_nul(scope.get("raw_path") or scope["path"].encode()) or _has_nul(
            scope.get("query_string", b"")
        ):
            await _refuse(send, 400, "the URL holds a NUL character", "NUL not allowed")
            return
        headers = dict(scope.get("headers") or [])
        body = _Body(body_limit(scope["path"]))
        length = headers.get(b"content-length", b"").strip()
        if length.isdigit() and int(length) > body.limit:
            await _refuse(send, 413, *_too_large(body.limit))
            return
        if headers.get(b"content-type", b"").split(b";")[0].strip().lower() == FORM:
            # Forms are read whole here (they are small, and bounded by the limit) to refuse a
            # NUL in any field before a route sees it.
            message = await _read_form(receive, body)
            if body.too_large:
                await _refuse(send, 413, *_too_large(body.limit))
                return
            if _has_nul(message["body"]):
                await _refuse(send, 400, "a form field holds a NUL character", "NUL not allowed")
                return
            await self.app(scope, _replay(message, receive), send)
            return
        await self._counted(scope, receive, send, body)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, body: _Body) -> None:
        """Pass the body through while counting it; past the limit, the route is told the
        client went away and the client gets 413 instead of whatever the route answered."""
        started = False

        async def counting_receive() -> Message:
            if body.too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                body.received += len(message.get("body", b""))
                if body.received > body.limit:
                    body.too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if body.too_large:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not body.too_large:
                raise
        if body.too_large and not started:
            await _refuse(send, 413, *_too_large(body.limit))


async def _read_form(receive: Receive, body: _Body) -> Message:
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return message
        chunk = message.get("body", b"")
        body.received += len(chunk)
        if body.received > body.limit:
            body.too_large = True
            break
        body.chunks.append(chunk)
        more = bool(message.get("more_body"))
    return {"type": "http.request", "body": b"".join(body.chunks), "more_body": False}


def _replay(message: Message, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # only a disconnect can follow
        sent = True
        return message

    return replay


def _too_large(limit: int) -> tuple[str, str]:
    return "the request body is too large", f"at most {limit // 1024} KiB"


async def _refuse(send: Send, status: int, detail: str, reason: str) -> None:
    """An ErrorOut body (backend.api.errors), written here because no route runs."""
    payload = json.dumps({"detail": detail, "field": None, "reason": reason}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
