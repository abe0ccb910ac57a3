"""`musrenbot`: run the service, migrate, load reference data, try the conversation."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from backend.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
wilayah_app = typer.Typer(no_args_is_help=True, help="Desa/kelurahan reference data.")
app.add_typer(db_app, name="db")
app.add_typer(wilayah_app, name="wilayah")


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # noqa: BLE001 - a setting error is the operator's to fix
        typer.secho(f"Invalid settings: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def _logging(settings: Settings) -> None:
    from bot import logs

    logs.configure(settings.log_level)


async def _wilayah_count(settings: Settings) -> int:
    from sqlalchemy import func, select

    from backend.storage.db import create_engine
    from backend.storage.models import Wilayah

    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(Wilayah)) or 0)
    finally:
        await engine.dispose()


async def _load_opds(settings: Settings) -> int:
    from backend.services.categories import load_opds
    from backend.storage.db import create_engine, create_sessionmaker

    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await load_opds(session, settings.opd_file)
    finally:
        await engine.dispose()


async def _load_wilayah(settings: Settings, region: str) -> int:
    from backend.services.wilayah import load_region
    from backend.storage.db import create_engine, create_sessionmaker

    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await load_region(session, region)
    finally:
        await engine.dispose()


def prepare_database(settings: Settings) -> None:
    """Migrate, load the OPD list, and load the region's villages on a fresh database."""
    from backend.storage.migrate import upgrade

    upgrade(settings.database_url)
    asyncio.run(_load_opds(settings))
    if asyncio.run(_wilayah_count(settings)) == 0:
        count = asyncio.run(_load_wilayah(settings, settings.region))
        logging.getLogger("musrenbot").info(
            "loaded %d desa/kelurahan for region %s", count, settings.region
        )


@app.command()
def run(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8080,
    migrate: Annotated[bool, typer.Option(help="Migrate and load the region first")] = True,
    worker: Annotated[bool, typer.Option(help="Also deliver notifications")] = True,
) -> None:
    """Serve the API and run the Telegram bot (polling or webhook, per settings)."""
    import uvicorn

    from bot import logs
    from bot.asgi import ConfigurationError, check_settings, create_app, listen_url

    settings = _settings()
    _logging(settings)
    try:
        # Before migrating: a misconfigured release must not change the schema and then stop.
        check_settings(settings)
    except ConfigurationError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    if migrate:
        prepare_database(settings)
    if not worker:
        settings = settings.model_copy(update={"run_worker": False})
    application = create_app(settings, listen_url=listen_url(host, port))
    uvicorn.run(
        application, host=host, port=port, log_level=settings.log_level.lower(), **logs.UVICORN
    )


@app.command()
def worker() -> None:
    """Deliver notifications only (run more of these beside `run --no-worker` to scale)."""
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from backend.services.wiring import Backend
    from bot.delivery import DeliveryWorker

    settings = _settings()
    _logging(settings)
    if settings.telegram_token is None:
        typer.secho("MUSRENBOT_TELEGRAM_TOKEN is required to deliver", fg="red", err=True)
        raise typer.Exit(2)
    token = settings.telegram_token.get_secret_value()

    async def main() -> None:
        backend = Backend(settings)
        await backend.start()
        api = TelegramAPIServer.from_base(settings.telegram_api_url.rstrip("/"))
        bot = Bot(token=token, session=AiohttpSession(api=api))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await DeliveryWorker(backend, bot, settings).run(stop)
        finally:
            await bot.session.close()
            await backend.close()

    asyncio.run(main())


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from backend.storage.migrate import upgrade

    settings = _settings()
    _logging(settings)
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}")


@wilayah_app.command("load")
def wilayah_load(
    code: Annotated[
        str | None, typer.Argument(help="Kabupaten/kota code such as 12.71, or ALL")
    ] = None,
) -> None:
    """Load the desa/kelurahan of one kabupaten/kota (default: the REGION setting)."""
    from backend.services.wilayah import UnknownRegion

    settings = _settings()
    _logging(settings)
    region = code or settings.region
    try:
        count = asyncio.run(_load_wilayah(settings, region))
    except UnknownRegion as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"loaded {count} desa/kelurahan for {region}")


@wilayah_app.command("search")
def wilayah_search(
    query: Annotated[
        str | None, typer.Argument(help="What a resident typed; without it, one per stdin line")
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="Kabupaten/kota code, or ALL (default: REGION)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Results per query")] = 6,
) -> None:
    """Search desa/kelurahan as the bot does: one JSON line per query, best results first."""
    import json
    import sys

    from backend.services.wilayah import UnknownRegion, WilayahIndex, iter_wilayah_rows

    try:
        index = WilayahIndex.from_rows(iter_wilayah_rows(region or _settings().region))
    except UnknownRegion as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    queries = [query] if query is not None else (line.rstrip("\r\n") for line in sys.stdin)
    for text in queries:
        results = [
            {"code": m.desa.code, "name": m.desa.said, "kecamatan": m.desa.kecamatan_name}
            for m in index.search(text, limit=limit)
        ]
        typer.echo(json.dumps({"query": text, "results": results}, ensure_ascii=False))


@app.command()
def chat(
    language: Annotated[str, typer.Option(help="id or en")] = "id",
) -> None:
    """Try the resident conversation in this terminal, with no Telegram token."""
    from bot.terminal import run_terminal_chat

    settings = _settings()
    logging.basicConfig(level=logging.WARNING)
    prepare_database(settings)
    asyncio.run(run_terminal_chat(settings, language))


@app.command()
def transcribe(
    file: Annotated[Path, typer.Argument(help="A voice note or audio file (ogg, mp3, m4a, wav)")],
) -> None:
    """Print what the speech model hears in FILE (Indonesian), as the bot would show it."""
    from backend.errors import AudioRejected
    from backend.services import audio
    from backend.services.transcription import ModelMismatch, Transcriber

    settings = _settings()
    transcriber = Transcriber(
        settings.transcribe_model,
        model_dir=settings.model_dir,
        threads=settings.transcribe_threads,
    )
    if not transcriber.available:
        typer.secho(
            "Voice notes are off: install musrenbot[voice] and set MUSRENBOT_TRANSCRIBE_MODEL",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    try:
        samples = audio.decode(file.read_bytes())
        typer.echo(transcriber.transcribe(samples))
    except OSError as exc:
        typer.secho(f"Cannot read {file}: {exc.strerror}", fg="red", err=True)
        raise typer.Exit(2) from None
    except AudioRejected as exc:
        typer.secho(f"Not transcribed: {exc.reason}", fg="red", err=True)
        raise typer.Exit(1) from None
    except ModelMismatch as exc:
        typer.secho(f"Speech model refused: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    finally:
        transcriber.close()


def _register_officials() -> None:
    from bot.cli_officials import audit_app, invite_app, official_app, outbox_app

    app.add_typer(invite_app, name="invite")
    app.add_typer(official_app, name="official")
    app.add_typer(audit_app, name="audit")
    app.add_typer(outbox_app, name="outbox")


_register_officials()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
