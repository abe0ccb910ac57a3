"""`musrenbot`: run the service, migrate, load reference data, try the conversation."""

from __future__ import annotations

import asyncio
import logging
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
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # aiogram logs every update at INFO with the sender's ids; keep those out of the log.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)


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
) -> None:
    """Serve the API and run the Telegram bot (polling or webhook, per settings)."""
    import uvicorn

    from bot.web import ConfigurationError, create_app

    settings = _settings()
    _logging(settings)
    if migrate:
        prepare_database(settings)
    try:
        application = create_app(settings)
    except ConfigurationError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    uvicorn.run(application, host=host, port=port, log_level=settings.log_level.lower())


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


def _register_officials() -> None:
    from bot.cli_officials import audit_app, invite_app, official_app

    app.add_typer(invite_app, name="invite")
    app.add_typer(official_app, name="official")
    app.add_typer(audit_app, name="audit")


_register_officials()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
