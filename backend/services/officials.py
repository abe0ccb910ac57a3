"""Officials: roles and their scope, single-use invite codes, API tokens and logins."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain import WilayahLevel
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from backend.services.intake import CODE_ALPHABET
from backend.services.passwords import Passwords
from backend.services.security import LOCKED, TOKEN_REVOKED, SecurityLog
from backend.services.throttle import Throttle
from backend.services.wilayah import WilayahIndex
from backend.storage.models import ApiToken, Credential, Invite, Official, Opd, User, utcnow

OPEN311 = "open311"
LAST_USED_GRANULARITY = timedelta(minutes=5)
INVITE_TTL = timedelta(days=7)
LOGIN_TOKEN_TTL = timedelta(hours=12)
DEFAULT_TOKEN_TTL = timedelta(days=90)
LOGIN = "login"


class Role(StrEnum):
    KEPALA_DESA = "kepala_desa"
    OPERATOR_DESA = "operator_desa"
    OPERATOR_KECAMATAN = "operator_kecamatan"
    OPD = "opd"
    ADMIN = "admin"


VILLAGE_ROLES = {Role.KEPALA_DESA, Role.OPERATOR_DESA}


@dataclass(frozen=True)
class Actor:
    """An official acting now: who, in which role, over which wilayah or OPD."""

    user_id: int
    role: Role
    wilayah_code: str | None = None
    opd_code: str | None = None
    official_id: int | None = None
    # The deployment's operator at the command line: acts for no user.
    system: bool = False

    def covers_desa(self, desa_code: str) -> bool:
        """Is this desa inside the actor's wilayah (their desa, kecamatan or kabupaten/kota)?"""
        if self.wilayah_code is None:
            return self.system  # the operator of a deployment serving every region
        return desa_code == self.wilayah_code or desa_code.startswith(self.wilayah_code + ".")


def system_actor(region: str) -> Actor:
    """The command line's actor: a Bappeda admin over the whole region served ("ALL": every
    kabupaten/kota), so the operator passes the same checks as anyone else."""
    return Actor(
        user_id=0, role=Role.ADMIN, wilayah_code=None if region == "ALL" else region, system=True
    )


def require_admin(actor: Actor, refusal: str = "Bappeda admins only") -> None:
    if actor.role != Role.ADMIN:
        raise Forbidden(refusal)


def require_in_region(admin: Actor, wilayah_code: str | None) -> None:
    """An admin acts on the roles and codes of their own kabupaten/kota (OPD ones have none)."""
    if wilayah_code is not None and not admin.covers_desa(wilayah_code):
        raise Forbidden("outside your kabupaten/kota")


def in_region(admin: Actor, column: Any) -> ColumnElement[bool]:
    """SQL: a wilayah column empty (OPD roles) or inside the admin's kabupaten/kota."""
    if admin.wilayah_code is None:
        return true() if admin.system else false()
    scope = admin.wilayah_code
    return or_(column.is_(None), column == scope, column.startswith(scope + "."))


class InviteRefused(Conflict):
    """An invite code that exists but cannot be claimed any more: `used` or `expired`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_invite(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


def new_invite_code() -> str:
    # 12 characters of the tracking-code alphabet: ~59 bits, fits a Telegram deep link.
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))


@dataclass(frozen=True)
class OfficialView:
    id: int
    role: str
    wilayah_code: str | None
    opd_code: str | None
    name: str | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class InviteView:
    id: int
    role: str
    wilayah_code: str | None
    opd_code: str | None
    expires_at: datetime
    claimed: bool
    revoked: bool
    code_hint: str


@dataclass(frozen=True)
class TokenView:
    """An API token, an Open311 key or a login session, never the secret itself."""

    id: int
    user_id: int
    owner: str  # the username, or the client's name for an Open311 key
    kind: str  # "api", "login" or "open311"
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once; only its hash is stored
    id: int
    expires_at: datetime


@dataclass(frozen=True)
class StoredLogin:
    user_id: int
    password_hash: str


def _token_kind(name: str) -> str:
    if name == LOGIN:
        return LOGIN
    return OPEN311 if name.startswith(OPEN311 + ":") else "api"


@dataclass(frozen=True)
class CreatedInvite:
    invite: InviteView
    code: str  # shown once; only its hash is stored


def _invite_view(row: Invite) -> InviteView:
    return InviteView(
        id=row.id,
        role=row.role,
        wilayah_code=row.wilayah_code,
        opd_code=row.opd_code,
        expires_at=row.expires_at,
        claimed=row.claimed_at is not None,
        revoked=row.revoked_at is not None,
        code_hint=row.code_hint,
    )


def _aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; every stored timestamp is UTC.
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class OfficialService:
    def __init__(
        self,
        session: AsyncSession,
        *,
        wilayah: WilayahIndex,
        throttle: Throttle,
        security: SecurityLog,
        passwords: Passwords,
        token_ttl: timedelta = DEFAULT_TOKEN_TTL,
    ) -> None:
        self.session = session
        self.wilayah = wilayah
        self.throttle = throttle
        self.security = security
        self.passwords = passwords
        self.token_ttl = token_ttl

    def _level_of(self, code: str) -> int | None:
        parts = code.split(".")
        if len(parts) == 4 and self.wilayah.get(code) is not None:
            return WilayahLevel.DESA
        if len(parts) == 3 and self.wilayah.kecamatan_name(code) is not None:
            return WilayahLevel.KECAMATAN
        if len(parts) == 2 and self.wilayah.kabkota_name(code) is not None:
            return WilayahLevel.KABKOTA
        return None

    # --- scope --------------------------------------------------------------------------

    async def _check_scope(
        self, role: Role, wilayah_code: str | None, opd_code: str | None
    ) -> None:
        if role == Role.OPD:
            if not opd_code or await self.session.get(Opd, opd_code) is None:
                raise InvalidInput("opd", "unknown OPD code")
            return
        wanted = {
            Role.KEPALA_DESA: WilayahLevel.DESA,
            Role.OPERATOR_DESA: WilayahLevel.DESA,
            Role.OPERATOR_KECAMATAN: WilayahLevel.KECAMATAN,
            Role.ADMIN: WilayahLevel.KABKOTA,
        }[role]
        if not wilayah_code or self._level_of(wilayah_code) != wanted:
            raise InvalidInput(
                "wilayah", f"{role.value} needs a {_LEVEL_NAMES[wanted]} code of this region"
            )

    # --- invites ------------------------------------------------------------------------

    async def create_invite(
        self,
        role: Role,
        *,
        wilayah_code: str | None = None,
        opd_code: str | None = None,
        created_by: Actor,
        ttl: timedelta = INVITE_TTL,
    ) -> CreatedInvite:
        require_admin(created_by, "only a Bappeda admin issues invite codes")
        await self._check_scope(role, wilayah_code, opd_code)
        require_in_region(created_by, wilayah_code if role != Role.OPD else None)
        code = new_invite_code()
        row = Invite(
            code_hash=_digest(code),
            code_hint=code[-4:],
            role=role.value,
            wilayah_code=wilayah_code if role != Role.OPD else None,
            opd_code=opd_code if role == Role.OPD else None,
            created_by=None if created_by.system else created_by.user_id,
            expires_at=utcnow() + ttl,
        )
        self.session.add(row)
        await self.session.flush()
        return CreatedInvite(invite=_invite_view(row), code=code)

    async def list_invites(self, actor: Actor) -> list[InviteView]:
        """The admin's kabupaten/kota's invites (and OPD ones), newest first."""
        require_admin(actor)
        rows = await self.session.scalars(
            select(Invite)
            .where(in_region(actor, Invite.wilayah_code))
            .order_by(Invite.id.desc())
            .limit(500)
        )
        return [_invite_view(r) for r in rows]

    async def revoke_invite(self, invite_id: int, actor: Actor) -> InviteView:
        require_admin(actor, "only a Bappeda admin revokes invite codes")
        row = await self.session.get(Invite, invite_id)
        if row is None:
            raise NotFound("no such invite")
        require_in_region(actor, row.wilayah_code)
        if row.claimed_at is not None:
            raise Conflict("invite already claimed; revoke the official instead")
        row.revoked_at = row.revoked_at or utcnow()
        return _invite_view(row)

    async def claim(self, user_id: int, code_text: str) -> Actor:
        code = normalise_invite(code_text)
        row = await self.session.scalar(select(Invite).where(Invite.code_hash == _digest(code)))
        if row is None or row.revoked_at is not None:
            raise NotFound("unknown invite code")
        if row.claimed_at is not None:
            raise InviteRefused("used", "invite code already used")
        if _aware(row.expires_at) < utcnow():
            raise InviteRefused("expired", "invite code expired")
        # Single use even when two people race for the same code.
        result = await self.session.execute(
            update(Invite)
            .where(Invite.id == row.id, Invite.claimed_at.is_(None))
            .values(claimed_at=utcnow(), claimed_by=user_id)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise InviteRefused("used", "invite code already used")
        official = Official(
            user_id=user_id,
            role=row.role,
            wilayah_code=row.wilayah_code,
            opd_code=row.opd_code,
            invite_id=row.id,
        )
        self.session.add(official)
        await self.session.flush()
        return _actor(official)

    async def grant(
        self, user_id: int, role: Role, *, wilayah_code: str | None = None,
        opd_code: str | None = None, granted_by: Actor,
    ) -> Actor:  # fmt: skip
        """Give a role directly (command line, first admin of a deployment)."""
        require_admin(granted_by, "only a Bappeda admin grants roles")
        await self._check_scope(role, wilayah_code, opd_code)
        require_in_region(granted_by, wilayah_code if role != Role.OPD else None)
        official = Official(user_id=user_id, role=role.value, wilayah_code=wilayah_code,
                            opd_code=opd_code)  # fmt: skip
        self.session.add(official)
        await self.session.flush()
        return _actor(official)

    async def opd_name(self, opd_code: str) -> str | None:
        row = await self.session.get(Opd, opd_code)
        return row.name if row else None

    async def list_opds(self) -> list[tuple[str, str]]:
        rows = await self.session.execute(select(Opd.code, Opd.name).order_by(Opd.code))
        return [(code, name) for code, name in rows.all()]

    async def list_officials(self, actor: Actor) -> list[OfficialView]:
        """The officials of the admin's kabupaten/kota (and OPD staff)."""
        require_admin(actor)
        rows = await self.session.execute(
            select(Official, User.display_name)
            .join(User, User.id == Official.user_id)
            .where(in_region(actor, Official.wilayah_code))
            .order_by(Official.id)
        )
        return [
            OfficialView(o.id, o.role, o.wilayah_code, o.opd_code, name, o.revoked_at)
            for o, name in rows.all()
        ]

    async def revoke_official(self, official_id: int, actor: Actor) -> None:
        require_admin(actor)
        row = await self.session.get(Official, official_id)
        if row is None:
            raise NotFound("no such official")
        require_in_region(actor, row.wilayah_code)
        row.revoked_at = row.revoked_at or utcnow()

    async def actor_for(self, user_id: int) -> Actor | None:
        """The person's active role; the most recently granted one when they hold several."""
        row = await self.session.scalar(
            select(Official)
            .where(Official.user_id == user_id, Official.revoked_at.is_(None))
            .order_by(Official.id.desc())
            .limit(1)
        )
        return _actor(row) if row else None

    # --- API tokens and Open311 keys --------------------------------------------------------

    async def issue_token(
        self, user_id: int, name: str, ttl: timedelta | None = None
    ) -> IssuedToken:
        """A new bearer token; it expires after `ttl` (default: MUSRENBOT_TOKEN_DAYS)."""
        token = "mrb_" + secrets.token_urlsafe(32)
        expires_at = utcnow() + (ttl or self.token_ttl)
        row = ApiToken(
            user_id=user_id, token_hash=_digest(token), name=name[:80], expires_at=expires_at
        )
        self.session.add(row)
        await self.session.flush()
        return IssuedToken(token, row.id, expires_at)

    async def create_token(self, user_id: int, name: str, ttl: timedelta | None = None) -> str:
        return (await self.issue_token(user_id, name, ttl)).token

    async def authenticate(self, token: str) -> Actor:
        row = await self.session.scalar(
            select(ApiToken).where(ApiToken.token_hash == _digest(token))
        )
        if row is None or row.revoked_at is not None:
            raise Unauthenticated("invalid token")
        if row.expires_at is not None and _aware(row.expires_at) < utcnow():
            raise Unauthenticated("token expired")
        actor = await self.actor_for(row.user_id)
        if actor is None:
            raise Unauthenticated("this account holds no active role")
        now = utcnow()
        # Note the use at most every few minutes: a write on every read would cost each API
        # request an UPDATE and a WAL flush.
        if row.last_used_at is None or _aware(row.last_used_at) < now - LAST_USED_GRANULARITY:
            row.last_used_at = now
        return actor

    async def issue_client_key(self, client: str) -> IssuedToken:
        """An API key for an Open311 client application (FixMyStreet and the like)."""
        name = client.strip()[:60]
        if not name:
            raise InvalidInput("client", "a client name is required")
        external = f"client:{name.lower()}"
        user_id = await self.session.scalar(
            select(User.id).where(User.channel == OPEN311, User.external_id == external)
        )
        if user_id is None:
            user = User(channel=OPEN311, external_id=external, chat_id="", language="id",
                        display_name=name, reachable=False)  # fmt: skip
            self.session.add(user)
            await self.session.flush()
            user_id = user.id
        return await self.issue_token(user_id, f"{OPEN311}:{name}")

    async def create_client_key(self, client: str) -> str:
        return (await self.issue_client_key(client)).token

    async def authenticate_client(self, key: str) -> int:
        """The user id of the Open311 client holding this key."""
        row = await self.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(key)))
        if row is None or row.revoked_at is not None or not row.name.startswith(OPEN311 + ":"):
            raise Forbidden("invalid api_key")
        if row.expires_at is not None and _aware(row.expires_at) < utcnow():
            raise Forbidden("api_key expired")
        row.last_used_at = utcnow()
        return row.user_id

    async def revoke_token(self, token: str) -> None:
        await self.session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    async def list_tokens(self, actor: Actor, username: str | None = None) -> list[TokenView]:
        """Tokens the actor may see: an admin those of the kabupaten/kota, anyone else their
        own. Newest first."""
        owner = await self.user_by_username(username) if username else None
        return await self._token_views(actor, owner=owner)

    async def revoke_token_id(self, token_id: int, actor: Actor) -> TokenView:
        """Revoke one token by id: an admin any of the kabupaten/kota, anyone else their own."""
        found = await self._token_views(actor, token_id=token_id)
        row = await self.session.get(ApiToken, token_id) if found else None
        if row is None:
            raise NotFound("no such token")  # not even whether another's exists
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            by = "the command line" if actor.system else f"user {actor.user_id}"
            await self.security.record(
                TOKEN_REVOKED, user_id=row.user_id, detail=f"token {row.id} revoked by {by}"
            )
        return (await self._token_views(actor, token_id=token_id))[0]

    async def _token_views(
        self, actor: Actor, *, owner: int | None = None, token_id: int | None = None
    ) -> list[TokenView]:
        query = (
            select(ApiToken, Credential.username, User.display_name)
            .join(User, User.id == ApiToken.user_id)
            .outerjoin(Credential, Credential.user_id == ApiToken.user_id)
            .order_by(ApiToken.id.desc())
            .limit(1000)
        )
        if owner is not None:
            query = query.where(ApiToken.user_id == owner)
        if token_id is not None:
            query = query.where(ApiToken.id == token_id)
        if actor.role != Role.ADMIN:
            query = query.where(ApiToken.user_id == actor.user_id)
        rows = (await self.session.execute(query)).all()
        if actor.role == Role.ADMIN:
            scopes = await self._wilayah_of({t.user_id for t, _, _ in rows})
            rows = [r for r in rows if _within(actor, scopes.get(r[0].user_id))]
        return [
            TokenView(
                id=t.id, user_id=t.user_id, owner=username or name or f"user {t.user_id}",
                kind=_token_kind(t.name), name=t.name, created_at=t.created_at,
                expires_at=t.expires_at, last_used_at=t.last_used_at, revoked_at=t.revoked_at,
            )  # fmt: skip
            for t, username, name in rows
        ]

    async def _wilayah_of(self, user_ids: set[int]) -> dict[int, str | None]:
        """Each user's most recent role's wilayah (None: an OPD, a client, no role)."""
        if not user_ids:
            return {}
        rows = await self.session.execute(
            select(Official.user_id, Official.wilayah_code)
            .where(Official.user_id.in_(user_ids))
            .order_by(Official.id)
        )
        return {user_id: wilayah for user_id, wilayah in rows.all()}

    # --- passwords and logins -------------------------------------------------------------

    async def set_password(self, user_id: int, username: str, password: str) -> None:
        if len(password) < 10:
            raise InvalidInput("password", "at least 10 characters")
        taken = await self.session.scalar(
            select(Credential).where(Credential.username == username.lower())
        )
        if taken is not None and taken.user_id != user_id:
            raise Conflict("username taken")
        row = await self.session.get(Credential, user_id)
        hashed = await self.passwords.hash(password)
        if row is None:
            self.session.add(
                Credential(user_id=user_id, username=username.lower(), password_hash=hashed)
            )
        else:
            row.username = username.lower()
            row.password_hash = hashed

    async def login_gate(self, username: str, client: str) -> StoredLogin | None:
        """Before any hashing: refuse a locked account, or a client that failed too often
        (`TooManyAttempts`). Then the stored hash, None for an unknown username."""
        name = username.lower()
        await self.throttle.check(self.throttle.limits.lockout, name)
        await self.throttle.check(self.throttle.limits.login_address, client)
        row = await self.session.scalar(select(Credential).where(Credential.username == name))
        return StoredLogin(row.user_id, row.password_hash) if row else None

    async def login_failed(self, username: str, client: str, user_id: int | None) -> None:
        """Count a wrong password (or unknown username); lock the account at the limit."""
        limits = self.throttle.limits
        name = username.lower()
        await self.throttle.hit(limits.login_address, client)
        await self.throttle.hit(limits.login_username, name)
        failures = await self.throttle.count(limits.login_username, name)
        if failures < limits.login_username.count:
            return
        if await self.throttle.retry_after(limits.lockout, name) is None:
            await self.throttle.hit(limits.lockout, name)
            minutes = int(limits.login_username.window.total_seconds() // 60)
            await self.security.record(
                LOCKED,
                user_id=user_id,
                username=name if user_id is not None else None,  # a typo may be a password
                client=client,
                detail=f"{failures} failed logins in {minutes} min; locked for "
                f"{int(limits.lockout.window.total_seconds() // 60)} min",
            )

    async def login_succeeded(self, user_id: int, username: str) -> str:
        """The right password: a 12-hour token, and the username's failures forgotten."""
        if await self.actor_for(user_id) is None:
            raise Unauthenticated("this account holds no active role")
        await self.throttle.clear(self.throttle.limits.login_username, username.lower())
        return await self.create_token(user_id, LOGIN, LOGIN_TOKEN_TTL)

    async def user_by_username(self, username: str) -> int:
        row = await self.session.scalar(
            select(Credential).where(Credential.username == username.lower())
        )
        if row is None:
            raise NotFound(f"no official with username {username}")
        return row.user_id

    async def official_user(self, name: str) -> int:
        """A user row for an official enrolled outside any chat (command line, API)."""
        user = User(channel="local", external_id=f"official:{secrets.token_hex(6)}", chat_id="",
                    language="id", display_name=name[:120], reachable=False)  # fmt: skip
        self.session.add(user)
        await self.session.flush()
        return user.id


_LEVEL_NAMES = {
    WilayahLevel.DESA: "desa/kelurahan",
    WilayahLevel.KECAMATAN: "kecamatan",
    WilayahLevel.KABKOTA: "kabupaten/kota",
}


def _within(admin: Actor, wilayah_code: str | None) -> bool:
    """An admin sees the tokens of OPD staff, clients and roles inside their kabupaten/kota."""
    return wilayah_code is None or admin.covers_desa(wilayah_code)


def _actor(row: Official) -> Actor:
    return Actor(
        user_id=row.user_id,
        role=Role(row.role),
        wilayah_code=row.wilayah_code,
        opd_code=row.opd_code,
        official_id=row.id,
    )
