"""A WhatsApp person is found by either of their ids, and forgotten by both when they ask."""

from __future__ import annotations

from backend.services.wiring import Backend

WA_ID, USER_ID = "6281234567890", "ID.00000000000000000042"


async def test_either_id_finds_the_person_and_erasure_forgets_both(backend: Backend) -> None:
    async with backend.unit() as services:
        first = await services.users.identify(
            "whatsapp", {"user_id": None, "wa_id": WA_ID}, chat_id=WA_ID
        )
        both = await services.users.identify(
            "whatsapp", {"user_id": USER_ID, "wa_id": WA_ID}, chat_id=WA_ID
        )
        alone = await services.users.identify(
            "whatsapp", {"user_id": USER_ID, "wa_id": None}, chat_id=None
        )
        assert first == both == alone
        assert alone.chat_id == WA_ID  # the phone number learned before is where to answer
        user = await services.users.find("whatsapp", first.external_id)
        assert user is not None
        await services.users.erase_personal_data(user.id)
    async with backend.unit() as services:
        again = await services.users.identify(
            "whatsapp", {"user_id": USER_ID, "wa_id": WA_ID}, chat_id=WA_ID
        )
        fresh = await services.users.find("whatsapp", again.external_id)
    assert fresh is not None and fresh.id != user.id  # starts afresh, as on Telegram
