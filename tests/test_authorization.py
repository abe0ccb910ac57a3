"""Every official action checks role and scope in the service that performs it (issue 9).

Each service method is called as an under-scoped actor (a kepala desa, an operator kecamatan,
OPD staff where a Bappeda admin is needed; an admin of another kabupaten/kota where the
region matters) and must refuse; called as the right actor it must work. The edges (API,
dashboard, command line) only translate the refusal, so these hold for all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from backend.domain import Decision, Stage
from backend.errors import Forbidden, NotFound
from backend.services.officials import Actor, Role, system_actor
from backend.services.queues import QueueFilter
from backend.services.wiring import Backend
from backend.services.workflow import DecisionRequest
from tests.officials import (
    LABUHAN_DELI,
    MEDAN_KOTA,
    OPERATOR,
    PASAR_BARU,
    PUSAT_PASAR,
    official,
    submit,
    warga,
)

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Desk:
    kepala: Actor
    camat: Actor
    opd: Actor
    admin: Actor
    elsewhere: Actor  # a Bappeda admin of Kota Binjai, not of Kota Medan

    @property
    def not_admins(self) -> tuple[Actor, ...]:
        return (self.kepala, self.camat, self.opd)


async def desk(backend: Backend) -> Desk:
    people = [
        await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU),
        await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA),
        await official(backend, Role.OPD, opd="dpupr"),
        await official(backend, Role.ADMIN, wilayah="12.71"),
    ]
    kepala, camat, opd, admin = (p.actor for p in people)
    assert kepala and camat and opd and admin
    elsewhere = replace(admin, wilayah_code="12.75", official_id=None)
    return Desk(kepala, camat, opd, admin, elsewhere)


async def test_invites_are_issued_listed_and_revoked_by_the_region_admin_only(backend):
    d = await desk(backend)
    async with backend.unit() as s:
        for actor in (*d.not_admins, d.elsewhere):
            with pytest.raises(Forbidden):
                await s.officials.create_invite(
                    Role.KEPALA_DESA, wilayah_code=PUSAT_PASAR, created_by=actor
                )
        created = await s.officials.create_invite(
            Role.KEPALA_DESA, wilayah_code=PUSAT_PASAR, created_by=d.admin
        )
    async with backend.unit() as s:
        for actor in d.not_admins:
            with pytest.raises(Forbidden):
                await s.officials.list_invites(actor)
        # Another kabupaten/kota's admin sees none of Medan's desa invites.
        assert created.invite.id not in {i.id for i in await s.officials.list_invites(d.elsewhere)}
        assert created.invite.id in {i.id for i in await s.officials.list_invites(d.admin)}
        for actor in (*d.not_admins, d.elsewhere):
            with pytest.raises(Forbidden):
                await s.officials.revoke_invite(created.invite.id, actor)
    async with backend.unit() as s:
        assert (await s.officials.revoke_invite(created.invite.id, d.admin)).revoked
    with pytest.raises(NotFound):  # the code is void now
        async with backend.unit() as s:
            await s.officials.claim((await warga(backend)).user_id, created.code)


async def test_officials_are_granted_listed_and_revoked_by_the_region_admin_only(backend):
    d = await desk(backend)
    async with backend.unit() as s:
        user = await s.officials.official_user("Lurah Pusat Pasar")
        for actor in (*d.not_admins, d.elsewhere):
            with pytest.raises(Forbidden):
                await s.officials.grant(
                    user, Role.KEPALA_DESA, wilayah_code=PUSAT_PASAR, granted_by=actor
                )
        lurah = await s.officials.grant(
            user, Role.KEPALA_DESA, wilayah_code=PUSAT_PASAR, granted_by=d.admin
        )
    async with backend.unit() as s:
        for actor in d.not_admins:
            with pytest.raises(Forbidden):
                await s.officials.list_officials(actor)
        listed = {o.id for o in await s.officials.list_officials(d.admin)}
        assert {d.kepala.official_id, d.camat.official_id, lurah.official_id} <= listed
        hidden = {o.id for o in await s.officials.list_officials(d.elsewhere)}
        assert lurah.official_id not in hidden and d.opd.official_id in hidden  # OPDs: no region
        assert lurah.official_id is not None
        for actor in (*d.not_admins, d.elsewhere):
            with pytest.raises(Forbidden):
                await s.officials.revoke_official(lurah.official_id, actor)
    async with backend.unit() as s:
        assert await s.officials.actor_for(user) is not None
        await s.officials.revoke_official(lurah.official_id, d.admin)
    async with backend.unit() as s:
        assert await s.officials.actor_for(user) is None


async def test_the_outbox_is_read_and_retried_by_admins_only(backend):
    d = await desk(backend)
    async with backend.unit() as s:
        for actor in d.not_admins:
            with pytest.raises(Forbidden):
                await s.delivery.status(actor)
            with pytest.raises(Forbidden):
                await s.delivery.retry_dead(actor)
        assert set((await s.delivery.status(d.admin)).counts) >= {"pending", "dead"}
        assert await s.delivery.retry_dead(d.admin) == 0


async def test_exports_hold_only_the_actors_scope(backend):
    d = await desk(backend)
    resident = await warga(backend)
    here = await submit(backend, resident, desa=PASAR_BARU)
    await submit(backend, resident, desa=LABUHAN_DELI, n=1)
    async with backend.unit() as s:
        refusals = [
            (d.kepala, QueueFilter(Stage.DESA, desa=PUSAT_PASAR)),
            (d.camat, QueueFilter(Stage.DESA, kecamatan="12.71.12")),
            (d.opd, QueueFilter(Stage.DESA, opd="dinkes")),
            (d.elsewhere, QueueFilter(Stage.DESA, kecamatan=MEDAN_KOTA)),
            (d.elsewhere, QueueFilter(Stage.DESA, desa=PASAR_BARU)),
        ]
        for actor, wanted in refusals:
            with pytest.raises(Forbidden):
                await s.queues.all_rows(actor, wanted)
        assert await s.queues.all_rows(d.elsewhere, QueueFilter(Stage.DESA)) == []
        assert len(await s.queues.all_rows(d.admin, QueueFilter(Stage.DESA))) == 2
        assert [r.code for r in await s.queues.all_rows(d.kepala, QueueFilter(Stage.DESA))] == [
            here
        ]
        await s.workflow.decide(d.kepala, here, DecisionRequest(Stage.DESA, Decision.DITERIMA))
        # The decisions taken so far of an usulan outside one's scope are not handed out.
        assert await s.queues.recommendations(d.kepala, [here]) == {here: {"desa": "diterima"}}
        assert await s.queues.recommendations(d.admin, [here]) == {here: {"desa": "diterima"}}
        camat_elsewhere = replace(d.camat, wilayah_code="12.71.12")
        assert await s.queues.recommendations(camat_elsewhere, [here]) == {}
        assert await s.queues.recommendations(d.elsewhere, [here]) == {}
        assert await s.queues.recommendations(d.opd, [here]) == {here: {"desa": "diterima"}}
        dinkes = replace(d.opd, opd_code="dinkes")  # a road is not the health office's
        assert await s.queues.recommendations(dinkes, [here]) == {}


async def test_tokens_are_listed_and_revoked_within_scope(backend):
    d = await desk(backend)
    async with backend.unit() as s:
        mine = await s.officials.issue_token(d.kepala.user_id, "mine")
        theirs = await s.officials.issue_token(d.camat.user_id, "theirs")
        assert {t.user_id for t in await s.officials.list_tokens(d.kepala)} == {d.kepala.user_id}
        with pytest.raises(NotFound):  # not even whether another's token exists
            await s.officials.revoke_token_id(theirs.id, d.kepala)
        with pytest.raises(NotFound):
            await s.officials.revoke_token_id(theirs.id, d.elsewhere)
        assert theirs.id not in {t.id for t in await s.officials.list_tokens(d.elsewhere)}
        assert (await s.officials.revoke_token_id(mine.id, d.kepala)).revoked_at is not None
        assert (await s.officials.revoke_token_id(theirs.id, d.admin)).revoked_at is not None


async def test_the_command_line_acts_as_the_region_admin(backend):
    assert (OPERATOR.role, OPERATOR.wilayah_code, OPERATOR.system) == (Role.ADMIN, "12.71", True)
    everywhere = system_actor("ALL")  # a deployment serving every kabupaten/kota
    assert everywhere.covers_desa(PASAR_BARU) and everywhere.covers_desa("11.08.01.2001")
    async with backend.unit() as s:
        created = await s.officials.create_invite(
            Role.OPERATOR_KECAMATAN, wilayah_code=MEDAN_KOTA, created_by=OPERATOR
        )
        assert created.invite.id in {i.id for i in await s.officials.list_invites(everywhere)}
        with pytest.raises(Forbidden):  # another deployment's command line
            await s.officials.revoke_invite(created.invite.id, system_actor("12.75"))


# Role comparisons in an edge: `.role != Role.X`, `role == Role.X`, `role in {Role.X}`,
# `Role.X == ...`, and the old `_admin(` / `_admin_only(` gates.
ROLE_CHECK = re.compile(
    r"role\s*(?:==|!=|\bin\b|\bnot in\b)\s*[({\[]?\s*Role\."
    r"|Role\.\w+\s*(?:==|!=)"
    r"|\b_admin(?:_only)?\("
)


def test_the_edges_never_check_roles_themselves():
    """docs/architecture.md: the API, the dashboard and the command line only translate the
    services' refusals; who may do what is decided in backend/services."""
    edges = [*(ROOT / "backend" / "api").rglob("*.py"), *(ROOT / "bot").rglob("*.py")]
    assert len(edges) > 10
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in edges
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ROLE_CHECK.search(line)
    ]
    assert found == []
