"""The one entry point of every conversation: an `Incoming` in, `Reply` objects out.

Commands and a few global buttons work from every state (/batal, /bantuan, /bahasa, ...);
everything else goes to the step the person is at.
"""

from __future__ import annotations

import logging

from backend.services.conversations import IDLE
from backend.services.intake import normalise_code
from backend.services.wiring import Services
from handlers import account, enrol, intake, rembuk, status, support, village
from handlers.events import (
    ButtonPress,
    Command,
    Incoming,
    Msg,
    Outcome,
    Photo,
    Reply,
    Text,
    say,
)
from handlers.steps import STEPS, Ctx, prompt_of, stale_button

log = logging.getLogger(__name__)

# Indonesian names first (they are what the menu shows); English aliases for English readers.
COMMAND_ALIASES = {
    "start": "start",
    "mulai": "start",
    "batal": "batal",
    "cancel": "batal",
    "bantuan": "bantuan",
    "help": "bantuan",
    "bahasa": "bahasa",
    "language": "bahasa",
    "status": "status",
    "usulan_saya": "usulan_saya",
    "my": "usulan_saya",
    "hapus_data": "hapus_data",
    "notifikasi": "notifikasi",
    "notifications": "notifikasi",
    "delete_my_data": "hapus_data",
    "data_saya": "data_saya",
    "my_data": "data_saya",
    "dukung": "dukung",
    "support": "dukung",
    "daftar": "daftar",
    "enrol": "daftar",
    "desa": "desa",
    "village": "desa",
    "rembuk": "rembuk",
    "usulan_warga": "usulan_warga",
    "on_behalf": "usulan_warga",
}

# Shown in the channel's command menu (Telegram's setMyCommands), in this order.
# Officials' commands (/daftar, /desa, /rembuk, /usulan_warga) work but stay out of the menu.
MENU_COMMANDS = (
    "start",
    "usulan_saya",
    "status",
    "dukung",
    "notifikasi",
    "bahasa",
    "data_saya",
    "bantuan",
    "batal",
)


async def handle(incoming: Incoming, services: Services) -> Outcome:
    sender = incoming.sender
    user = await services.users.get_or_create(
        channel=sender.channel,
        external_id=sender.external_id,
        chat_id=sender.chat_id,
        language_hint=sender.language_code,
    )
    conversation = await services.conversations.load(user.id)
    ctx = Ctx(services, user, conversation, incoming)
    replies = await _route(ctx)
    await services.conversations.save(user.id, ctx.conversation)
    return Outcome(replies=replies, language=ctx.user.language)


async def _route(ctx: Ctx) -> list[Reply]:
    event = ctx.incoming.event
    if isinstance(event, Command):
        return await _command(ctx, event)
    if isinstance(event, ButtonPress):
        if event.payload.startswith("lang:"):
            return await account.set_language(ctx, event.payload.removeprefix("lang:"))
        if event.payload.startswith("draft:"):
            return account.on_draft_choice(ctx, event.payload)
        if event.payload.startswith("fix:"):  # Perbaiki, from /usulan_saya or a notification
            return await support.start_revision(ctx, event.payload.removeprefix("fix:"))
        if event.payload.startswith("rb:confirm:") and ctx.state != rembuk.SUMMARY:
            return await rembuk.confirm_button(ctx, event.payload)
    if (
        isinstance(event, Photo)
        and event.media_group_id is not None
        and event.media_group_id == ctx.data.get("last_album")
        and ctx.state != intake.PHOTOS
    ):
        return []  # the rest of an album larger than the photo limit
    current = STEPS.get(ctx.state)
    if current is None:
        if ctx.state != IDLE:
            log.warning("conversation in unknown state %r reset", ctx.state)
            ctx.reset()
        return await _idle(ctx)
    return await current.handle(ctx, event)


async def _idle(ctx: Ctx) -> list[Reply]:
    event = ctx.incoming.event
    if isinstance(event, ButtonPress):
        return stale_button()
    if isinstance(event, Text) and normalise_code(event.text):
        return await status.status(ctx, event.text)  # a code typed alone: look it up
    return [say("common.idle_hint", clear_keyboard=True)]


async def _command(ctx: Ctx, command: Command) -> list[Reply]:
    name = COMMAND_ALIASES.get(command.name)
    if name == "start":
        if command.args and enrol.looks_like_invite(command.args):
            return await enrol.claim(ctx, command.args)  # an official's deep link
        return account.start(ctx)
    if name == "batal":
        if ctx.state == IDLE:
            return [say("common.nothing_to_cancel", clear_keyboard=True)]
        return account.cancel(ctx)
    if name == "bantuan":
        extra = ["village.help"] if await enrol.village_actor(ctx) else []
        return [say("common.help", *extra), *prompt_of(ctx)]
    if name == "bahasa":
        return account.choose_language()
    if name == "status":
        return await status.status(ctx, command.args)
    if name == "usulan_saya":
        return await status.mine(ctx)
    if name == "hapus_data":
        return account.ask_delete(ctx)
    if name == "data_saya":
        return await account.my_data(ctx)
    if name == "notifikasi":
        return await account.toggle_notifications(ctx)
    if name == "dukung":
        if command.args.strip() and not ctx.user.consented:
            return account.consent_then_support(ctx, command.args)
        return await support.support_code(ctx, command.args)
    if name == "daftar":
        return await enrol.claim(ctx, command.args)
    if name == "desa":
        return await village.desa(ctx)
    if name == "rembuk":
        return await rembuk.command(ctx)
    if name == "usulan_warga":
        return await village.on_behalf(ctx)
    return [say(Msg("common.unknown_command", {"command": command.name[:32]})), *prompt_of(ctx)]
