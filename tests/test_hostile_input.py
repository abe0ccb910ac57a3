"""Issue 8, defect 9: hostile input gets a 4xx with a reason, never a 500.

One table of inputs, each sent over HTTP to the API on SQLite and on PostgreSQL: NUL bytes,
dates at the calendar's edges with extreme offsets, ids and page numbers beyond 64 bits,
numbers that are not numbers, coordinates off the globe, JSON nested thousands deep and
bodies too large to read.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from backend.api.app import create_api
from backend.api.deps import LOGIN_CSRF_COOKIE, SESSION_COOKIE, csrf_for
from backend.services.officials import Role
from backend.services.wiring import Backend
from tests.officials import MEDAN_KOTA, PASAR_BARU, forward_to_kecamatan, official, submit, warga

NESTED = "[" * 100_000 + "]" * 100_000
DEEP = "[" * 900 + "]" * 900  # parses, then must not be echoed back in the refusal
BIG = 1024 * 1024 + 1
CODE = "{code}"  # an usulan waiting at the kecamatan stage
OPEN311 = {  # a valid Open311 request but for the field a case replaces
    "service_code": "jalan",
    "attribute[desa]": PASAR_BARU,
    "description": "Pengaspalan jalan lingkungan",
    "attribute[permasalahan]": "Jalan rusak berlubang dan tergenang",
}


@dataclass(frozen=True)
class Hostile:
    name: str
    method: str
    path: str
    reason: str  # what the body must say
    login: bool = False  # as a Bappeda admin (bearer token and dashboard session)
    form: dict[str, str] | None = None
    json: Any = None
    raw: str | None = None  # a JSON body sent as is
    extra: dict[str, Any] = field(default_factory=dict)


def _change(changes: str) -> str:
    return '{"stage": "kecamatan", "decision": "diterima_dengan_perubahan", "changes": ' + (
        changes + "}"
    )


def _decision(**form: str) -> dict[str, str]:
    return {"stage": "kecamatan", "decision": "diterima_dengan_perubahan", **form}


def _too_big() -> Any:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(BIG // 65536 + 1):
            yield b"x" * 65536

    return chunks()


Q = "/api/v1/queues/kecamatan"
OPEN = "/open311/v2/requests.json"
DECIDE = f"/api/v1/usulan/{CODE}/decision"
DASH = f"/dashboard/usulan/{CODE}/decision"
CASES = [
    # without login
    Hostile("open311 service_code NUL", "GET", f"{OPEN}?service_code=a%00b", "NUL"),
    Hostile(
        "api login username NUL",
        "POST",
        "/api/v1/auth/token",
        "NUL",
        form={"username": "a\x00b", "password": "x"},
    ),
    Hostile(
        "dashboard login username NUL",
        "POST",
        "/dashboard/login",
        "NUL",
        form={"username": "a\x00b", "password": "x", "csrf": "n"},
    ),
    Hostile(
        "open311 start_date year 1 +23:59",
        "GET",
        f"{OPEN}?start_date=0001-01-01T00:00:00%2B23:59",
        "years 1-9999",
    ),
    Hostile(
        "open311 end_date year 9999 -23:59",
        "GET",
        f"{OPEN}?end_date=9999-12-31T23:59:59-23:59",
        "years 1-9999",
    ),
    Hostile(
        "open311 start_date year 9999 -23:59",
        "GET",
        f"{OPEN}?start_date=9999-12-31T23:59:59-23:59",
        "years 1-9999",
    ),
    Hostile(
        "open311 end_date year 1 +23:59",
        "GET",
        f"{OPEN}?end_date=0001-01-01T00:00:00%2B23:59",
        "years 1-9999",
    ),
    Hostile(
        "open311 volume NaN",
        "POST",
        OPEN,
        "attribute[volume]",
        form={**OPEN311, "attribute[volume]": "NaN"},
    ),
    Hostile(
        "open311 volume Infinity",
        "POST",
        OPEN,
        "attribute[volume]",
        form={**OPEN311, "attribute[volume]": "Infinity"},
    ),
    Hostile(
        "open311 volume 1e13",
        "POST",
        OPEN,
        "attribute[volume]",
        form={**OPEN311, "attribute[volume]": "1e13"},
    ),
    Hostile(
        "open311 volume 999999999999.999",
        "POST",
        OPEN,
        "attribute[volume]",
        form={**OPEN311, "attribute[volume]": "999999999999.999"},
    ),
    Hostile(
        "open311 lat not a number",
        "POST",
        OPEN,
        "lat: not a number",
        form={**OPEN311, "lat": "abc", "long": "98.6"},
    ),
    Hostile(
        "open311 lat beyond 90",
        "POST",
        OPEN,
        "lat: a number from -90 to 90",
        form={**OPEN311, "lat": "95", "long": "98.6"},
    ),
    Hostile(
        "open311 long beyond 180",
        "POST",
        OPEN,
        "long: a number from -180 to 180",
        form={**OPEN311, "lat": "3.5", "long": "1e400"},
    ),
    Hostile(
        "open311 beneficiaries beyond 64 bits",
        "POST",
        OPEN,
        "attribute[penerima_manfaat]",
        form={**OPEN311, "attribute[penerima_manfaat]": "9" * 23},
    ),
    Hostile(
        "body over 1 MB by Content-Length",
        "POST",
        "/api/v1/auth/token",
        "too large",
        extra={"content": b"x" * BIG, "headers": {"content-type": "text/plain"}},
    ),
    Hostile(
        "body over 1 MB streamed",
        "POST",
        "/api/v1/outbox/retry",
        "too large",
        extra={"content": "stream", "headers": {"content-type": "application/json"}},
    ),
    Hostile(
        "webhook body over 1 MB",
        "POST",
        "/telegram/webhook",
        "too large",
        extra={"content": b"{" * BIG, "headers": {"content-type": "application/json"}},
    ),
    Hostile(
        "JSON nested 100000 deep", "POST", "/api/v1/outbox/retry", "parsing the body", raw=NESTED
    ),
    # as a Bappeda admin
    Hostile("queue q NUL", "GET", f"{Q}?q=a%00b", "NUL", login=True),
    Hostile("queue kecamatan NUL", "GET", f"{Q}?kecamatan=a%00b", "NUL", login=True),
    Hostile("queue desa NUL", "GET", f"{Q}?desa=a%00b", "NUL", login=True),
    Hostile("queue opd NUL", "GET", f"{Q}?opd=a%00b", "NUL", login=True),
    Hostile("queue category NUL", "GET", f"{Q}?category=a%00b", "NUL", login=True),
    Hostile("export desa NUL", "GET", f"{Q}/export.csv?desa=a%00b", "NUL", login=True),
    Hostile("queue page beyond 64 bits", "GET", f"{Q}?page={'9' * 20}", "page", login=True),
    Hostile("queue page at 2**63-1", "GET", f"{Q}?page={2**63 - 1}", "page", login=True),
    Hostile(
        "invite id beyond 64 bits", "DELETE", f"/api/v1/invites/{'9' * 20}", "invite_id", login=True
    ),
    Hostile(
        "invite id beyond 32 bits", "DELETE", f"/api/v1/invites/{2**31}", "invite_id", login=True
    ),
    Hostile(
        "outbox retry id beyond 64 bits",
        "POST",
        "/api/v1/outbox/retry",
        "ids.0",
        login=True,
        raw='{"ids": [' + "9" * 20 + "]}",
    ),
    Hostile(
        "outbox retry id beyond 32 bits",
        "POST",
        "/api/v1/outbox/retry",
        "ids.0",
        login=True,
        json={"ids": [2**31]},
    ),
    Hostile(
        "outbox retry id false",
        "POST",
        "/api/v1/outbox/retry",
        "ids.0",
        login=True,
        json={"ids": [False]},
    ),
    Hostile(
        "invite opd NUL",
        "POST",
        "/api/v1/invites",
        "control characters",
        login=True,
        json={"role": "opd", "opd_code": "a\x00b"},
    ),
    Hostile(
        "changes.volume NaN",
        "POST",
        DECIDE,
        "changes.volume",
        login=True,
        raw=_change('{"volume": NaN}'),
    ),
    Hostile(
        "changes.volume Infinity",
        "POST",
        DECIDE,
        "changes.volume",
        login=True,
        raw=_change('{"volume": Infinity}'),
    ),
    Hostile(
        "changes.volume 1e13",
        "POST",
        DECIDE,
        "changes.volume",
        login=True,
        raw=_change('{"volume": 1e13}'),
    ),
    Hostile(
        "changes.volume as text",
        "POST",
        DECIDE,
        "changes.volume",
        login=True,
        raw=_change('{"volume": "NaN"}'),
    ),
    Hostile(
        "changes.latitude not a number",
        "POST",
        DECIDE,
        "changes.latitude",
        login=True,
        raw=_change('{"latitude": "abc"}'),
    ),
    Hostile(
        "changes.latitude 1000",
        "POST",
        DECIDE,
        "changes.latitude",
        login=True,
        raw=_change('{"latitude": 1000}'),
    ),
    Hostile(
        "changes.longitude NaN",
        "POST",
        DECIDE,
        "changes.longitude",
        login=True,
        raw=_change('{"longitude": NaN}'),
    ),
    Hostile(
        "changes.street an object",
        "POST",
        DECIDE,
        "changes.street",
        login=True,
        raw=_change('{"street": {"a": 1}}'),
    ),
    Hostile(
        "changes.street nested 900 deep",
        "POST",
        DECIDE,
        "changes.street",
        login=True,
        raw=_change('{"street": ' + DEEP + "}"),
    ),
    Hostile(
        "changes.unit over 32",
        "POST",
        DECIDE,
        "changes.unit",
        login=True,
        raw=_change(json.dumps({"unit": "u" * 100})),
    ),
    Hostile(
        "bulk changes.volume NaN",
        "POST",
        "/api/v1/decisions",
        "changes.volume",
        login=True,
        raw='{"items": [' + _change('{"volume": NaN}').replace("{", '{"code": "X", ', 1) + "]}",
    ),
    Hostile(
        "decision JSON nested 100000 deep",
        "POST",
        DECIDE,
        "parsing the body",
        login=True,
        raw=NESTED,
    ),
    Hostile(
        "dashboard queue q NUL", "GET", "/dashboard/queue/kecamatan?q=a%00b", "NUL", login=True
    ),
    Hostile(
        "dashboard queue page beyond 64 bits",
        "GET",
        f"/dashboard/queue/kecamatan?page={'9' * 20}",
        "1000000",
        login=True,
    ),
    Hostile(
        "dashboard revoke invite beyond 64 bits",
        "POST",
        f"/dashboard/admin/invites/{'9' * 20}/revoke",
        "invite_id",
        login=True,
        form={},
    ),
    Hostile(
        "dashboard invite wilayah NUL",
        "POST",
        "/dashboard/admin/invites",
        "NUL",
        login=True,
        form={"role": "kepala_desa", "wilayah": "a\x00b"},
    ),
    Hostile(
        "dashboard change_volume NaN",
        "POST",
        DASH,
        "999999999999.99",
        login=True,
        form=_decision(change_volume="NaN"),
    ),
    Hostile(
        "dashboard change_volume Infinity",
        "POST",
        DASH,
        "999999999999.99",
        login=True,
        form=_decision(change_volume="Infinity"),
    ),
    Hostile(
        "dashboard change_volume 1e13",
        "POST",
        DASH,
        "999999999999.99",
        login=True,
        form=_decision(change_volume="1e13"),
    ),
    Hostile(
        "dashboard change_unit over 32",
        "POST",
        DASH,
        "at most 32 characters",
        login=True,
        form=_decision(change_unit="u" * 100),
    ),
]


@pytest.fixture
async def scene(backend: Backend) -> dict[str, str]:
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    admin = await official(backend, Role.ADMIN, wilayah="12.71")
    code = await submit(backend, resident)
    await forward_to_kecamatan(backend, kepala, [code])
    async with backend.unit() as s:
        key = await s.officials.create_client_key("lapor")
    assert admin.token is not None
    return {"code": code, "token": admin.token, "key": key}


def test_the_table_covers_every_kind_of_input_the_issue_names() -> None:
    assert len(CASES) >= 34
    assert len({case.name for case in CASES}) == len(CASES)
    assert sum(not case.login for case in CASES) >= 5


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_hostile_input_gets_a_4xx_with_a_reason(
    backend: Backend, scene: dict[str, str], case: Hostile
) -> None:
    path = case.path.replace(CODE, scene["code"])
    kwargs: dict[str, Any] = dict(case.extra)
    headers: dict[str, str] = dict(kwargs.pop("headers", {}))
    cookies = {LOGIN_CSRF_COOKIE: "n"}
    if case.login:
        headers["Authorization"] = f"Bearer {scene['token']}"
        cookies[SESSION_COOKIE] = scene["token"]
    if case.form is not None:
        form = dict(case.form)
        if path.startswith("/open311"):
            form["api_key"] = scene["key"]
        if case.login and path.startswith("/dashboard"):
            form["csrf"] = csrf_for(scene["token"])
        kwargs["data"] = form
    if case.json is not None:
        kwargs["json"] = case.json
    if case.raw is not None:
        kwargs["content"] = case.raw.replace(CODE, scene["code"])
        headers["content-type"] = "application/json"
    if kwargs.get("content") == "stream":
        kwargs["content"] = _too_big()
    transport = httpx.ASGITransport(app=create_api(backend), raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", cookies=cookies
    ) as client:
        answer = await client.request(case.method, path, headers=headers, **kwargs)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert case.reason in answer.text, answer.text[:500]
    assert len(answer.content) < 20_000  # nothing huge or deeply nested is echoed back
