"""Voice notes at a text step: the bot says what it heard, and the resident decides.

A step that takes free text declares itself with `listens_at(state, field)`. A voice note
there is heard before the unit of work opens (the channel does it, see `events.prepared`);
the step hands it to `hear`, which moves to HEARD: "Saya mendengar: ..." with three buttons,
use it, type a corrected version, or record again. Used (or corrected) text goes through
the step exactly as if typed, and the draft remembers that it came from a voice note, with
the note itself, so the usulan records the transcript as a transcript.
"""

from __future__ import annotations

from typing import Any

from backend.domain import MAX_AUDIO_SECONDS
from backend.errors import AudioRejected
from backend.services.wiring import Services
from handlers.events import Audio, Button, ButtonPress, Event, Incoming, Msg, Reply, Text, say
from handlers.steps import STEPS, Ctx, prompt_of, stale_button, step, unexpected

HEARD = "voice.heard"
USE, EDIT, AGAIN = "voice:use", "voice:edit", "voice:again"
SHOWN_CHARS = 3000  # of a transcript in the message; Telegram's limit is 4096 in all

VOICE_STEPS: dict[str, str] = {}  # state -> the draft field its text fills


def listens_at(state: str, field: str) -> None:
    VOICE_STEPS[state] = field


async def listens(incoming: Incoming, services: Services) -> str | None:
    """The person's language if their conversation would take a voice note now, else None.
    Asked by a channel before it spends seconds of CPU on one (and says "listening")."""
    sender = incoming.sender
    user = await services.users.find(sender.channel, sender.external_id)
    if user is None:
        return None
    conversation = await services.conversations.load(user.id)
    wanted = conversation.state in VOICE_STEPS or conversation.state == HEARD
    return user.language if wanted else None


def forget(ctx: Ctx, field: str) -> None:
    """The field was typed: it no longer comes from a voice note."""
    voice = ctx.draft.get("voice")
    if isinstance(voice, dict):
        voice.pop(field, None)
        if not voice:
            ctx.draft.pop("voice", None)


async def hear(ctx: Ctx, event: Audio) -> list[Reply]:
    """A voice note at a voice step (or at HEARD): show the transcript, or say why not."""
    back_to = ctx.state if ctx.state in VOICE_STEPS else ctx.data.get("heard", {}).get("step")
    if back_to not in VOICE_STEPS:
        return unexpected(ctx, event)
    try:
        heard = await event.load()  # heard before the transaction opened
    except AudioRejected as exc:
        ctx.conversation.state = back_to
        ctx.data.pop("heard", None)
        refusal = say(Msg(f"voice.rejected.{exc.reason}", {"max": MAX_AUDIO_SECONDS}))
        return [refusal, *prompt_of(ctx)]
    ctx.data["heard"] = {
        "step": back_to,
        "text": heard.text,
        "audio": {
            "sha256": heard.audio.sha256,
            "seconds": heard.audio.seconds,
            "bytes": heard.audio.bytes,
        },
    }
    ctx.conversation.state = HEARD
    return prompt_of(ctx)


def _ask_heard(ctx: Ctx) -> list[Reply]:
    heard = ctx.data.get("heard") or {}
    text = str(heard.get("text", ""))[:SHOWN_CHARS]
    if heard.get("editing"):
        return [say(Msg("voice.type_corrected", {"text": text}))]
    buttons = (
        (Button(Msg("button.voice_use"), USE),),
        (Button(Msg("button.voice_edit"), EDIT), Button(Msg("button.voice_again"), AGAIN)),
    )
    return [say(Msg("voice.heard", {"text": text}), buttons=buttons)]


@step(HEARD, _ask_heard)
async def on_heard(ctx: Ctx, event: Event) -> list[Reply]:
    heard: dict[str, Any] | None = ctx.data.get("heard")
    if heard is None or heard.get("step") not in VOICE_STEPS:
        ctx.data.pop("heard", None)
        ctx.reset()
        return [say("common.idle_hint", clear_keyboard=True)]
    if isinstance(event, Audio):
        return await hear(ctx, event)
    if isinstance(event, Text):  # a corrected version, typed (with or without Ubah)
        return await _use(ctx, heard, event.text, edited=True)
    if not isinstance(event, ButtonPress):
        return unexpected(ctx, event)
    if event.payload == USE:
        return await _use(ctx, heard, str(heard["text"]), edited=False)
    if event.payload == EDIT:
        heard["editing"] = True
        return prompt_of(ctx)
    if event.payload == AGAIN:
        ctx.data.pop("heard", None)
        ctx.conversation.state = heard["step"]
        return [say(Msg("voice.record_again", {"max": MAX_AUDIO_SECONDS}))]
    return stale_button()


async def _use(ctx: Ctx, heard: dict[str, Any], text: str, *, edited: bool) -> list[Reply]:
    """The text goes through its step as if typed; kept as a transcript if the step took it."""
    back_to = str(heard["step"])
    field = VOICE_STEPS[back_to]
    ctx.conversation.state = back_to
    replies = await STEPS[back_to].handle(ctx, Text(text))
    if ctx.draft.get(field) != text.strip():
        # Refused (too long, too short): the transcript stays on offer, to correct or redo.
        ctx.conversation.state = HEARD
        return [*replies, *prompt_of(ctx)]
    ctx.data.pop("heard", None)
    marker = {**heard["audio"], "transcript": heard["text"], "edited": edited}
    ctx.draft.setdefault("voice", {})[field] = marker
    return replies
