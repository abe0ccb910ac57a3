"""People who talk to the bot: who they are on a channel, their language, consent, reachability."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.storage.models import (
    ChannelIdentity,
    Conversation,
    Notification,
    Official,
    Support,
    User,
    Usulan,
    UsulanVoice,
    utcnow,
)
from backend.storage.upsert import insert_ignoring_duplicates

log = logging.getLogger(__name__)

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"


def language_from_hint(code: str | None) -> str:
    """Telegram's IETF tag -> a language we speak; Indonesian unless the person uses English."""
    if code and code.lower().split("-")[0] == "en":
        return "en"
    return DEFAULT_LANGUAGE


@dataclass(frozen=True)
class UserView:
    id: int
    language: str
    consented: bool
    reachable: bool
    consent_at: datetime | None = None
    notifications_muted: bool = False


def _view(user: User) -> UserView:
    return UserView(
        id=user.id,
        language=user.language,
        consented=user.consent_at is not None,
        reachable=user.reachable,
        consent_at=user.consent_at,
        notifications_muted=user.notifications_muted,
    )


@dataclass(frozen=True)
class Identity:
    """Who a channel's payload names: the account's id, and the chat to answer in."""

    external_id: str
    chat_id: str


class UserService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _find(self, channel: str, external_id: str) -> User | None:
        return await self.session.scalar(
            select(User).where(User.channel == channel, User.external_id == external_id)
        )

    async def find(self, channel: str, external_id: str) -> UserView | None:
        """The user, without creating one (a look before costly work)."""
        user = await self._find(channel, external_id)
        return _view(user) if user is not None else None

    async def get_or_create(
        self,
        *,
        channel: str,
        external_id: str,
        chat_id: str,
        language_hint: str | None,
    ) -> UserView:
        user = await self._find(channel, external_id)
        if user is None:
            user = await self._insert(channel, external_id, chat_id, language_hint)
        elif not user.reachable:
            # A message from them proves the chat is open again.
            user.reachable = True
            user.reachability_changed_at = utcnow()
        return _view(user)

    async def identify(
        self,
        channel: str,
        ids: Mapping[str, str | None],
        *,
        chat_id: str | None,
        language_hint: str | None = None,
    ) -> Identity:
        """The account of the person a payload names by any of several ids (kind -> value,
        in order of preference; None where the payload lacks one). A new person is created
        under the first id present; a known one gains the ids not seen before, and their chat
        id follows the newest one given. Raises ValueError when no id is present."""
        present = {kind: value for kind, value in ids.items() if value}
        if not present:
            raise ValueError("no id to identify the person by")
        found = (
            await self.session.execute(
                select(ChannelIdentity.user_id, ChannelIdentity.kind, ChannelIdentity.value).where(
                    ChannelIdentity.channel == channel,
                    or_(*(and_(ChannelIdentity.kind == k, ChannelIdentity.value == v)
                          for k, v in present.items())),
                )
            )
        ).all()  # fmt: skip
        owners = sorted({row.user_id for row in found})
        if len(owners) > 1:
            # Met first under each id separately: the account met first keeps the conversation.
            log.warning("one %s person known as %d users; using the first", channel, len(owners))
        user = await self.session.get(User, owners[0]) if owners else None
        if user is None:
            first = next(iter(present.values()))
            user = await self._create(channel, first, chat_id or "", language_hint)
        if {(row.kind, row.value) for row in found} != set(present.items()):
            rows = [
                {"channel": channel, "kind": kind, "value": value, "user_id": user.id}
                for kind, value in present.items()
            ]
            keys = ("channel", "kind", "value")
            await insert_ignoring_duplicates(self.session, ChannelIdentity, rows, keys)
        if chat_id and user.chat_id != chat_id:
            user.chat_id = chat_id
        return Identity(user.external_id, user.chat_id)

    async def _create(
        self, channel: str, external_id: str, chat_id: str, language_hint: str | None
    ) -> User:
        existing = await self._find(channel, external_id)
        if existing is not None:
            return existing
        return await self._insert(channel, external_id, chat_id, language_hint)

    async def _insert(
        self, channel: str, external_id: str, chat_id: str, language_hint: str | None
    ) -> User:
        user = User(
            channel=channel,
            external_id=external_id,
            chat_id=chat_id,
            language=language_from_hint(language_hint),
            reachable=True,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(user)
        except IntegrityError:  # the same person's first two messages raced
            raced = await self._find(channel, external_id)
            assert raced is not None
            return raced
        return user

    async def set_language(self, user_id: int, language: str) -> None:
        if language not in LANGUAGES:
            raise ValueError(language)
        await self.session.execute(update(User).where(User.id == user_id).values(language=language))

    async def record_consent(self, user_id: int, display_name: str | None = None) -> None:
        """Consent given: only now is the person's name kept (for the village's records)."""
        await self.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(consent_at=utcnow(), display_name=display_name)
        )

    async def set_reachable(self, channel: str, external_id: str, reachable: bool) -> bool:
        """Record a block/unblock from the channel; returns False for a person we never met."""
        result = await self.session.execute(
            update(User)
            .where(User.channel == channel, User.external_id == external_id)
            .values(reachable=reachable, reachability_changed_at=utcnow())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def erase_personal_data(self, user_id: int) -> list[str]:
        """UU PDP: forget who this person is. Their usulan stay in the plan, without a name.

        The row stays (events point at it) but no longer says who it was; a later message
        from the same account starts afresh as a new user. Their recorded voice is theirs
        too: the notes' rows lose the recording (the transcript stays, marked as one), and
        the hashes returned are the files the caller removes once this has committed.
        """
        own = select(Usulan.id).where(Usulan.submitter_id == user_id)
        voices = list(
            await self.session.scalars(
                select(UsulanVoice.sha256).where(
                    UsulanVoice.usulan_id.in_(own), UsulanVoice.sha256 != ""
                )
            )
        )
        await self.session.execute(
            update(UsulanVoice).where(UsulanVoice.usulan_id.in_(own)).values(sha256="", bytes=0)
        )
        await self.session.execute(
            update(Usulan)
            .where(Usulan.submitter_id == user_id)
            .values(submitter_name=None, submitter_phone=None)
        )
        await self.session.execute(delete(Conversation).where(Conversation.user_id == user_id))
        await self.session.execute(
            delete(ChannelIdentity).where(ChannelIdentity.user_id == user_id)
        )
        # News not yet delivered could never reach an erased account; what was sent stays as
        # the record that it was.
        await self.session.execute(
            delete(Notification).where(
                Notification.user_id == user_id, Notification.sent_at.is_(None)
            )
        )
        await self.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(
                external_id=f"erased:{user_id}",
                chat_id="",
                display_name=None,
                phone=None,
                consent_at=None,
                reachable=False,
                reachability_changed_at=utcnow(),
            )
        )
        return voices

    async def personal_data(self, user_id: int) -> dict[str, Any]:
        """UU PDP: everything held about this person, as plain JSON-ready data."""
        user = await self.session.get(User, user_id)
        if user is None:
            return {}
        submitted = await self.session.scalars(
            select(Usulan).where(Usulan.submitter_id == user_id).order_by(Usulan.id)
        )
        backed = await self.session.execute(
            select(Usulan.code, Support.created_at)
            .join(Support, Support.usulan_id == Usulan.id)
            .where(Support.user_id == user_id)
            .order_by(Support.created_at)
        )
        messages = await self.session.scalars(
            select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)
        )
        roles = await self.session.scalars(select(Official).where(Official.user_id == user_id))
        voices = await self.session.execute(
            select(Usulan.code, UsulanVoice)
            .join(UsulanVoice, UsulanVoice.usulan_id == Usulan.id)
            .where(Usulan.submitter_id == user_id)
            .order_by(UsulanVoice.id)
        )
        draft = await self.session.get(Conversation, user_id)
        return {
            "profile": {
                "channel": user.channel,
                "account": user.external_id,
                "name": user.display_name,
                "phone": user.phone,
                "language": user.language,
                "first_seen": _iso(user.created_at),
                "consent_given": _iso(user.consent_at),
                "notifications_muted": user.notifications_muted,
            },
            "usulan": [_own_usulan(row) for row in submitted],
            "support": [{"code": code, "since": _iso(at)} for code, at in backed.all()],
            "notifications": [
                {"kind": n.template, "state": n.state, "created": _iso(n.created_at),
                 "sent": _iso(n.sent_at)}
                for n in messages
            ],  # fmt: skip
            "official_roles": [
                {"role": o.role, "wilayah": o.wilayah_code, "opd": o.opd_code,
                 "since": _iso(o.granted_at), "revoked": _iso(o.revoked_at)}
                for o in roles
            ],  # fmt: skip
            "voice_notes": [
                {"code": code, "field": v.field, "seconds": v.seconds, "transcript": v.transcript,
                 "corrected": v.edited, "recording_kept": bool(v.sha256)}
                for code, v in voices.all()
            ],  # fmt: skip
            "draft": ({"step": draft.state, **(draft.data or {})} if draft is not None else None),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _own_usulan(row: Usulan) -> dict[str, Any]:
    return {
        "code": row.code,
        "submitted": _iso(row.created_at),
        "desa_code": row.desa_code,
        "category": row.category,
        "permasalahan": row.permasalahan,
        "usulan": row.usulan,
        "volume": str(row.volume) if row.volume is not None else None,
        "unit": row.unit,
        "address": {"dusun": row.dusun, "rt": row.rt, "rw": row.rw, "street": row.street},
        "location": (
            [row.latitude, row.longitude] if row.latitude is not None else None
        ),
        "submitter_name": row.submitter_name,
        "submitter_phone": row.submitter_phone,
        "stage": row.stage,
        "decision": row.decision,
    }
