"""Server-rendered pages, by audience: the public pages, signing in, the officials' desk and
Bappeda's administration. They work over the same services and scope checks as the API."""

from __future__ import annotations

from fastapi import APIRouter

from backend.api.dashboard import admin, desk, public, sessions

router = APIRouter(include_in_schema=False)
for part in (public, sessions, desk, admin):
    router.include_router(part.router)
