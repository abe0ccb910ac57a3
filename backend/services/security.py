"""The security audit log: account lockouts and token revocations, for the Bappeda's admins.

Never a password, phone or name; a client address only as its network (/24 or /48).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from ipaddress import ip_address, ip_network

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.storage.models import SecurityEvent, utcnow

LOCKED = "login_locked"
TOKEN_REVOKED = "token_revoked"  # noqa: S105 - an event kind, no secret


def network_of(address: str | None) -> str | None:
    """Enough to see a pattern (one network hammering), not to name a household."""
    if not address:
        return None
    try:
        parsed = ip_address(address)
    except ValueError:
        return address[:64]
    prefix = 24 if parsed.version == 4 else 48
    return str(ip_network(f"{parsed}/{prefix}", strict=False))


@dataclass(frozen=True)
class SecurityEventView:
    id: int
    at: datetime
    kind: str
    user_id: int | None
    username: str | None
    client: str | None
    detail: str | None


class SecurityLog:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self,
        kind: str,
        *,
        user_id: int | None = None,
        username: str | None = None,
        client: str | None = None,
        detail: str | None = None,
    ) -> None:
        await self.session.execute(
            insert(SecurityEvent).values(
                at=utcnow(),
                kind=kind,
                user_id=user_id,
                username=username[:64] if username else None,
                client=network_of(client),
                detail=detail[:200] if detail else None,
            )
        )

    async def recent(self, limit: int = 100, kind: str | None = None) -> list[SecurityEventView]:
        query = select(SecurityEvent).order_by(SecurityEvent.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(SecurityEvent.kind == kind)
        rows = await self.session.scalars(query)
        return [
            SecurityEventView(r.id, r.at, r.kind, r.user_id, r.username, r.client, r.detail)
            for r in rows
        ]
