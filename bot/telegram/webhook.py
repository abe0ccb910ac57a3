"""The webhook endpoint Telegram posts updates to."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiogram.types import Update
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from backend.errors import Unavailable
from bot.telegram.channel import WEBHOOK_PATH, TelegramChannel

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name


def webhook_router(channel: TelegramChannel, secret: str) -> APIRouter:
    router = APIRouter()
    expected = secret.encode()

    @router.post(WEBHOOK_PATH, include_in_schema=False)
    async def telegram_webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return JSONResponse({"detail": "wrong or missing secret token"}, status_code=401)
        try:
            body: Any = await request.json()
        except (ValueError, RecursionError):
            return JSONResponse({"detail": "body is not JSON"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"detail": "body is not an Update object"}, status_code=400)
        try:
            update = Update.model_validate(body, context={"bot": channel.bot})
        except RecursionError:
            return JSONResponse({"detail": "body nested too deeply"}, status_code=400)
        except ValidationError as exc:
            # Acknowledged so Telegram does not redeliver what we will never understand.
            log.warning(
                "update %s not understood (%d schema errors); acknowledged and dropped",
                body.get("update_id"),
                exc.error_count(),
            )
            return Response(status_code=200)
        try:
            answer = await channel.feed(update)
        except Unavailable:
            # Not acknowledged: Telegram keeps the update and delivers it again.
            return JSONResponse(
                {"detail": "database unavailable; deliver again"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        if answer is not None:
            return JSONResponse(answer)
        return Response(status_code=200)

    return router
