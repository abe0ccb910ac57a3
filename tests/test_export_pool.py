"""The workbook process (XLSX exports are built outside the event loop) ends with the service
(issue 8, defect 12): a stopped service leaves no process of its own behind."""

from __future__ import annotations

import multiprocessing

import httpx

from backend.services.officials import Role
from backend.services.wiring import Backend
from bot.asgi import create_app
from tests.officials import MEDAN_KOTA, official


async def test_the_export_process_is_gone_once_the_service_has_stopped(backend: Backend) -> None:
    camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    app = create_app(backend.settings, backend)  # no Telegram token: the API alone
    before = set(multiprocessing.active_children())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            xlsx = await http.get(
                "/api/v1/queues/kecamatan/export.xlsx",
                headers={"Authorization": f"Bearer {camat.token}"},
            )
        assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
        workers = set(multiprocessing.active_children()) - before
        assert workers and all(p.is_alive() for p in workers)  # the pool serves the export
    assert not any(p.is_alive() for p in workers)
    assert not set(multiprocessing.active_children()) & workers
