"""The webhook endpoints Meta calls: the subscription handshake and signed message posts.

The channel comes from the app (`app.state.whatsapp`), set where the ASGI app is assembled.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from backend.errors import Unavailable
from bot.whatsapp.channel import WEBHOOK_PATH, WhatsAppChannel

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Hub-Signature-256"

router = APIRouter()


def whatsapp_channel(request: Request) -> WhatsAppChannel:
    channel = getattr(request.app.state, "whatsapp", None)
    if not isinstance(channel, WhatsAppChannel):
        raise HTTPException(status_code=404, detail="WhatsApp is not enabled here")
    return channel


Channel = Annotated[WhatsAppChannel, Depends(whatsapp_channel)]


@router.get(WEBHOOK_PATH, include_in_schema=False)
async def whatsapp_handshake(request: Request, channel: Channel) -> Response:
    query = request.query_params
    if query.get("hub.mode") == "subscribe" and channel.verifies(query.get("hub.verify_token", "")):
        return PlainTextResponse(query.get("hub.challenge", ""))
    return JSONResponse({"detail": "wrong mode or verify token"}, status_code=403)


@router.post(WEBHOOK_PATH, include_in_schema=False)
async def whatsapp_webhook(request: Request, channel: Channel) -> Response:
    body = await request.body()
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        return JSONResponse({"detail": f"{SIGNATURE_HEADER} missing"}, status_code=401)
    if not channel.signed(body, signature):  # checked before anything is parsed
        return JSONResponse({"detail": f"{SIGNATURE_HEADER} does not match"}, status_code=403)
    try:
        payload: Any = json.loads(body)
    except (ValueError, RecursionError):
        return JSONResponse({"detail": "body is not JSON"}, status_code=400)
    if not isinstance(payload, dict):
        return JSONResponse({"detail": "body is not a webhook object"}, status_code=400)
    try:
        await channel.feed(payload)
    except Unavailable:
        # Not acknowledged: Meta keeps the payload and delivers it again.
        return JSONResponse(
            {"detail": "database unavailable; deliver again"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return Response(status_code=200)
