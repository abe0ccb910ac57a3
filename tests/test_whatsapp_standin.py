"""Tests of the WhatsApp Cloud API stand-in itself, driven through pywa where possible: pywa
sends the requests the channel will send, and parses the webhooks the stand-in posts."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from pywa_async import WhatsApp, errors, types
from pywa_async.types.templates import BodyText, QuickReplyButton, TemplateLanguage

from tests.whatsapp import CloudApiStandIn, FakeClock
from tests.whatsapp.fixtures import wa_clock, wa_standin
from tests.whatsapp.payloads import SAMPLES_DIR, check_envelope, sample_updates
from tests.whatsapp.spec import BROKEN_EXAMPLES, load_spec

__all__ = ["wa_clock", "wa_standin"]  # fixtures used by name below

WARGA = "6281234567890"
TETANGGA = "6285298765432"
DAY = 24 * 3600


@pytest.fixture
async def wa(wa_standin: CloudApiStandIn) -> AsyncIterator[WhatsApp]:
    """A pywa client on the stand-in, as the channel will configure it."""
    session = httpx.AsyncClient()
    client = WhatsApp(
        phone_id=wa_standin.number.phone_number_id,
        token=wa_standin.token,
        session=session,
        api_version="23.0",
        server=None,
        verify_token=wa_standin.verify_token,
        app_secret=wa_standin.app_secret,
        filter_updates=False,
    )
    session.base_url = wa_standin.graph_url  # pywa pins Meta's host; the channel's API URL
    yield client
    await session.aclose()


class Receiver:
    """A webhook endpoint that checks and parses updates with pywa, as the channel may."""

    def __init__(self, client: WhatsApp) -> None:
        self.client = client
        self.updates: list[Any] = []
        self.raw_bodies: list[bytes] = []
        for register in (
            client.on_message, client.on_callback_button, client.on_callback_selection,
            client.on_message_status, client.on_edited_message, client.on_deleted_message,
            client.on_phone_number_change,
        ):  # fmt: skip
            register()(self._keep)

    async def _keep(self, _: WhatsApp, update: Any) -> None:
        self.updates.append(update)

    async def post(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.raw_bodies.append(body)
        signature = request.headers.get("X-Hub-Signature-256")
        refused = await self.client.webhook_update_validator(body, signature)
        if refused:
            return web.Response(text=refused[0], status=refused[1])
        text, status = await self.client.webhook_update_handler(body)
        return web.Response(text=text, status=status)

    async def get(self, request: web.Request) -> web.Response:
        challenge, status = await self.client.webhook_challenge_handler(
            request.query.get("hub.verify_token"), request.query.get("hub.challenge")
        )
        return web.Response(text=challenge or "", status=status)


@pytest.fixture
async def receiver(wa_standin: CloudApiStandIn, wa: WhatsApp) -> AsyncIterator[Receiver]:
    hook = Receiver(wa)
    app = web.Application()
    app.router.add_post("/whatsapp/webhook", hook.post)
    app.router.add_get("/whatsapp/webhook", hook.get)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    wa_standin.webhook_url = f"http://127.0.0.1:{port}/whatsapp/webhook"
    yield hook
    await runner.cleanup()


async def raw_send(
    standin: CloudApiStandIn, body: dict[str, Any], *, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        resp = await http.post(
            f"{standin.graph_url}/{standin.number.phone_number_id}/messages",
            json=body,
            headers={"Authorization": f"Bearer {token or standin.token}"},
        )
        return resp.status_code, resp.json()


def interactive(kind: str, action: dict[str, Any], **parts: Any) -> dict[str, Any]:
    body = {"type": kind, "body": {"text": "Pilih salah satu"}, "action": action} | parts
    return {"messaging_product": "whatsapp", "to": WARGA, "type": "interactive",
            "interactive": body}  # fmt: skip


def buttons(*titles: str, ids: list[str] | None = None) -> dict[str, Any]:
    ids = ids or [f"b{i}" for i in range(len(titles))]
    pairs = zip(ids, titles, strict=True)
    return interactive(
        "button", {"buttons": [{"type": "reply", "reply": {"id": i, "title": t}} for i, t in pairs]}
    )


def row_list(
    rows: int = 3, *, title: str = "Jalan", description: str = "d", row_id: str = "r",
    button: str = "Pilih", sections: int = 1, section_title: str | None = "Kategori",
) -> dict[str, Any]:  # fmt: skip
    made = [
        {**({} if section_title is None else {"title": section_title}),
         "rows": [{"id": f"{row_id}{s}-{i}", "title": title, "description": description}
                  for i in range(rows)]}
        for s in range(sections)
    ]  # fmt: skip
    return interactive("list", {"button": button, "sections": made})


def text(body: str) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "to": WARGA, "type": "text", "text": {"body": body}}


# ---------------------------------------------------------------- the specification


def test_every_meta_example_validates_after_the_errata() -> None:
    spec = load_spec()
    examples = spec.request_examples()
    assert len(examples) >= 50
    for name, body in examples.items():
        errs = spec.read_receipt_errors(body) if "status" in body else spec.message_errors(body)
        if name in BROKEN_EXAMPLES:
            assert errs, f"{name} now validates: drop it from BROKEN_EXAMPLES"
        else:
            assert errs == [], f"Meta's example {name!r} refused: {errs}"


def test_schema_refuses_unknown_fields_and_wrong_types() -> None:
    spec = load_spec()
    assert spec.message_errors(text("halo")) == []
    assert "'colour' was unexpected" in spec.message_errors(text("a") | {"colour": 1})[0]
    nested = text("a") | {"text": {"body": "a", "bold": True}}
    assert "'bold' was unexpected" in spec.message_errors(nested)[0]
    assert "is not one of" in spec.message_errors(text("a") | {"type": "poll"})[0]
    assert (
        "'to' is a required property"
        in spec.message_errors(
            {"messaging_product": "whatsapp", "type": "text", "text": {"body": "a"}}
        )[0]
    )
    assert spec.operation("POST", "/v23.0/123/messages") == "/{Version}/{Phone-Number-ID}/messages"
    assert spec.operation("POST", "/v23.0/123/mesages") is None


# ---------------------------------------------------------------- sending through pywa


async def test_valid_messages_from_pywa_are_accepted_and_recorded(
    wa_standin: CloudApiStandIn, wa: WhatsApp
) -> None:
    wa_standin.open_window(WARGA)
    wa_standin.add_template("status_usulan", body_params=2, buttons=1)
    sent = await wa.send_message(WARGA, "Usulan diterima")
    await wa.send_message(
        WARGA, "Lanjut?", buttons=[types.Button("Ya", "ya"), types.Button("Batal", "batal")]
    )
    rows = [types.SectionRow(title=f"Kategori {i}", callback_data=f"k{i}") for i in range(10)]
    await wa.send_message(
        WARGA, "Pilih kategori", buttons=types.SectionList("Pilih", [types.Section("Bidang", rows)])
    )
    await wa.request_location(WARGA, "Kirim lokasi usulan")
    await wa.send_location(WARGA, 3.583412, 98.67223, name="Kantor Lurah", address="Jl. Melati")
    media = await wa.upload_media(b"\xff\xd8\xff\xe0jpeg", mime_type="image/jpeg", filename="a.jpg")
    await wa.send_image(WARGA, media, caption="Foto lokasi")
    await wa.send_image(WARGA, "https://example.org/jalan.jpg")
    template = await wa.send_template(
        WARGA, "status_usulan", TemplateLanguage.INDONESIAN,
        params=[BodyText.params("ABCD-EFGH", "diterima"),
                QuickReplyButton.params(callback_data="lihat:ABCD-EFGH", index=0)],
    )  # fmt: skip

    wa_standin.assert_no_violations()
    assert sent.id.startswith("wamid.") and sent.input == WARGA
    assert template.id.startswith("wamid.")
    kinds = [c.message_type or c.kind for c in wa_standin.calls]
    assert kinds == ["text", "interactive", "interactive", "interactive", "location",
                     "media_upload", "image", "image", "template"]  # fmt: skip
    assert wa_standin.sent_texts(WARGA) == [
        "Usulan diterima", "Lanjut?", "Pilih kategori", "Kirim lokasi usulan", "Foto lokasi",
        "template:status_usulan",
    ]  # fmt: skip
    last = wa_standin.messages_to(WARGA, kind="interactive")[-1]["interactive"]
    assert last["type"] == "location_request_message"
    assert len(wa_standin.messages_to(WARGA)) == 8


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (text("a" * 4097), 100, "at most 4096 characters"),
        (text(""), 100, "text['body'] is required"),
        (buttons("A", "B", "C", "D"), 131009, "Max allowed buttons: 3"),
        (buttons("x" * 21), 131009, "Button title length invalid"),
        (buttons("A", ids=["i" * 257]), 131009, "Button ID length invalid"),
        (buttons("A", "A"), 131009, "Button titles must be unique"),
        (buttons("A", "B", ids=["x", "x"]), 131009, "Button IDs must be unique"),
        (row_list(11), 131009, "Total row count exceed max allowed count: 10"),
        (row_list(5, sections=3), 131009, "Total row count exceed"),
        (row_list(title="t" * 25), 131009, "Row title length invalid"),
        (row_list(description="d" * 73), 131009, "Row description length invalid"),
        (row_list(row_id="r" * 200), 131009, "Row ID length invalid"),
        (row_list(button="b" * 21), 131009, "Button text length invalid"),
        (row_list(section_title="s" * 25), 131009, "Section title length invalid"),
        (row_list(2, sections=2, section_title=None), 131009, "Section title is required"),
        (row_list(sections=11, rows=0), 131009, "Invalid number of sections"),
        (
            buttons("A")
            | {
                "interactive": buttons("A")["interactive"]
                | {"header": {"type": "text", "text": "h" * 61}}
            },
            131009,
            "Header text length invalid",
        ),  # fmt: skip
        (
            buttons("A")
            | {"interactive": buttons("A")["interactive"] | {"footer": {"text": "f" * 61}}},
            131009,
            "Footer text length invalid",
        ),  # fmt: skip
        (
            buttons("A")
            | {"interactive": buttons("A")["interactive"] | {"body": {"text": "b" * 1025}}},
            131009,
            "Body text length invalid",
        ),  # fmt: skip
        (
            interactive(
                "location_request_message",
                {"name": "send_location"},
                header={"type": "text", "text": "Lokasi"},
            ),
            131009,
            "takes no header",
        ),  # fmt: skip
        (text("a") | {"colour": "red"}, 100, "'colour' was unexpected"),
        (text("a") | {"recipient_type": "group"}, 131009, "without groups"),
        (text("a") | {"to": "ID.123456"}, 100, "must be a phone number"),
        (
            {
                "messaging_product": "whatsapp",
                "to": WARGA,
                "type": "audio",
                "audio": {"link": "https://x.id/a.ogg", "caption": "c"},
            },
            100,
            "caption",
        ),  # fmt: skip
        (
            {
                "messaging_product": "whatsapp",
                "to": WARGA,
                "type": "image",
                "image": {"id": "424242"},
            },
            131053,
            "never uploaded",
        ),  # fmt: skip
        (
            {
                "messaging_product": "whatsapp",
                "to": WARGA,
                "type": "image",
                "image": {"link": "https://x.id/a.jpg", "caption": "c" * 1025},
            },
            100,
            "1024",
        ),  # fmt: skip
    ],
)
async def test_each_limit_is_refused_with_metas_code_and_recorded(
    wa_standin: CloudApiStandIn, body: dict[str, Any], code: int, fragment: str
) -> None:
    wa_standin.open_window(WARGA)
    status, answer = await raw_send(wa_standin, body)

    assert status == 400
    error = answer["error"]
    assert error["code"] == code and error["type"] == "OAuthException"
    assert error["message"].startswith(f"(#{code}) ")
    assert fragment in error["error_data"]["details"]
    assert error["error_data"]["messaging_product"] == "whatsapp" and error["fbtrace_id"]
    assert len(wa_standin.violations) == 1 and fragment in wa_standin.violations[0]
    assert wa_standin.calls[-1].status == 400 and wa_standin.calls[-1].code == code
    wa_standin.violations.clear()  # seen; the fixture checks nothing else went wrong


@pytest.mark.parametrize(
    "body",
    [
        text("a" * 4096),
        buttons("x" * 20, "B", "C", ids=["i" * 256, "j", "k"]),
        row_list(
            10,
            title="t" * 24,
            description="d" * 72,
            row_id="r" * 190,
            button="b" * 20,
            section_title="s" * 24,
        ),  # fmt: skip
        row_list(5, sections=2),
        interactive("location_request_message", {"name": "send_location"}),
        {
            "messaging_product": "whatsapp",
            "to": "+62 812-3456-7890",
            "type": "image",
            "image": {"link": "https://x.id/a.jpg", "caption": "c" * 1024},
        },  # fmt: skip
    ],
)
async def test_messages_at_the_limits_are_accepted(
    wa_standin: CloudApiStandIn, body: dict[str, Any]
) -> None:
    wa_standin.open_window(WARGA)
    status, answer = await raw_send(wa_standin, body)
    assert status == 200, answer
    assert answer["contacts"] == [{"input": body["to"], "wa_id": WARGA}]


async def test_pywa_raises_the_exception_meta_codes_map_to(
    wa_standin: CloudApiStandIn, wa: WhatsApp
) -> None:
    wa_standin.open_window(WARGA)
    with pytest.raises(errors.InvalidParameter, match="Button title length"):
        await wa.send_message(WARGA, "Pilih", buttons=[types.Button("x" * 21, "a")])
    assert len(wa_standin.violations) == 1
    wa_standin.violations.clear()


async def test_wrong_token_phone_id_path_and_version_are_violations(
    wa_standin: CloudApiStandIn,
) -> None:
    status, answer = await raw_send(wa_standin, text("a"), token="EAAT-WRONG")
    assert status == 401 and answer["error"]["code"] == 190
    async with httpx.AsyncClient(base_url=wa_standin.base_url) as http:
        auth = {"Authorization": f"Bearer {wa_standin.token}"}
        resp = await http.post("/v23.0/555/messages", json=text("a"), headers=auth)
        assert resp.status_code == 400
        assert resp.json()["error"]["error_subcode"] == 33
        resp = await http.post(f"/v23.0/{wa_standin.number.phone_number_id}/mesages", headers=auth)
        assert resp.json()["error"]["code"] == 2500
        resp = await http.get(f"/v23.0/{wa_standin.number.phone_number_id}", headers=auth)
        assert "does not serve it" in resp.json()["error"]["error_data"]["details"]
        wa_standin.open_window(WARGA)
        resp = await http.post(
            f"/v26.0/{wa_standin.number.phone_number_id}/messages", json=text("a"), headers=auth
        )
        assert resp.status_code == 200  # Meta serves it; the stand-in checked it against v23.0
    assert len(wa_standin.violations) == 5
    assert "API version v26.0" in wa_standin.violations[-1]
    with pytest.raises(AssertionError, match="5 Cloud API call"):
        wa_standin.assert_no_violations()
    wa_standin.violations.clear()


# ---------------------------------------------------------------- window and templates


async def test_free_form_only_within_24_hours_of_the_users_last_message(
    wa_standin: CloudApiStandIn, wa_clock: FakeClock, wa: WhatsApp, receiver: Receiver
) -> None:
    wa_standin.add_template("status_usulan", body_params=1)
    with pytest.raises(errors.ReEngagementMessage):
        await wa.send_message(WARGA, "Belum pernah menulis")
    assert wa_standin.calls[-1].code == 131047
    wa_standin.violations.clear()

    assert await wa_standin.post_webhook(wa_standin.text_message(WARGA, "halo")) == 200
    wa_clock.advance(DAY - 1)
    await wa.send_message(WARGA, "Masih dalam 24 jam")
    wa_clock.advance(2)
    with pytest.raises(errors.ReEngagementMessage):
        await wa.send_message(WARGA, "Lewat 24 jam")
    assert len(wa_standin.violations) == 1 and "131047" in wa_standin.violations[0]
    wa_standin.violations.clear()

    await wa.send_template(
        WARGA, "status_usulan", TemplateLanguage.INDONESIAN, params=[BodyText.params("diterima")]
    )
    reply = wa_standin.quick_reply(WARGA, "lihat", "Lihat status")  # answers the template
    assert reply["entry"][0]["changes"][0]["value"]["messages"][0]["context"]["id"]
    assert await wa_standin.post_webhook(reply) == 200
    await wa.send_message(WARGA, "Jendela terbuka lagi")
    assert wa_standin.window_open(WARGA) and not wa_standin.window_open(TETANGGA)


@pytest.mark.parametrize(
    ("name", "language", "params", "code"),
    [
        ("tidak_ada", "id", ["a"], 132001),
        ("status_usulan", "fr", ["a"], 132001),
        ("status_usulan", "id", ["a", "b"], 132000),
        ("status_usulan", "id", ["baris\nbaru"], 132018),
        ("dijeda", "id", [], 132015),
    ],
)
async def test_templates_are_checked_against_the_approved_ones(
    wa_standin: CloudApiStandIn, name: str, language: str, params: list[str], code: int
) -> None:
    wa_standin.add_template("status_usulan", body_params=1)
    wa_standin.add_template("dijeda", status="PAUSED")
    components = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}]
    body = {
        "messaging_product": "whatsapp",
        "to": WARGA,
        "type": "template",
        "template": {"name": name, "language": {"code": language}, "components": components},
    }
    status, answer = await raw_send(wa_standin, body)
    assert answer["error"]["code"] == code
    assert status == (404 if code == 132001 else 400)
    assert len(wa_standin.violations) == 1
    wa_standin.violations.clear()


# ---------------------------------------------------------------- rates


async def test_per_number_throughput_counts_inbound_and_answers_130429(
    wa_standin: CloudApiStandIn, wa_clock: FakeClock, wa: WhatsApp, receiver: Receiver
) -> None:
    wa_standin.set_limits(per_second=3)
    for user in (WARGA, TETANGGA):
        await wa_standin.post_webhook(wa_standin.text_message(user, "halo"))
    await wa.send_message(WARGA, "satu")
    with pytest.raises(errors.RateLimitHit):
        await wa.send_message(TETANGGA, "dua")  # two inbound + one outbound fill the second
    assert [c.code for c in wa_standin.rate_limited] == [130429]
    assert wa_standin.violations == []  # pacing errors are answered, not blamed
    wa_clock.advance(1.0)
    await wa.send_message(TETANGGA, "dua")


async def test_pair_rate_allows_a_burst_then_one_message_per_6_seconds(
    wa_standin: CloudApiStandIn, wa_clock: FakeClock, wa: WhatsApp
) -> None:
    wa_standin.set_limits(pair_burst=3)
    wa_standin.open_window(WARGA)
    wa_standin.open_window(TETANGGA)
    for i in range(3):
        await wa.send_message(WARGA, f"pesan {i}")
    with pytest.raises(errors.TooManyMessages):
        await wa.send_message(WARGA, "terlalu cepat")
    await wa.send_message(TETANGGA, "pengguna lain tidak terpengaruh")
    wa_clock.advance(6.0)
    await wa.send_message(WARGA, "setelah 6 detik")
    with pytest.raises(errors.TooManyMessages):
        await wa.send_message(WARGA, "lagi terlalu cepat")
    assert [c.code for c in wa_standin.rate_limited] == [131056, 131056]


async def test_meta_default_pair_burst_is_45(wa_standin: CloudApiStandIn, wa: WhatsApp) -> None:
    wa_standin.open_window(WARGA)
    for i in range(45):
        await wa.send_message(WARGA, f"pesan {i}")
    with pytest.raises(errors.TooManyMessages):
        await wa.send_message(WARGA, "pesan 46")


# ---------------------------------------------------------------- failures on demand


async def test_fail_next_answers_metas_error_once_without_blaming_the_client(
    wa_standin: CloudApiStandIn, wa: WhatsApp
) -> None:
    wa_standin.open_window(WARGA)
    wa_standin.add_template("status_usulan")
    wa_standin.fail_next("messages", 503, 131016)
    with pytest.raises(errors.ServiceUnavailable):
        await wa.send_message(WARGA, "coba")
    await wa.send_message(WARGA, "coba lagi")
    wa_standin.fail_next("template", code=131026, count=2)
    await wa.send_message(WARGA, "teks tidak terpengaruh")
    for _ in range(2):
        with pytest.raises(errors.MessageUndeliverable):
            await wa.send_template(WARGA, "status_usulan", TemplateLanguage.INDONESIAN)
    await wa.send_template(WARGA, "status_usulan", TemplateLanguage.INDONESIAN)
    wa_standin.fail_next("/media", 500, 131000)
    with pytest.raises(errors.UnknownError):
        await wa.upload_media(b"\x89PNG", mime_type="image/png", filename="a.png")
    wa_standin.fail_next("messages", code=130429)
    with pytest.raises(errors.RateLimitHit):
        await wa.send_message(WARGA, "dibatasi")
    assert [c.status for c in wa_standin.calls] == [503, 200, 200, 400, 400, 200, 500, 400]
    assert [c.code for c in wa_standin.calls if c.code] == [131016, 131026, 131026, 131000, 130429]
    assert wa_standin.violations == []
    assert wa_standin.rate_limited == []  # asked for, not caused by the client's pace
    with pytest.raises(ValueError, match="unknown kind"):
        wa_standin.fail_next("sendMessage", 400, 100)


# ---------------------------------------------------------------- media and read receipts


async def test_media_upload_url_and_download_round_trip(
    wa_standin: CloudApiStandIn, wa: WhatsApp
) -> None:
    content = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8
    uploaded = await wa.upload_media(content, mime_type="image/jpeg", filename="jalan.jpg")
    url = await wa.get_media_url(uploaded.id)
    assert url.mime_type == "image/jpeg" and url.sha256 == hashlib.sha256(content).hexdigest()
    assert int(url.file_size) == len(content)  # a string, as the spec answers it
    assert await wa.get_media_bytes(url.url) == content

    inbound = wa_standin.image_message(WARGA, b"\xff\xd8photo", caption="Jalan rusak")
    media_id = inbound["entry"][0]["changes"][0]["value"]["messages"][0]["image"]["id"]
    served = await wa.get_media_url(media_id)
    assert await wa.get_media_bytes(served.url) == b"\xff\xd8photo"
    kinds = [c.kind for c in wa_standin.calls]
    assert kinds == ["media_upload", "media_url", "media_download", "media_url", "media_download"]

    async with httpx.AsyncClient() as http:
        assert (await http.get(served.url)).status_code == 401  # no bearer token
    assert await wa.delete_media(media_id)
    with pytest.raises(errors.WhatsAppError):
        await wa.get_media_url(media_id)
    assert len(wa_standin.violations) == 2
    wa_standin.violations.clear()


async def test_uploads_outside_metas_media_types_and_sizes_are_refused(
    wa_standin: CloudApiStandIn, wa: WhatsApp
) -> None:
    with pytest.raises(errors.MediaUploadError, match="supported types"):
        await wa.upload_media(b"GIF89a", mime_type="image/gif", filename="a.gif")
    with pytest.raises(errors.MediaUploadError, match="image files"):
        await wa.upload_media(b"\xff" * (5 * 1024 * 1024 + 1), mime_type="image/jpeg",
                              filename="big.jpg")  # fmt: skip
    assert len(wa_standin.violations) == 2
    wa_standin.violations.clear()


async def test_read_receipts_only_for_received_messages(
    wa_standin: CloudApiStandIn, wa: WhatsApp, receiver: Receiver
) -> None:
    payload = wa_standin.text_message(WARGA, "halo")
    await wa_standin.post_webhook(payload)
    wamid = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    assert await wa.mark_message_as_read(wamid)
    assert await wa.indicate_typing(wamid)
    assert wa_standin.read_receipts == [wamid, wamid]
    with pytest.raises(errors.WhatsAppError):
        await wa.mark_message_as_read("wamid.never-received")
    assert len(wa_standin.violations) == 1
    wa_standin.violations.clear()


# ---------------------------------------------------------------- webhooks


async def test_signed_webhooks_verify_and_parse_with_pywa(
    wa_standin: CloudApiStandIn, receiver: Receiver
) -> None:
    u = WARGA
    s = wa_standin
    cases: list[tuple[dict[str, Any], type, str]] = [
        (s.text_message(u, "Jalan rusak di https://maps.id/x ✓"), types.Message, "text"),
        (s.button_reply(u, "ya", "Ya", replied_to="wamid.x"), types.CallbackButton, "interactive"),
        (
            s.list_reply(u, "k1", "Jalan", description="Jalan rusak", replied_to="wamid.x"),
            types.CallbackSelection,
            "interactive",
        ),  # fmt: skip
        (
            s.quick_reply(u, "lihat", "Lihat status", replied_to="wamid.t"),
            types.CallbackButton,
            "button",
        ),  # fmt: skip
        (s.location_message(u, 3.583412, 98.67223), types.Message, "location"),
        (
            s.location_message(u, 3.58, 98.67, place="Pasar Baru", address="Jl. Melati"),
            types.Message,
            "location",
        ),  # fmt: skip
        (s.image_message(u, b"\xff\xd8x", caption="foto"), types.Message, "image"),
        (s.audio_message(u), types.Message, "audio"),
        (s.audio_message(u, voice=False), types.Message, "audio"),
        (s.video_message(u), types.Message, "video"),
        (s.document_message(u), types.Message, "document"),
        (s.sticker_message(u), types.Message, "sticker"),
        (s.contacts_message(u, [("Budi Santoso", "+62 812 1111 2222")]), types.Message, "contacts"),
        (s.reaction_message(u, "wamid.x"), types.Message, "reaction"),
        (s.reaction_message(u, "wamid.x", ""), types.Message, "reaction"),
        (s.unsupported_message(u), types.Message, "unsupported"),
        (s.edit_message(u, "wamid.a", "diubah"), types.EditedMessage, "text"),
        (s.revoke_message(u, "wamid.a"), types.DeletedMessage, "revoke"),
        (s.system_message(u, "6289900001111"), types.PhoneNumberChange, "system"),
    ]
    parsed: list[Any] = []
    for payload, expected, kind in cases:
        receiver.updates.clear()
        assert check_envelope(payload) == []
        assert await s.post_webhook(payload) == 200
        await s.wait_for(lambda _: receiver.updates)
        (update,) = receiver.updates
        assert isinstance(update, expected), (kind, update)
        assert str(update.type) == kind
        parsed.append(update)
    assert parsed[0].text == "Jalan rusak di https://maps.id/x ✓"
    assert parsed[0].from_user.wa_id == WARGA
    assert parsed[0].from_user.bsuid == s.person(WARGA).user_id
    assert parsed[1].data == "ya" and parsed[2].data == "k1"
    assert parsed[4].location.latitude == 3.583412
    assert parsed[6].image.id in s.media and parsed[6].caption == "foto"


async def test_the_signature_covers_the_raw_body_as_meta_escapes_it(
    wa_standin: CloudApiStandIn, receiver: Receiver
) -> None:
    payload = wa_standin.text_message(WARGA, "Jalan rusak di https://maps.id/x ✓")
    assert await wa_standin.post_webhook(payload) == 200
    (body,) = receiver.raw_bodies
    assert b"\\/" in body and b"\\u2713" in body  # only the raw bytes verify
    digest = hmac.new(wa_standin.app_secret.encode(), body, hashlib.sha256).hexdigest()
    assert wa_standin.signature(body) == f"sha256={digest}"
    reserialised = json.dumps(json.loads(body)).encode()
    assert wa_standin.signature(reserialised) != wa_standin.signature(body)
    assert json.loads(body) == payload
    assert wa_standin.webhooks[-1].status == 200 and wa_standin.webhooks[-1].payload == payload


async def test_wrong_or_missing_signature_is_refused_by_the_receiver(
    wa_standin: CloudApiStandIn, receiver: Receiver
) -> None:
    payload = wa_standin.text_message(WARGA, "halo")
    assert await wa_standin.post_webhook(payload, secret="bukan-rahasia") == 403
    assert await wa_standin.post_webhook(payload, signature="") == 401
    assert receiver.updates == []
    with pytest.raises(ValueError, match="not a webhook payload"):
        await wa_standin.post_webhook({"object": "page", "entry": []})


async def test_subscription_handshake(wa_standin: CloudApiStandIn, receiver: Receiver) -> None:
    assert await wa_standin.verify_subscription(challenge="987654") == (200, "987654")
    status, _ = await wa_standin.verify_subscription(verify_token="salah")
    assert status == 403


async def test_status_webhooks_for_sent_messages(
    wa_standin: CloudApiStandIn, wa: WhatsApp, receiver: Receiver
) -> None:
    wa_standin.open_window(WARGA)
    sent = await wa.send_message(WARGA, "Usulan diterima")
    for status in ("sent", "delivered", "read"):
        receiver.updates.clear()
        assert await wa_standin.post_webhook(wa_standin.status_update(sent.id, status)) == 200
        await wa_standin.wait_for(lambda _: receiver.updates)
        (update,) = receiver.updates
        assert isinstance(update, types.MessageStatus)
        assert update.id == sent.id and str(update.status) == status
    receiver.updates.clear()
    failed = wa_standin.status_update(sent.id, "failed", code=131047)
    assert await wa_standin.post_webhook(failed) == 200
    await wa_standin.wait_for(lambda _: receiver.updates)
    (update,) = receiver.updates
    assert isinstance(update.error, errors.ReEngagementMessage)
    with pytest.raises(ValueError, match="not a message the stand-in accepted"):
        wa_standin.status_update("wamid.unknown", "read")


def test_payloads_carry_one_or_both_ids_as_asked(wa_standin: CloudApiStandIn) -> None:
    person = wa_standin.person(WARGA, name="Siti")
    shapes = {}
    for identity in ("both", "wa_id", "user_id"):
        value = wa_standin.text_message(WARGA, "halo", identity=identity)["entry"][0]["changes"][0][
            "value"
        ]
        assert check_envelope(wa_standin.text_message(WARGA, "x", identity=identity)) == []
        shapes[identity] = (value["contacts"][0], value["messages"][0])
    assert shapes["both"][0]["wa_id"] == WARGA and shapes["both"][0]["user_id"] == person.user_id
    assert shapes["both"][1]["from"] == WARGA
    assert shapes["both"][1]["from_user_id"] == person.user_id
    assert "user_id" not in shapes["wa_id"][0] and "from_user_id" not in shapes["wa_id"][1]
    assert "wa_id" not in shapes["user_id"][0] and "from" not in shapes["user_id"][1]
    assert person.user_id.startswith("ID.") and shapes["both"][0]["profile"]["name"] == "Siti"


def test_several_images_arrive_as_separate_webhooks_or_together(
    wa_standin: CloudApiStandIn,
) -> None:
    apart = wa_standin.image_messages(WARGA, [b"a", b"b", b"c"], caption="tiga foto")
    together = wa_standin.image_messages(WARGA, [b"a", b"b"], together=True)
    assert len(apart) == 3 and len(together) == 1
    msgs = [p["entry"][0]["changes"][0]["value"]["messages"][0] for p in apart]
    assert msgs[0]["image"]["caption"] == "tiga foto" and "caption" not in msgs[1]["image"]
    assert len({m["image"]["id"] for m in msgs}) == 3
    assert all(m["image"]["id"] in wa_standin.media for m in msgs)
    assert len(together[0]["entry"][0]["changes"][0]["value"]["messages"]) == 2


def test_every_vendored_fixture_is_a_valid_envelope() -> None:
    found = list(sample_updates())
    assert len({stem for stem, _, _ in found}) == 19 and len(found) == 74
    for stem, name, payload in found:
        assert check_envelope(payload) == [], (stem, name)
    assert (SAMPLES_DIR / "LICENSE").read_text().startswith("MIT License")
    assert CloudApiStandIn.sample_update("message", "text")["entry"][0]["changes"][0]["value"][
        "messages"
    ][0]["text"] == {"body": "Body Text"}


async def test_fixtures_posted_to_the_receiver_open_the_window_and_can_be_marked_read(
    wa_standin: CloudApiStandIn, wa: WhatsApp, receiver: Receiver
) -> None:
    payload = wa_standin.sample_update("message", "text")
    assert await wa_standin.post_webhook(payload) == 200
    await wa_standin.wait_for(lambda _: receiver.updates)
    sender = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    assert wa_standin.window_open(sender["from"])
    assert await wa.mark_message_as_read(sender["id"])
