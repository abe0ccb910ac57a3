"""Schemathesis against the running service's OpenAPI document, on SQLite and PostgreSQL.

A real uvicorn server on a free loopback port serves the API; every documented operation is
called with generated valid and invalid input, once without a token and once as a Bappeda
admin. No answer may be a server error, and every answer must be what the document says:
a declared status, content type, body schema and headers.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
import uvicorn
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from backend.services.officials import Role
from bot.asgi import create_app
from tests.conftest import _run_in_thread, _truncate_postgres, make_settings, start_backend
from tests.officials import MEDAN_KOTA, PASAR_BARU, forward_to_kecamatan, official, submit, warga

MAX_EXAMPLES = 12  # per operation, mode and token: the file stays within a few minutes
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
]


ADMIN = {"username": "bappeda.fuzz", "password": "rahasia-sekali-123"}


@dataclass
class LiveApi:
    base_url: str

    def admin_token(self) -> str:
        """A fresh login: an operation that revokes tokens cannot lock the next one out."""
        answer = httpx.post(f"{self.base_url}/api/v1/auth/token", data=ADMIN)
        answer.raise_for_status()
        return str(answer.json()["access_token"])


async def _seed(backend: Any) -> None:
    """A region with usulan waiting at the desa and kecamatan stages, and an admin."""
    await official(backend, Role.ADMIN, wilayah="12.71", **ADMIN)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    resident = await warga(backend)
    codes = [await submit(backend, resident, n=i) for i in range(4)]
    await forward_to_kecamatan(backend, kepala, codes[:2])


def _serve(url: str, tmp: Path, sock: socket.socket, box: dict[str, Any]) -> None:
    async def main() -> None:
        settings = make_settings(url, tmp)
        backend = await start_backend(settings)
        await _seed(backend)
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings, backend), log_level="warning", access_log=False)
        )
        box["server"] = server
        try:
            await server.serve(sockets=[sock])
        finally:
            await backend.close()

    try:
        asyncio.run(main())
    except BaseException as exc:  # noqa: BLE001 - reported to the waiting test
        box["error"] = exc


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[LiveApi]:
    tmp = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    if request.param == "sqlite":
        shutil.copyfile(sqlite_template, tmp / "db.sqlite3")
        url = f"sqlite+aiosqlite:///{tmp / 'db.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_database")
        _run_in_thread(_truncate_postgres(url))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    box: dict[str, Any] = {}
    thread = threading.Thread(target=_serve, args=(url, tmp, sock, box), daemon=True)
    thread.start()
    for _ in range(3000):
        server = box.get("server")
        if "error" in box or (server is not None and server.started):
            break
        thread.join(0.01)
    if "error" in box:
        raise box["error"]
    assert box["server"].started, "the service did not start"
    try:
        yield LiveApi(f"http://127.0.0.1:{sock.getsockname()[1]}")
    finally:
        box["server"].should_exit = True
        thread.join(30)
        sock.close()


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str], checks: list[Any]) -> None:
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,  # a fixed seed: the same cases on every run
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=checks)

    call()


@pytest.mark.parametrize("with_token", [False, True], ids=["no-token", "admin-token"])
def test_every_operation_answers_as_its_openapi_document_says(
    live_api: LiveApi, with_token: bool
) -> None:
    schema = schemathesis.openapi.from_url(f"{live_api.base_url}/openapi.json")
    checks = [*CHECKS, ignored_auth] if with_token else CHECKS
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        headers = {"Authorization": f"Bearer {live_api.admin_token()}"} if with_token else {}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, headers, checks)
            except hypothesis.errors.Unsatisfiable:
                continue  # nothing in this operation can be made invalid (no parameters)
            except (Exception, BaseExceptionGroup) as exc:  # every operation is tried, all reported
                failures.append(f"{operation.label} ({mode.value}): {exc}"[:3000])
    assert operations >= 15, "the OpenAPI document lost its operations"
    assert failures == [], "\n\n".join(failures)
