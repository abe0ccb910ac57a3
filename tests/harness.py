"""The whole service, run for real: uvicorn on a free loopback port, talking to the stand-in.

Used by the end-to-end tests and the benchmark, so both exercise what production runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI

from backend.services.wiring import Backend
from backend.settings import Settings
from bot.asgi import create_app
from tests.conftest import make_settings, start_backend
from tests.standin import BotApiStandIn
from tests.whatsapp import CloudApiStandIn

WEBHOOK_SECRET = "test-secret_0123456789"


@dataclass
class RunningService:
    app: FastAPI
    settings: Settings
    backend: Backend
    base_url: str


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def running_service(
    standin: BotApiStandIn | None,
    database_url: str,
    tmp_path: Path,
    mode: Literal["polling", "webhook"],
    *,
    uvicorn_logging: dict[str, Any] | None = None,
    whatsapp: CloudApiStandIn | None = None,
    **overrides: Any,
) -> AsyncIterator[RunningService]:
    """`uvicorn_logging`: uvicorn's logging options (default: warnings only, no access log).
    `standin` None: no Telegram; `whatsapp`: WhatsApp too, the stand-in posting to the
    service's webhook."""
    sock = _free_socket()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    channels: dict[str, Any] = {}
    if standin is not None:
        channels |= {
            "telegram_token": standin.token,
            "telegram_api_url": standin.base_url,
            "telegram_mode": mode,
            "telegram_webhook_secret": WEBHOOK_SECRET,
        }
    if whatsapp is not None:
        channels |= {
            "whatsapp_token": whatsapp.token,
            "whatsapp_phone_number_id": whatsapp.number.phone_number_id,
            "whatsapp_app_secret": whatsapp.app_secret,
            "whatsapp_verify_token": whatsapp.verify_token,
            "whatsapp_api_url": whatsapp.base_url,
            "whatsapp_api_version": whatsapp.api_version,
        }
        whatsapp.webhook_url = f"{base_url}/whatsapp/webhook"
    settings = make_settings(database_url, tmp_path, public_url=base_url, **channels, **overrides)
    backend = await start_backend(settings)
    app = create_app(settings, backend)
    logging = uvicorn_logging or {"log_level": "warning", "access_log": False}
    config = uvicorn.Config(app, lifespan="on", **logging)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if task.done():
            task.result()  # raise what stopped the server
        assert server.started, "service did not start"
        yield RunningService(app, settings, backend, base_url)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()
