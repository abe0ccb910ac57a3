"""The ASGI application: the officials' API, plus the Telegram webhook when the bot runs."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from backend.api.app import create_api
from backend.api.export import shutdown_export_pool
from backend.services.wiring import Backend
from backend.settings import Settings
from bot.delivery import DeliveryWorker
from bot.telegram.channel import TelegramChannel
from bot.telegram.webhook import webhook_router
from bot.whatsapp.channel import WEBHOOK_PATH as WHATSAPP_WEBHOOK_PATH
from bot.whatsapp.channel import WhatsAppChannel
from bot.whatsapp.webhook import router as whatsapp_router

log = logging.getLogger(__name__)
WEBHOOK_SECRET_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,256}")


class ConfigurationError(Exception):
    pass


def check_settings(settings: Settings) -> None:
    """Refuse to start a webhook that anyone could post to, or that Telegram cannot reach."""
    if settings.whatsapp_token is not None:
        missing = [
            f"MUSRENBOT_WHATSAPP_{name.upper()}"
            for name in ("phone_number_id", "app_secret", "verify_token")
            if getattr(settings, f"whatsapp_{name}") is None
        ]
        if missing:
            raise ConfigurationError(f"WhatsApp needs {', '.join(missing)} as well")
    if settings.telegram_token is None or settings.telegram_mode != "webhook":
        return
    secret = settings.telegram_webhook_secret
    if secret is None:
        raise ConfigurationError(
            "MUSRENBOT_TELEGRAM_WEBHOOK_SECRET is required in webhook mode "
            "(1-256 characters A-Z, a-z, 0-9, _ and -)"
        )
    if not WEBHOOK_SECRET_FORMAT.fullmatch(secret.get_secret_value()):
        # Telegram's setWebhook refuses any other; say so now rather than fail at startup.
        raise ConfigurationError(
            "MUSRENBOT_TELEGRAM_WEBHOOK_SECRET may only use 1-256 characters A-Z, a-z, 0-9, _ and -"
        )
    if not settings.public_url:
        raise ConfigurationError("MUSRENBOT_PUBLIC_URL is required in webhook mode")


def listen_url(host: str, port: int) -> str:
    """The address a browser on this machine opens for a server listening on `host`."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - every interface: this machine is one
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def create_app(
    settings: Settings, backend: Backend | None = None, *, listen_url: str | None = None
) -> FastAPI:
    """`listen_url`: where this process serves (e.g. http://127.0.0.1:8080), for the log line
    that says where the dashboard is when no public URL is set."""
    check_settings(settings)
    backend = backend or Backend(settings)
    telegram = _telegram_channel(settings, backend)
    whatsapp = _whatsapp_channel(settings, backend)
    app = create_api(backend)
    app.router.lifespan_context = _lifespan(backend, settings, telegram, whatsapp, listen_url)
    if telegram is not None and settings.telegram_mode == "webhook":
        assert settings.telegram_webhook_secret is not None
        app.include_router(
            webhook_router(telegram, settings.telegram_webhook_secret.get_secret_value())
        )
    app.state.telegram = telegram
    if whatsapp is not None:
        app.include_router(whatsapp_router)
        log.info("WhatsApp webhook served at %s", WHATSAPP_WEBHOOK_PATH)
    app.state.whatsapp = whatsapp
    return app


def _lifespan(
    backend: Backend,
    settings: Settings,
    telegram: TelegramChannel | None,
    whatsapp: WhatsAppChannel | None,
    listen_url: str | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await backend.start()
        site = (settings.public_url or listen_url or "").rstrip("/")
        if site:
            log.info("dashboard at %s/dashboard (API documentation at %s/docs)", site, site)
        stop = asyncio.Event()
        worker = await _start_telegram(telegram, backend, settings, stop)
        # Everything loaded so far lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise pause every request for a noticeable while.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                await asyncio.wait_for(worker, 30)
            if telegram is not None:
                await telegram.close()
            if whatsapp is not None:
                await whatsapp.close()
            await backend.close()
            shutdown_export_pool()

    return lifespan


def _telegram_channel(settings: Settings, backend: Backend) -> TelegramChannel | None:
    if settings.telegram_token is None:
        return None
    return TelegramChannel(
        backend, token=settings.telegram_token.get_secret_value(), api_url=settings.telegram_api_url
    )


async def _start_telegram(
    channel: TelegramChannel | None, backend: Backend, settings: Settings, stop: asyncio.Event
) -> asyncio.Task[None] | None:
    """Start the bot (and the delivery worker, which sends through it); None when it is off."""
    if channel is None:
        log.info(
            "Telegram bot off: set MUSRENBOT_TELEGRAM_TOKEN to enable it "
            "(or try the conversation with `musrenbot chat`)"
        )
        return None
    await _start_channel(channel, settings)
    if not settings.run_worker:
        return None
    return asyncio.create_task(DeliveryWorker(backend, channel.bot, settings).run(stop))


def _whatsapp_channel(settings: Settings, backend: Backend) -> WhatsAppChannel | None:
    if settings.whatsapp_token is None:
        return None
    assert settings.whatsapp_phone_number_id is not None  # check_settings made sure
    assert settings.whatsapp_app_secret and settings.whatsapp_verify_token
    return WhatsAppChannel(
        backend,
        token=settings.whatsapp_token.get_secret_value(),
        phone_number_id=settings.whatsapp_phone_number_id,
        app_secret=settings.whatsapp_app_secret.get_secret_value(),
        verify_token=settings.whatsapp_verify_token.get_secret_value(),
        api_url=settings.whatsapp_api_url,
        api_version=settings.whatsapp_api_version,
    )


async def _start_channel(channel: TelegramChannel, settings: Settings) -> None:
    await channel.set_commands()
    if settings.telegram_mode == "webhook":
        assert settings.public_url and settings.telegram_webhook_secret
        await channel.start_webhook(
            settings.public_url, settings.telegram_webhook_secret.get_secret_value()
        )
    else:
        await channel.start_polling()
        log.info("Telegram bot polling for updates")
