"""Wiring of the backend: one `Backend` per process, one `Services` per unit of work.

The edge (bot, API, command line) opens a unit of work, hands its `Services` to the code that
decides, and the unit commits once at the end, or rolls back on an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.errors import Unavailable
from backend.services.alerts import AlertService
from backend.services.categories import Category, check_category_opds, load_categories
from backend.services.conversations import ConversationService
from backend.services.delivery import DeliveryService
from backend.services.intake import IntakeService
from backend.services.logins import Logins
from backend.services.media import MediaStore
from backend.services.notifications import Outbox
from backend.services.officials import OfficialService
from backend.services.passwords import Passwords
from backend.services.places import Places, load_places
from backend.services.public import PublicService
from backend.services.queues import QueueService
from backend.services.rembuk import RembukService
from backend.services.security import SecurityLog
from backend.services.support import SupportService
from backend.services.throttle import Limits, Throttle
from backend.services.transcription import Transcriber
from backend.services.updates import UpdateLog
from backend.services.users import UserService
from backend.services.wilayah import WilayahIndex, index_from_db
from backend.services.workflow import WorkflowService
from backend.settings import Settings
from backend.storage.db import create_engine, create_sessionmaker, is_unavailable
from backend.storage.models import Opd

log = logging.getLogger(__name__)
READY_TIMEOUT = 2.0  # seconds; a load balancer's health check waits about this long


class Backend:
    def __init__(self, settings: Settings, engine: AsyncEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_engine(settings.database_url)
        self.sessionmaker = create_sessionmaker(self.engine)
        self.media = MediaStore(settings.media_dir)
        self.transcriber = Transcriber(
            settings.transcribe_model,
            model_dir=settings.model_dir,
            workers=settings.transcribe_workers,
            threads=settings.transcribe_threads,
            queue=settings.transcribe_queue,
        )
        self.categories: tuple[Category, ...] = load_categories(settings.categories_file)
        self.categories_by_key = {c.key: c for c in self.categories}
        self.wilayah = WilayahIndex.from_rows(())
        self.places = Places.empty()
        self.planning_year = settings.planning_year or date.today().year + 1
        self.bot_username: str | None = None  # set by the chat channel once it knows it
        self.passwords = Passwords(settings.login_hash_concurrency)
        self.limits = Limits.from_settings(settings)
        self.logins = Logins(self.unit, self.passwords, settings.login_failure_delay)

    async def start(self) -> None:
        """Load what every unit of work reads: the village index of the region."""
        async with self.sessionmaker() as session:
            self.wilayah = await index_from_db(session)
            opd_codes = set(await session.scalars(select(Opd.code)))
        self.places = await load_places(self.wilayah)  # boundaries of the villages served
        unknown = check_category_opds(self.categories, opd_codes)
        if opd_codes and unknown:
            # Their usulan would wait in no OPD's queue: the deployment's mapping needs fixing.
            log.warning("categories pointing at no known OPD: %s", ", ".join(unknown))
        if len(self.wilayah) == 0:
            log.warning(
                "no desa/kelurahan loaded: run `musrenbot wilayah load %s`", self.settings.region
            )

    async def close(self) -> None:
        self.transcriber.close()
        await self.engine.dispose()

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Services]:
        """One transaction. A database that does not answer surfaces as `Unavailable`, so
        every edge can say "try again" instead of "done" or "wrong"."""
        try:
            async with self.sessionmaker() as session, session.begin():
                yield Services(session, self)
        except Unavailable:
            raise
        except Exception as error:
            if is_unavailable(error):
                raise Unavailable(f"database unavailable: {type(error).__name__}") from error
            raise

    async def ready(self) -> bool:
        """Does the database answer a trivial query within a couple of seconds?"""
        try:
            async with asyncio.timeout(READY_TIMEOUT), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001 - any failure means "not ready"
            log.warning("database not ready: %s", type(error).__name__)
            return False
        return True


class Services:
    """The use cases, bound to one transaction. Returns plain data, never ORM objects."""

    def __init__(self, session: AsyncSession, backend: Backend) -> None:
        self.session = session  # for savepoints around independent steps (bulk decisions)
        self.users = UserService(session)
        self.conversations = ConversationService(session)
        self.updates = UpdateLog(session)
        self.intake = IntakeService(
            session,
            wilayah=backend.wilayah,
            categories=backend.categories_by_key,
            planning_year=backend.planning_year,
        )
        self.outbox = Outbox(session, backend.settings.telegram_alert_groups)
        self.alerts = AlertService(session, self.outbox)
        self.delivery = DeliveryService(
            session, timedelta(seconds=backend.settings.delivery_lease_seconds)
        )
        self.throttle = Throttle(session, backend.limits)
        self.security = SecurityLog(session)
        self.officials = OfficialService(
            session,
            wilayah=backend.wilayah,
            throttle=self.throttle,
            security=self.security,
            passwords=backend.passwords,
            token_ttl=timedelta(days=backend.settings.token_days),
        )
        self.workflow = WorkflowService(
            session, self.outbox, backend.wilayah, backend.categories_by_key
        )
        self.queues = QueueService(session)
        self.public = PublicService(session)
        self.rembuk = RembukService(session, self.outbox)
        self.support = SupportService(session, self.workflow)
        self.public_url = backend.settings.public_url
        self.wilayah = backend.wilayah
        self.places = backend.places
        self.categories = backend.categories
        self.media = backend.media
        self.planning_year = backend.planning_year
        self.timezone = backend.settings.timezone  # the region's, for "hari ini"
        self.stage_deadlines = backend.settings.stage_deadlines
