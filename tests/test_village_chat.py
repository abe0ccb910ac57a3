"""The village's side in chat: enrolment, review, rembuk warga, submitting for a resident.

The kepala desa is driven exactly like a resident (tests/chat.py) through the real services,
on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

import locales
from backend.domain import Decision, Origin, Stage
from backend.errors import Conflict
from backend.services.officials import Actor, Role
from backend.services.queues import QueueFilter
from backend.services.wiring import Backend
from backend.services.workflow import REASON_CODES, DecisionRequest
from backend.storage.models import Official, Rembuk, Usulan, UsulanEvent
from handlers import intake, rembuk, village
from handlers.events import Photos
from handlers.rembuk import parse_date, parse_groups, parse_order
from tests.chat import CODE_RE, PASAR_BARU, Resident, make_jpeg, walk_to
from tests.officials import OPERATOR

PUSAT_PASAR = "12.71.01.1002"  # Kelurahan Pusat Pasar, Kec. Medan Kota
MEDAN_KOTA = "12.71.01"


# --- people and their usulan ----------------------------------------------------------------


async def invite(
    backend: Backend, role: Role = Role.KEPALA_DESA, wilayah: str = PASAR_BARU, **kw: object
) -> str:
    async with backend.unit() as s:
        created = await s.officials.create_invite(  # type: ignore[arg-type]
            role, wilayah_code=wilayah, created_by=OPERATOR, **kw
        )
    return created.code


async def kepala_desa(
    backend: Backend, external_id: str = "900001", desa: str = PASAR_BARU
) -> Resident:
    """A kepala desa enrolled the real way: an invite code claimed in the chat."""
    kades = Resident(backend, external_id, display_name="Pak Kades")
    await kades.send(f"/daftar {await invite(backend, wilayah=desa)}")
    assert kades.keys == ["enrol.welcome", "enrol.can_village"], kades.text
    return kades


async def actor_of(backend: Backend, person: Resident) -> Actor:
    async with backend.unit() as s:
        user = await s.users.get_or_create(
            channel="test", external_id=person.sender.external_id, chat_id="", language_hint="id"
        )
        actor = await s.officials.actor_for(user.id)
    assert actor is not None
    return actor


DESA_NAMES = {PASAR_BARU: "pasar baru", PUSAT_PASAR: "pusat pasar"}


async def send_usulan(
    resident: Resident,
    request: str,
    problem: str,
    category: str = "jalan",
    photos: tuple[bytes, ...] = (),
    desa: str = PASAR_BARU,
) -> str:
    """A resident's complete intake with these texts; sends anyway when similar ones exist."""
    await walk_to(resident, intake.DESA)
    await resident.send(DESA_NAMES[desa])
    await resident.press(f"desa:{desa}")
    await walk_to(resident, intake.CATEGORY)
    await resident.press(f"cat:{category}")
    await resident.send(problem)
    await resident.send(request)
    await resident.send("10 unit")
    for data in photos:
        await resident.photo(data)
    if await resident.state() == intake.PHOTOS:
        await resident.press("skip:intake.photos")
    await resident.send("50")
    await resident.press("submit")
    if await resident.state() == intake.SIMILAR:
        await resident.press("dk:own")
    match = CODE_RE.search(resident.text)
    assert match is not None, resident.text
    return match.group(0)


async def usulan(backend: Backend, code: str) -> Usulan:
    async with backend.sessionmaker() as session:
        row = await session.scalar(select(Usulan).where(Usulan.code == code))
    assert row is not None
    return row


async def count(backend: Backend, model: type, *where: object) -> int:
    async with backend.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def shown_code(person: Resident) -> str:
    """The tracking code of the usulan card on screen."""
    card = next(t for t in person.texts if t.startswith("📄"))
    match = CODE_RE.search(card)
    assert match is not None
    return match.group(0)


def short(code: str) -> str:
    return code.replace("-", "")


def today_in_medan() -> date:
    return datetime.now(ZoneInfo("Asia/Jakarta")).date()


# --- the whole village round ---------------------------------------------------------------


async def test_a_kepala_desa_reviews_ranks_and_confirms_a_rembuk_entirely_in_chat(
    backend: Backend,
) -> None:
    # Enrolment by deep link: the answer names the role, the place and what comes next.
    kades = Resident(backend, "900001", display_name="Pak Kades")
    await kades.send(f"/start {await invite(backend)}")
    assert "kepala desa/lurah" in kades.text
    assert "Kelurahan Pasar Baru, Kec. Medan Kota" in kades.text
    assert "/desa" in kades.text and "/rembuk" in kades.text

    photo = make_jpeg(color=(10, 200, 30))
    road = await send_usulan(
        Resident(backend, "1001"),
        "Pengaspalan Jalan Melati sepanjang 200 meter",
        "Jalan Melati berlubang dan becek setiap hujan turun",
        photos=(photo,),
    )
    drain = await send_usulan(
        Resident(backend, "1002"),
        "Normalisasi parit di Gang Mawar",
        "Parit tersumbat lumpur sehingga rumah warga kebanjiran",
        category="drainase",
    )
    lamp = await send_usulan(
        Resident(backend, "1003"),
        "Pemasangan lampu penerangan di lapangan bola",
        "Lapangan gelap pada malam hari dan rawan kejahatan",
        category="lampu_jalan",
    )
    waste = await send_usulan(
        Resident(backend, "1004"),
        "Pembelian truk sampah untuk kelurahan",
        "Sampah menumpuk di pinggir sungai berhari-hari",
        category="sampah",
    )
    clinic = await send_usulan(
        Resident(backend, "1005"),
        "Perbaikan atap posyandu",
        "Atap posyandu bocor saat hujan, kegiatan terganggu",
        category="kesehatan",
    )
    same_road = await send_usulan(
        Resident(backend, "1006"),
        "Pengaspalan Jalan Melati yang rusak",
        "Jalan Melati rusak berlubang dan becek",
    )

    # /desa: what waits, per category, and the menu.
    await kades.send("/desa")
    assert "Usulan menunggu ditinjau: 6" in kades.text
    assert "• 🛣️ Jalan & jembatan: 2" in kades.text
    assert "• 🗑️ Sampah & lingkungan: 1" in kades.text
    assert kades.payloads == ["vm:review", "vm:rembuk", "vm:onbehalf"]

    # Review one by one; each usulan gets the action planned for it.
    await kades.press("vm:review")
    decided: set[str] = set()
    for _ in range(6):
        code = shown_code(kades)
        assert code not in decided
        decided.add(code)
        s = short(code)
        assert set(kades.payloads) == {f"rv:{a}:{s}" for a in ("ok", "fix", "no", "merge", "skip")}
        if code == road:
            photos = [r for r in kades.replies if isinstance(r, Photos)]
            assert len(photos) == 1 and len(photos[0].hashes) == 1
            assert "Pengaspalan Jalan Melati sepanjang 200 meter" in kades.text
        if code in {road, drain, lamp}:
            await kades.press(f"rv:ok:{s}")
            assert f"✅ {code} diterima" in kades.text
        elif code == clinic:
            await kades.press(f"rv:fix:{s}")
            await kades.send("Mohon lampirkan foto atap dan ukuran ruangannya.")
            assert f"{code} dikembalikan ke pengusul" in kades.text
        elif code == waste:
            await kades.press(f"rv:no:{s}")
            assert f"rj:{REASON_CODES[0]}" in kades.payloads
            assert "Volume tidak wajar" in [label for label, _ in kades.buttons]
            await kades.press("rj:volume_tidak_wajar")
            await kades.send("Satu truk sudah dianggarkan kota tahun ini.")
            assert f"{code} ditolak (volume tidak wajar)" in kades.text
        else:
            assert code == same_road
            await kades.press(f"rv:merge:{s}")
            assert f"mg:{short(road)}" in kades.payloads  # same category offered first
            assert kades.payloads[0] == f"mg:{short(road)}"
            await kades.press(f"mg:{short(road)}")
            assert f"{code} digabung ke {road}" in kades.text
    assert "Semua usulan sudah ditinjau" in kades.text
    assert await kades.state() == village.MENU

    assert {c: (await usulan(backend, c)).decision for c in decided} == {
        road: "diterima", drain: "diterima", lamp: "diterima",
        clinic: "perlu_perbaikan", waste: "ditolak", same_road: "digabung",
    }  # fmt: skip
    assert (await usulan(backend, road)).support_count == 1  # the merged usulan's submitter
    merged = await usulan(backend, same_road)
    assert merged.merged_into_id == (await usulan(backend, road)).id
    waste_id, clinic_id = (await usulan(backend, waste)).id, (await usulan(backend, clinic)).id
    async with backend.sessionmaker() as session:
        rejection = await session.scalar(
            select(UsulanEvent).where(
                UsulanEvent.usulan_id == waste_id, UsulanEvent.to_decision == "ditolak"
            )
        )
        returned = await session.scalar(
            select(UsulanEvent).where(
                UsulanEvent.usulan_id == clinic_id, UsulanEvent.to_decision == "perlu_perbaikan"
            )
        )
    assert rejection is not None and rejection.reason_code == "volume_tidak_wajar"
    assert rejection.note == "Satu truk sudah dianggarkan kota tahun ini."
    assert returned is not None and returned.note and "foto atap" in returned.note

    # The rembuk warga: date, place, attendance, minutes, ranking, summary, confirmation.
    await kades.press("vm:rembuk")
    assert await kades.state() == rembuk.DATE
    await kades.send("hari ini")
    await kades.send("Balai Kelurahan Pasar Baru")
    await kades.send("42")
    await kades.send("19")
    await kades.send("pemuda 10, disabilitas 2, lansia 15")
    assert await kades.state() == rembuk.MINUTES
    await kades.photo(make_jpeg(color=(200, 10, 10)))
    await kades.photo(make_jpeg(color=(10, 10, 200)))
    assert "sudah 2" in kades.text
    await kades.press("skip:rembuk.minutes")

    assert await kades.state() == rembuk.RANK
    listed = CODE_RE.findall(kades.text)
    assert listed == [road, drain, lamp]  # the most supported first until the village decides
    await kades.press(f"rk:dn:{short(road)}")
    assert CODE_RE.findall(kades.text) == [drain, road, lamp]
    await kades.send("3 1 2")  # lamp, drain, road
    assert await kades.state() == rembuk.SUMMARY
    summary = kades.text
    assert today_in_medan().strftime("%d-%m-%Y") in summary
    assert "Balai Kelurahan Pasar Baru" in summary
    assert "42 orang (19 perempuan, 10 pemuda, 2 penyandang disabilitas, 15 lansia)" in summary
    assert "Foto berita acara: 2" in summary
    assert CODE_RE.findall(summary) == [lamp, drain, road]
    assert "Ditolak: 1 · Belum diputuskan: 1" in summary
    confirm = next(p for p in kades.payloads if p.startswith("rb:confirm:"))

    await kades.press(confirm)
    assert "ke Musrenbang Kecamatan, sesuai urutan prioritas desa: 3 usulan" in kades.text
    assert await kades.state() == "idle"

    # The kecamatan's queue holds them, in the village's order, with their village rank.
    async with backend.unit() as s:
        user = await s.officials.official_user("Operator Medan Kota")
        operator = await s.officials.grant(
            user, Role.OPERATOR_KECAMATAN, wilayah_code=MEDAN_KOTA, granted_by=OPERATOR
        )
        queue = await s.queues.page(operator, QueueFilter(Stage.KECAMATAN))
    assert [(r.code, r.village_rank, r.decision) for r in queue.items] == [
        (lamp, 1, "menunggu"), (drain, 2, "menunggu"), (road, 3, "menunggu"),
    ]  # fmt: skip
    async with backend.sessionmaker() as session:
        held = await session.scalar(select(Rembuk))
    assert held is not None and held.confirmed_at is not None
    assert (held.held_on, held.place) == (today_in_medan(), "Balai Kelurahan Pasar Baru")
    assert (held.attendance_total, held.attendance_women, held.attendance_youth) == (42, 19, 10)
    assert (held.attendance_disabled, held.attendance_elderly) == (2, 15)
    assert len(held.minutes_photos) == 2

    # A second confirmation is refused politely and changes nothing.
    events = await count(backend, UsulanEvent)
    await kades.press(confirm)
    assert kades.keys == ["rembuk.already_confirmed"]
    assert await count(backend, UsulanEvent) == events
    actor = await actor_of(backend, kades)
    async with backend.unit() as s:
        with pytest.raises(Conflict):
            await s.rembuk.confirm(actor, held.id)

    # What was not decided stays for the next rembuk.
    assert (await usulan(backend, clinic)).stage == "desa"
    await kades.send("/rembuk")
    assert kades.keys[0] == "rembuk.none_open"


async def test_the_kepala_desa_of_one_desa_cannot_see_or_act_on_another_desa(
    backend: Backend,
) -> None:
    kades_a = await kepala_desa(backend, "900001", PASAR_BARU)
    kades_b = await kepala_desa(backend, "900002", PUSAT_PASAR)
    mine = await send_usulan(
        Resident(backend, "1001"), "Perbaikan jembatan kayu di lingkungan 2",
        "Jembatan kayu lapuk dan berbahaya bagi anak sekolah",
    )  # fmt: skip
    theirs = await send_usulan(
        Resident(backend, "1002"), "Pengaspalan jalan di belakang pasar",
        "Jalan di belakang pasar rusak parah dan berlubang", desa=PUSAT_PASAR,
    )  # fmt: skip

    await kades_a.send("/desa")
    assert "Usulan menunggu ditinjau: 1" in kades_a.text
    await kades_a.press("vm:review")
    assert shown_code(kades_a) == mine
    # A forged press on the other desa's usulan is stale and changes nothing.
    await kades_a.press(f"rv:ok:{short(theirs)}")
    assert kades_a.keys == ["common.stale_button"]
    assert (await usulan(backend, theirs)).decision == "menunggu"
    # Merging into it by typing its code is refused, and it is never offered.
    await kades_a.press(f"rv:merge:{short(mine)}")
    assert f"mg:{short(theirs)}" not in kades_a.payloads
    await kades_a.send(theirs)
    assert f"{theirs} bukan usulan desa/kelurahan Anda" in kades_a.text
    assert {(await usulan(backend, c)).decision for c in (mine, theirs)} == {"menunggu"}
    await kades_a.press("back")
    await kades_a.press(f"rv:skip:{short(mine)}")
    assert theirs not in kades_a.text
    assert "Usulan menunggu ditinjau: 1" in kades_a.text  # back at the menu

    # Kepala desa B sees only their own, and decides it.
    await kades_b.send("/desa")
    assert "Usulan menunggu ditinjau: 1" in kades_b.text
    await kades_b.press("vm:review")
    assert shown_code(kades_b) == theirs
    await kades_b.press(f"rv:ok:{short(theirs)}")
    assert (await usulan(backend, theirs)).decision == "diterima"

    # A's rembuk neither lists nor ranks B's accepted usulan.
    await kades_a.send("/rembuk")
    await kades_a.send("hari ini")
    await kades_a.send("Balai")
    await kades_a.send("10")
    await kades_a.send("5")
    await kades_a.press("skip:rembuk.groups")
    await kades_a.press("skip:rembuk.minutes")
    assert await kades_a.state() == rembuk.RANK
    assert theirs not in kades_a.text
    await kades_a.press(f"rk:up:{short(theirs)}")
    assert kades_a.keys == ["common.stale_button"]
    assert (await usulan(backend, theirs)).village_rank is None


async def test_used_expired_and_unknown_invites_are_refused(backend: Backend) -> None:
    code = await invite(backend)
    first = Resident(backend, "900001")
    await first.send(f"/daftar {code}")
    assert first.keys == ["enrol.welcome", "enrol.can_village"]

    second = Resident(backend, "900002")
    await second.send(f"/daftar {code}")
    assert second.texts == [second.t("enrol.code_used")]
    await second.send(f"/start {code.lower()}")  # the deep link, typed in lower case
    assert second.texts == [second.t("enrol.code_used")]

    expired = await invite(backend, ttl=timedelta(seconds=-1))
    await second.send(f"/daftar {expired}")
    assert second.texts == [second.t("enrol.code_expired")]
    await second.send("/daftar 23456789ABCD")
    assert second.texts == [second.t("enrol.code_unknown")]
    await second.send("/daftar")
    assert second.texts == [second.t("enrol.ask_code")]

    assert await count(backend, Official) == 1
    await second.send("/desa")
    assert second.texts == [second.t("village.only_officials")]
    await second.send("/rembuk")
    assert second.texts == [second.t("village.only_officials")]
    await second.send("/usulan_warga")
    assert second.texts == [second.t("village.only_officials")]

    # A deep link that is no invite is the resident's ordinary start.
    resident = Resident(backend, "1001")
    await resident.send("/start ref_poster")
    assert await resident.state() == "account.consent"


async def test_an_operator_kecamatan_is_told_what_comes_next(backend: Backend) -> None:
    operator = Resident(backend, "900003", language_code="en")
    await operator.send(f"/daftar {await invite(backend, Role.OPERATOR_KECAMATAN, MEDAN_KOTA)}")
    assert "kecamatan operator for Kecamatan Medan Kota" in operator.text
    assert operator.keys == ["enrol.welcome", "enrol.can_alerts"]
    await operator.send("/desa")
    assert operator.keys == ["village.only_officials"]


async def test_stale_and_forged_buttons_in_the_review_change_nothing(backend: Backend) -> None:
    kades = await kepala_desa(backend)
    first = await send_usulan(
        Resident(backend, "1001"), "Perbaikan jembatan kayu di lingkungan 2",
        "Jembatan kayu lapuk dan berbahaya bagi anak sekolah",
    )  # fmt: skip
    second = await send_usulan(
        Resident(backend, "1002"), "Pemasangan lampu jalan di Gang Kenanga",
        "Gang Kenanga gelap gulita pada malam hari", category="lampu_jalan",
    )  # fmt: skip
    await kades.send("/desa")
    await kades.press("vm:review")
    shown = shown_code(kades)
    other = second if shown == first else first

    for forged in (
        f"rv:ok:{short(other)}",  # not the one on screen
        "rv:ok:ZZZZZZZZ",
        f"rv:explode:{short(shown)}",
        "rv:ok",
        "vm:review",  # a button of another step
    ):
        await kades.press(forged)
        assert kades.keys == ["common.stale_button"], forged
    await kades.press(f"rv:no:{short(shown)}")
    await kades.press("rj:not_a_reason")
    assert kades.keys == ["common.stale_button"]
    await kades.press("rj:lainnya")
    await kades.press("skip:village.reject_note")  # 'lainnya' needs a reason written
    assert "wajib" in kades.text
    await kades.press("back")
    await kades.press("back")
    await kades.press(f"rv:merge:{short(shown)}")
    await kades.press("mg:ZZZZZZZZ")
    assert kades.keys == ["common.stale_button"]
    await kades.send("halo")
    assert "Itu bukan kode usulan" in kades.text
    await kades.send(shown)
    assert "tidak bisa digabung ke dirinya sendiri" in kades.text
    await kades.press("back")
    assert shown_code(kades) == shown
    assert {(await usulan(backend, c)).decision for c in (first, second)} == {"menunggu"}

    # Accepting, then pressing the old card's button again, decides nothing twice.
    await kades.press(f"rv:ok:{short(shown)}")
    assert shown_code(kades) == other
    events = await count(backend, UsulanEvent)
    await kades.press(f"rv:ok:{short(shown)}")
    assert kades.keys == ["common.stale_button"]
    assert await count(backend, UsulanEvent) == events

    # Another official decides the one on screen first: a polite word, then the next.
    actor = await actor_of(backend, kades)
    async with backend.unit() as s:
        await s.workflow.decide(actor, other, DecisionRequest(Stage.DESA, Decision.DITERIMA))
    await kades.press(f"rv:fix:{short(other)}")
    await kades.send("Mohon dilengkapi ukurannya.")
    assert f"{other} baru saja diputuskan oleh petugas lain" in kades.text
    assert (await usulan(backend, other)).decision == "diterima"


async def test_a_rembuk_needs_its_details_and_cannot_be_confirmed_twice_from_an_old_summary(
    backend: Backend,
) -> None:
    kades = await kepala_desa(backend)
    code = await send_usulan(
        Resident(backend, "1001"), "Perbaikan jembatan kayu di lingkungan 2",
        "Jembatan kayu lapuk dan berbahaya bagi anak sekolah",
    )  # fmt: skip
    await kades.send("/desa")
    await kades.press("vm:review")
    await kades.press(f"rv:ok:{short(code)}")

    await kades.send("/rembuk")
    await kades.send("31-02-2026")
    assert kades.keys[0] == "rembuk.date_invalid"
    await kades.send("20/11")
    assert f"20-11-{today_in_medan().year}" in kades.text
    await kades.send("/batal")
    assert "yang sudah tersimpan tetap aman" in kades.text

    # The rembuk stays open: /rembuk shows its summary, with what is still missing.
    await kades.send("/rembuk")
    assert await kades.state() == rembuk.SUMMARY
    confirm = next(p for p in kades.payloads if p.startswith("rb:confirm:"))
    await kades.press(confirm)
    assert kades.keys[0] == "rembuk.missing_details"
    assert await kades.state() == rembuk.PLACE
    await kades.send("Masjid Al-Ikhlas")
    assert await kades.state() == rembuk.SUMMARY
    await kades.press(confirm)
    assert kades.keys[0] == "rembuk.missing_attendance"
    await kades.send("30")
    await kades.send("40")
    assert kades.keys[0] == "rembuk.more_than_total"
    await kades.send("12")
    await kades.send("lansia 31")
    assert kades.keys[0] == "rembuk.more_than_total"
    await kades.send("lansia 8")
    assert await kades.state() == rembuk.SUMMARY
    assert "30 orang (12 perempuan, 8 lansia)" in kades.text

    # Someone else confirms it meanwhile (the village operator, through the API).
    actor = await actor_of(backend, kades)
    async with backend.unit() as s:
        current = await s.rembuk.current(actor)
        assert current is not None
        await s.rembuk.confirm(actor, current.id)
    await kades.press(confirm)
    assert kades.keys == ["rembuk.already_confirmed"]
    assert (await usulan(backend, code)).stage == "kecamatan"
    assert await count(backend, UsulanEvent, UsulanEvent.kind == "diteruskan") == 1


async def test_a_kepala_desa_submits_for_a_resident_without_a_phone(backend: Backend) -> None:
    kades = await kepala_desa(backend)
    await kades.send("/usulan_warga")
    assert "Kelurahan Pasar Baru" in kades.text
    assert await kades.state() == village.RESIDENT_NAME
    await kades.send("Mbah Karto")
    await kades.send("nomor saya lupa")
    assert kades.keys[0] == "village.phone_invalid"
    await kades.send("0812-3456-7890")
    assert await kades.state() == intake.LOCATION  # the desa is the kepala desa's own
    await walk_to(kades, intake.SUMMARY)
    assert "Atas nama warga: Mbah Karto · HP: 081234567890" in kades.text
    # The summary says whose usulan it is: the resident's, entered by the kepala desa.
    assert kades.texts[-1].startswith(kades.t("summary.title_on_behalf", name="Mbah Karto"))
    assert kades.t("summary.title") not in kades.text
    assert "edit:desa" not in kades.payloads
    await kades.press("edit:desa")
    assert kades.keys == ["common.stale_button"]
    await kades.press("submit")
    assert "Usulan atas nama Mbah Karto sudah tercatat" in kades.text
    code = CODE_RE.search(kades.text)
    assert code is not None

    row = await usulan(backend, code.group(0))
    assert row.origin == Origin.KEPALA_DESA.value
    assert (row.submitter_name, row.submitter_phone) == ("Mbah Karto", "081234567890")
    assert row.desa_code == PASAR_BARU
    actor = await actor_of(backend, kades)
    async with backend.unit() as s:
        queue = await s.queues.page(actor, QueueFilter(Stage.DESA))
    assert [(r.code, r.submitter_name) for r in queue.items] == [(row.code, "Mbah Karto")]


async def test_every_reason_code_has_a_button_label_in_every_language() -> None:
    for code in REASON_CODES:
        for lang in locales.LANGUAGES:
            assert locales.has(lang, f"button.reason.{code}"), (lang, code)
            assert locales.has(lang, f"reason.{code}"), (lang, code)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hari ini", date(2026, 11, 23)),
        ("Today", date(2026, 11, 23)),
        ("kemarin", date(2026, 11, 22)),
        ("20-11-2026", date(2026, 11, 20)),
        ("20/11", date(2026, 11, 20)),
        ("5.1.27", date(2027, 1, 5)),
        ("20 November 2026", date(2026, 11, 20)),
        ("3 agustus", date(2026, 8, 3)),
        ("31-02-2026", None),
        ("besok lusa", None),
        ("2026-11-20", None),
    ],
)
def test_a_rembuk_date_is_read_the_way_people_write_it(text: str, expected: date | None) -> None:
    assert parse_date(text, date(2026, 11, 23)) == expected


def test_attendance_groups_and_a_typed_order_are_read() -> None:
    assert parse_groups("pemuda 10, disabilitas 2, lansia 15") == {
        "youth": 10, "disabled": 2, "elderly": 15,
    }  # fmt: skip
    assert parse_groups("10 pemuda; lansia: 3 orang") == {"youth": 10, "elderly": 3}
    assert parse_groups("youth 4, elderly 1") == {"youth": 4, "elderly": 1}
    assert parse_groups("banyak sekali") is None
    assert parse_groups("anak 4") is None
    assert parse_order("3 1 2", 3) == [3, 1, 2]
    assert parse_order("2, 1", 3) == [2, 1]
    assert parse_order("3 3 1", 3) is None
    assert parse_order("4 1", 3) is None
    assert parse_order("satu dua", 3) is None


async def test_the_officials_commands_are_not_in_the_residents_menu() -> None:
    from handlers.dispatch import COMMAND_ALIASES, MENU_COMMANDS

    assert "dukung" in MENU_COMMANDS
    for official in ("daftar", "desa", "rembuk", "usulan_warga"):
        assert COMMAND_ALIASES[official] == official and official not in MENU_COMMANDS
