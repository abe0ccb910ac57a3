"""Issue 8, defects 2 and 11: logins cannot be flooded or guessed, tracking codes cannot be
walked, and every credential can be listed, revoked and runs out."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, update

import locales
from backend.api.app import create_api
from backend.services import passwords
from backend.services.officials import Role
from backend.services.wiring import Backend
from backend.storage.models import ApiToken, SecurityEvent, ThrottleHit
from tests.chat import Resident
from tests.conftest import make_settings, start_backend
from tests.officials import MEDAN_KOTA, OPERATOR, PASAR_BARU, Person, official, submit, warga

PASSWORD = "rahasia-sekali-123"
WRONG = "salah-sekali-123"
TOKEN_URL = "/api/v1/auth/token"


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """argon2 at its cheapest, so the suite stays quick; and a count of every check."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8,
                                                             parallelism=1))  # fmt: skip
    calls = {"check": 0}
    real = passwords._check

    def counted(stored_hash: str | None, password: str) -> bool:
        calls["check"] += 1
        return real(stored_hash, password)

    monkeypatch.setattr(passwords, "_check", counted)
    return calls


Factory = Callable[..., Any]


@pytest.fixture
async def service(db_url: str, tmp_path: Path) -> AsyncIterator[Factory]:
    """A started backend with the given settings and an HTTP client on its API."""
    opened: list[tuple[Backend, httpx.AsyncClient]] = []

    async def make(**overrides: Any) -> tuple[Backend, httpx.AsyncClient]:
        overrides.setdefault("trusted_proxies", ["127.0.0.1"])
        overrides.setdefault("login_failure_delay", 0)
        backend = await start_backend(make_settings(db_url, tmp_path, **overrides))
        transport = httpx.ASGITransport(app=create_api(backend))
        client = httpx.AsyncClient(transport=transport, base_url="http://test")
        opened.append((backend, client))
        return backend, client

    yield make
    for backend, client in opened:
        await client.aclose()
        await backend.close()


def from_address(address: str) -> dict[str, str]:
    """A client behind the trusted reverse proxy (the test transport's 127.0.0.1)."""
    return {"X-Forwarded-For": address}


async def token_login(
    client: httpx.AsyncClient, username: str, password: str, address: str = "203.0.113.7"
) -> httpx.Response:
    return await client.post(
        TOKEN_URL, data={"username": username, "password": password},
        headers=from_address(address),
    )  # fmt: skip


async def camat(backend: Backend) -> Person:
    return await official(
        backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA, username="camat.kota"
    )


async def security_events(backend: Backend, kind: str) -> list[SecurityEvent]:
    async with backend.unit() as s:
        return list(
            await s.session.scalars(select(SecurityEvent).where(SecurityEvent.kind == kind))
        )


# --- failed logins ------------------------------------------------------------------------


async def test_the_11th_wrong_login_is_refused_with_retry_after_and_no_hashing(
    service: Factory, quick_hashes: dict[str, int]
) -> None:
    backend, client = await service()
    await camat(backend)
    for _ in range(10):
        assert (await token_login(client, "camat.kota", WRONG)).status_code == 401
    hashed = quick_hashes["check"]

    refused = await token_login(client, "camat.kota", WRONG)

    assert refused.status_code == 429
    assert 800 <= int(refused.headers["retry-after"]) <= 900  # the 15-minute lockout
    assert quick_hashes["check"] == hashed, "a refused guess must cost no argon2 run"


async def test_a_locked_account_refuses_even_the_right_password_and_is_audited(
    service: Factory,
) -> None:
    backend, client = await service()
    person = await camat(backend)
    for _ in range(10):
        await token_login(client, "Camat.Kota", WRONG, address="198.51.100.23")

    locked = await token_login(client, "camat.kota", PASSWORD, address="192.0.2.1")

    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    [event] = await security_events(backend, "login_locked")
    assert event.user_id == person.user_id and event.username == "camat.kota"
    assert event.client == "198.51.100.0/24"  # the network, not the address
    assert WRONG not in (event.detail or "") and PASSWORD not in (event.detail or "")
    # Once the lockout has passed, the right password works again.
    async with backend.unit() as s:
        await s.session.execute(
            update(ThrottleHit).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (await token_login(client, "camat.kota", PASSWORD)).status_code == 200


async def test_a_successful_login_forgets_the_failures_before_it(service: Factory) -> None:
    backend, client = await service()
    await camat(backend)
    for _ in range(2):
        for _ in range(9):
            assert (await token_login(client, "camat.kota", WRONG)).status_code == 401
        assert (await token_login(client, "camat.kota", PASSWORD)).status_code == 200
    assert await security_events(backend, "login_locked") == []


async def test_one_address_guessing_across_usernames_is_limited_and_others_are_not(
    service: Factory, quick_hashes: dict[str, int]
) -> None:
    backend, client = await service(login_failures_per_address=5)
    await camat(backend)
    for n in range(5):
        assert (await token_login(client, f"tebakan{n}", WRONG, "203.0.113.50")).status_code == 401
    hashed = quick_hashes["check"]

    refused = await token_login(client, "camat.kota", PASSWORD, "203.0.113.50")
    elsewhere = await token_login(client, "camat.kota", PASSWORD, "203.0.113.51")

    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert elsewhere.status_code == 200
    assert quick_hashes["check"] == hashed + 1  # only the other address's login was hashed


async def test_two_processes_on_one_database_share_the_count(service: Factory) -> None:
    first, one = await service()
    _, other = await service()
    await camat(first)
    for n in range(10):
        client = one if n % 2 else other
        assert (await token_login(client, "camat.kota", WRONG)).status_code == 401

    assert (await token_login(one, "camat.kota", PASSWORD)).status_code == 429
    assert (await token_login(other, "camat.kota", PASSWORD)).status_code == 429


async def test_the_dashboard_says_why_in_the_readers_language_and_keeps_the_username(
    service: Factory,
) -> None:
    backend, client = await service(login_failures_per_address=3)
    await camat(backend)
    page = await client.get("/dashboard/login", headers={"Accept-Language": "en"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    form = {"csrf": csrf, "username": "camat.kota", "password": WRONG, "next": "/dashboard"}
    for _ in range(3):
        assert (await client.post("/dashboard/login", data=form)).status_code == 401

    refused = await client.post("/dashboard/login", data=form, headers={"Accept-Language": "en"})

    assert refused.status_code == 429
    wait = int(refused.headers["retry-after"])
    minutes = -(-wait // 60)
    assert locales.t("en", "web.login_throttled", {"minutes": minutes}) in refused.text
    assert 'value="camat.kota"' in refused.text
    indonesian = await client.post("/dashboard/login", data=form)
    assert "Terlalu banyak percobaan masuk" in indonesian.text


async def test_login_hashing_runs_in_worker_threads_a_bounded_number_at_once(
    service: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, client = await service()
    await camat(backend)
    lock = threading.Lock()
    seen = {"now": 0, "most": 0}
    threads: set[int] = set()

    def slow_check(stored_hash: str | None, password: str) -> bool:
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
            threads.add(threading.get_ident())
        time.sleep(0.2)  # long enough for the others to pile up behind the bound
        with lock:
            seen["now"] -= 1
        return False

    monkeypatch.setattr(passwords, "_check", slow_check)
    answers = await asyncio.gather(
        *(token_login(client, f"user{n}", WRONG, f"203.0.113.{n}") for n in range(8))
    )

    statuses = sorted(a.status_code for a in answers)
    assert threading.get_ident() not in threads, "argon2 ran on the event loop's thread"
    assert seen["most"] == backend.settings.login_hash_concurrency == 1
    # Up to 4 wait per hashing thread; the others are turned away at once, not queued.
    assert statuses.count(401) >= 4 and set(statuses) <= {401, 429}
    assert all(a.headers["retry-after"] for a in answers if a.status_code == 429)


# --- tracking-code walking ----------------------------------------------------------------

UNKNOWN = [f"ZZZZ-ZZ{a}{b}" for a in "23456789" for b in "23456789"]


def _public_api(code: str) -> str:
    return f"/api/v1/public/usulan/{code}"


EDGES: dict[str, Callable[[str], str]] = {
    "page": lambda code: f"/u/{code}",
    "api": _public_api,
    "open311": lambda code: f"/open311/v2/requests/{code}.json",
    "open311-xml": lambda code: f"/open311/v2/requests/{code}.xml",
    "open311-token": lambda code: f"/open311/v2/tokens/{code}.json",
}


@pytest.mark.parametrize("edge", sorted(EDGES))
async def test_walking_unknown_codes_is_refused_per_client(service: Factory, edge: str) -> None:
    backend, client = await service(lookup_misses_per_client=5)
    code = await submit(backend, await warga(backend))
    url = EDGES[edge]
    for unknown in UNKNOWN[:5]:
        response = await client.get(url(unknown), headers=from_address("203.0.113.9"))
        assert response.status_code == 404

    refused = await client.get(url(code), headers=from_address("203.0.113.9"))
    another = await client.get(url(code), headers=from_address("203.0.113.10"))

    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert another.status_code == 200
    if edge == "page":
        assert "text/html" in refused.headers["content-type"]
        assert "Anda terlalu sering mencari kode usulan" in refused.text
    elif edge == "api":
        assert "too many" in refused.json()["detail"]
    elif edge == "open311-xml":
        assert "<errors><error><code>429</code>" in refused.text
    else:
        [error] = refused.json()
        assert error["code"] == 429 and "retry" in error["description"]


async def test_every_lookup_counts_against_a_generous_limit(service: Factory) -> None:
    backend, client = await service(lookups_per_minute=8)
    code = await submit(backend, await warga(backend))
    for _ in range(8):
        assert (await client.get(_public_api(code))).status_code == 200

    refused = await client.get(_public_api(code))

    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60


async def test_chat_status_walking_gets_a_polite_answer_and_others_are_unaffected(
    service: Factory,
) -> None:
    backend, _ = await service(lookup_misses_per_client=5)
    code = await submit(backend, await warga(backend))
    walker = Resident(backend, "700100301")
    for unknown in UNKNOWN[:5]:
        await walker.send(f"/status {unknown}")
        assert walker.keys == ["status.not_found"]

    await walker.send(f"/status {code}")
    neighbour = Resident(backend, "700100302")
    await neighbour.send(f"/status {code}")

    assert walker.keys == ["status.too_many_lookups"]
    assert walker.text == walker.t("status.too_many_lookups", minutes=10)
    assert neighbour.keys[0] == "status.header"


async def test_a_list_of_codes_counts_each_code_and_is_capped(service: Factory) -> None:
    backend, client = await service(lookup_misses_per_client=5)
    code = await submit(backend, await warga(backend))
    walker = from_address("203.0.113.20")
    many = ",".join(UNKNOWN[:21])
    capped = await client.get(f"/open311/v2/requests.json?service_request_id={many}")
    assert capped.status_code == 400 and "at most 20" in capped.json()[0]["description"]

    listed = await client.get(
        f"/open311/v2/requests.json?service_request_id={','.join(UNKNOWN[:5])},{code}",
        headers=walker,
    )
    assert listed.status_code == 200 and [r["service_request_id"] for r in listed.json()] == [
        code
    ]
    # Five unknown codes in one list used up the misses as five single lookups would.
    refused = await client.get(
        f"/open311/v2/requests.json?service_request_id={code}", headers=walker
    )
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    other = await client.get(
        f"/open311/v2/requests.json?service_request_id={code}",
        headers=from_address("203.0.113.21"),
    )
    assert other.status_code == 200


async def test_dukung_cannot_walk_the_codes_either(service: Factory) -> None:
    backend, _ = await service(lookup_misses_per_client=5)
    code = await submit(backend, await warga(backend))
    walker = Resident(backend, "700100303")
    await walker.send("/start")
    await walker.press("consent:yes")
    for unknown in UNKNOWN[:5]:
        await walker.send(f"/dukung {unknown}")
        assert walker.keys == ["status.not_found"]

    await walker.send(f"/dukung {code}")

    assert walker.keys == ["status.too_many_lookups"]
    async with backend.unit() as services:
        found = await services.intake.status(code)
    assert found is not None  # nothing was backed by the refused try
    backer = Resident(backend, "700100304")
    await backer.send("/start")
    await backer.press("consent:yes")
    await backer.send(f"/dukung {code}")
    assert backer.keys[0] == "support.thanks"


async def test_housekeeping_deletes_counts_that_no_longer_count(backend: Backend) -> None:
    limits = backend.limits
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    async with backend.unit() as s:
        await s.throttle.hit(limits.lookup_misses, "203.0.113.1", now=long_ago)
        await s.throttle.hit(limits.lookup_misses, "203.0.113.1")
    async with backend.unit() as s:
        assert await s.throttle.forget_expired() == 1
        assert await s.session.scalar(select(func.count()).select_from(ThrottleHit)) == 1


# --- credentials ----------------------------------------------------------------------------


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_tokens_are_listed_and_revoked_within_the_callers_scope(service: Factory) -> None:
    backend, client = await service(token_days=30)
    admin = await official(backend, Role.ADMIN, wilayah="12.71")
    operator = await camat(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)

    everything = (await client.get("/api/v1/tokens", headers=bearer(admin.token))).json()
    own = (await client.get("/api/v1/tokens", headers=bearer(operator.token))).json()

    assert {t["user_id"] for t in everything} == {
        admin.user_id, operator.user_id, kepala.user_id
    }  # fmt: skip
    assert [t["user_id"] for t in own] == [operator.user_id]
    assert not any(kepala.token in str(t) for t in everything)  # never the secret
    created = datetime.fromisoformat(own[0]["created_at"])
    expires = datetime.fromisoformat(own[0]["expires_at"])
    assert timedelta(days=29) < expires - created <= timedelta(days=30)
    kepalas = next(t["id"] for t in everything if t["user_id"] == kepala.user_id)
    refused = await client.delete(f"/api/v1/tokens/{kepalas}", headers=bearer(operator.token))
    assert refused.status_code == 404
    assert (await client.get("/api/v1/me", headers=bearer(kepala.token))).status_code == 200

    revoked = await client.delete(f"/api/v1/tokens/{kepalas}", headers=bearer(admin.token))

    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (await client.get("/api/v1/me", headers=bearer(kepala.token))).status_code == 401
    [event] = await security_events(backend, "token_revoked")
    assert event.user_id == kepala.user_id and str(admin.user_id) in (event.detail or "")
    mine = own[0]["id"]
    assert (
        await client.delete(f"/api/v1/tokens/{mine}", headers=bearer(operator.token))
    ).status_code == 200
    assert (await client.get("/api/v1/me", headers=bearer(operator.token))).status_code == 401


async def _expire(backend: Backend, token_id: int | None = None) -> None:
    async with backend.unit() as s:
        query = update(ApiToken).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        if token_id is not None:
            query = query.where(ApiToken.id == token_id)
        await s.session.execute(query)


async def test_an_expired_api_token_is_refused(service: Factory) -> None:
    backend, client = await service()
    operator = await camat(backend)
    [listed] = (await client.get("/api/v1/tokens", headers=bearer(operator.token))).json()
    assert listed["expires_at"] is not None  # every token runs out (90 days by default)

    await _expire(backend)

    response = await client.get("/api/v1/me", headers=bearer(operator.token))
    assert response.status_code == 401 and "expired" in response.json()["detail"]


OPEN311_REQUEST = {
    "service_code": "jalan",
    "description": "Aspal jalan rusak parah sepanjang 100 meter",
    "attribute[desa]": PASAR_BARU,
    "attribute[permasalahan]": "Jalan rusak berlubang di depan sekolah",
}


async def test_an_expired_or_revoked_open311_key_is_refused(service: Factory) -> None:
    backend, client = await service()
    async with backend.unit() as s:
        expiring = await s.officials.issue_client_key("FixMyStreet Medan")
        revoked = await s.officials.issue_client_key("Lapor Medan")
        await s.officials.revoke_token_id(revoked.id, OPERATOR)
    assert expiring.expires_at - datetime.now(UTC) > timedelta(days=89)
    ok = await client.post(
        "/open311/v2/requests.json", data={**OPEN311_REQUEST, "api_key": expiring.token}
    )
    assert ok.status_code == 200

    await _expire(backend, expiring.id)

    for key in (expiring.token, revoked.token):
        refused = await client.post(
            "/open311/v2/requests.json", data={**OPEN311_REQUEST, "api_key": key}
        )
        assert refused.status_code == 403
        assert refused.json()[0]["code"] == 403


def test_the_command_line_lists_and_revokes_tokens_and_prints_expiries(tmp_path: Path) -> None:
    from tests.test_cli import musrenbot

    assert musrenbot(tmp_path, "db", "upgrade").returncode == 0
    assert musrenbot(tmp_path, "wilayah", "load", "12.71").returncode == 0
    created = musrenbot(tmp_path, "official", "create", "--name", "Bappeda Medan", "--role",
                        "admin", "--wilayah", "12.71", "--username", "bappeda",
                        "--password", PASSWORD)  # fmt: skip
    assert created.returncode == 0, created.stderr
    issued = musrenbot(tmp_path, "official", "token", "bappeda", "--name", "sipd")
    key = musrenbot(tmp_path, "official", "open311-key", "FixMyStreet")
    assert issued.returncode == 0 and key.returncode == 0, issued.stderr + key.stderr
    token = issued.stdout.strip()
    assert token.startswith("mrb_") and len(issued.stdout.splitlines()) == 1
    in_90_days = (datetime.now(UTC) + timedelta(days=90)).strftime("%Y-%m-%d")
    assert f"expires {in_90_days}" in issued.stderr and f"expires {in_90_days}" in key.stderr
    token_id = re.search(r"token (\d+),", issued.stderr).group(1)  # type: ignore[union-attr]

    listed = musrenbot(tmp_path, "official", "tokens")
    mine = musrenbot(tmp_path, "official", "tokens", "bappeda")
    revoked = musrenbot(tmp_path, "official", "revoke-token", token_id)
    after = musrenbot(tmp_path, "official", "tokens", "bappeda")
    unknown = musrenbot(tmp_path, "official", "revoke-token", "999")

    assert listed.returncode == 0 and token not in listed.stdout
    assert "bappeda" in listed.stdout and "FixMyStreet" in listed.stdout
    assert "FixMyStreet" not in mine.stdout and "sipd" in mine.stdout
    assert revoked.returncode == 0 and f"token {token_id} (bappeda, sipd) revoked" in revoked.stdout
    row = next(line for line in after.stdout.splitlines() if line.split()[0] == token_id)
    assert row.rstrip().endswith("UTC") and row.count("UTC") == 3  # created, expires, revoked
    assert unknown.returncode == 2 and "no such token" in unknown.stderr
