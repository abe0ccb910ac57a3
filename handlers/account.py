"""Consent (UU PDP 27/2022), language, and deleting one's personal data."""

from __future__ import annotations

import json
from dataclasses import replace

from handlers import intake, support
from handlers.events import Button, ButtonPress, Document, Event, Msg, Reply, say
from handlers.steps import Ctx, prompt_of, stale_button, step, unexpected

CONSENT = "account.consent"
DELETE = "account.delete"
CANCEL = "account.cancel"

LANGUAGE_NAMES = {"id": "Bahasa Indonesia", "en": "English"}


def _ask_consent(ctx: Ctx) -> list[Reply]:
    return [
        say(
            "account.welcome",
            "account.privacy",
            buttons=(
                (Button(Msg("button.consent_yes"), "consent:yes"),),
                (Button(Msg("button.consent_no"), "consent:no"),),
            ),
        )
    ]


@step(CONSENT, _ask_consent)
async def on_consent(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, ButtonPress):
        if event.payload == "consent:yes":
            await ctx.services.users.record_consent(ctx.user.id, ctx.incoming.sender.display_name)
            pending = ctx.data.get("then_support")
            if pending:  # consent was asked on the way to /dukung KODE
                ctx.reset()
                ctx.user = replace(ctx.user, consented=True)
                return [say("account.consent_thanks"), *await support.support_code(ctx, pending)]
            return [say("account.consent_thanks"), *intake.begin(ctx)]
        if event.payload == "consent:no":
            ctx.reset()
            return [say("account.consent_declined")]
        return stale_button()
    return unexpected(ctx, event)


def consent_then_support(ctx: Ctx, code: str) -> list[Reply]:
    """/dukung from someone who has not agreed to the privacy terms yet: ask first."""
    ctx.conversation.data = {"then_support": code.strip()[:20]}
    return ctx.go(CONSENT)


def start(ctx: Ctx) -> list[Reply]:
    if ctx.state.startswith("intake."):
        return [
            say(
                "intake.draft_exists",
                buttons=(
                    (Button(Msg("button.draft_resume"), "draft:resume"),),
                    (Button(Msg("button.draft_new"), "draft:new"),),
                ),
            )
        ]
    if not ctx.user.consented:
        return ctx.go(CONSENT)
    return [say("account.welcome_back"), *intake.begin(ctx)]


def on_draft_choice(ctx: Ctx, payload: str) -> list[Reply]:
    if not ctx.state.startswith("intake."):
        return stale_button()
    if payload == "draft:new":
        return intake.begin(ctx)
    ctx.data.pop("editing", None)
    return prompt_of(ctx)


def choose_language() -> list[Reply]:
    rows = tuple((Button(name, f"lang:{code}"),) for code, name in LANGUAGE_NAMES.items())
    return [say("account.choose_language", buttons=rows)]


async def set_language(ctx: Ctx, code: str) -> list[Reply]:
    if code not in LANGUAGE_NAMES:
        return stale_button()
    await ctx.services.users.set_language(ctx.user.id, code)
    ctx.user = replace(ctx.user, language=code)
    # Confirmed once, in the chat; the button's toast stays silent.
    return [say("account.language_set"), *prompt_of(ctx)]


def _ask_delete(ctx: Ctx) -> list[Reply]:
    return [
        say(
            "account.delete_confirm",
            buttons=(
                (Button(Msg("button.delete_yes"), "delete:yes"),),
                (Button(Msg("button.delete_no"), "delete:no"),),
            ),
        )
    ]


def ask_delete(ctx: Ctx) -> list[Reply]:
    if ctx.state != DELETE:  # asked twice: still return to where the person was
        ctx.data["return_to"] = ctx.state
    return ctx.go(DELETE)


@step(DELETE, _ask_delete)
async def on_delete(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, ButtonPress):
        if event.payload == "delete:yes":
            recordings = await ctx.services.users.erase_personal_data(ctx.user.id)
            await ctx.services.media.forget_audio(recordings)
            ctx.reset()
            return [say("account.deleted", clear_keyboard=True)]
        if event.payload == "delete:no":
            ctx.conversation.state = ctx.data.pop("return_to", None) or "idle"
            return [say("account.delete_kept"), *prompt_of(ctx)]
        return stale_button()
    return unexpected(ctx, event)


async def toggle_notifications(ctx: Ctx) -> list[Reply]:
    """/notifikasi: mute the news about one's usulan, or hear it again."""
    muted = not ctx.user.notifications_muted
    await ctx.services.delivery.set_muted(ctx.user.id, muted)
    ctx.user = replace(ctx.user, notifications_muted=muted)
    return [
        say("account.notifications_muted" if muted else "account.notifications_on"),
        *prompt_of(ctx),
    ]


async def my_data(ctx: Ctx) -> list[Reply]:
    """/data_saya (UU PDP): everything held about the person, readable and as a JSON file."""
    held = await ctx.services.users.personal_data(ctx.user.id)
    profile = held["profile"]
    none = Msg("summary.empty")
    summary = Msg(
        "account.my_data",
        {
            "name": profile["name"] or none,
            "phone": profile["phone"] or none,
            "language": LANGUAGE_NAMES.get(profile["language"], profile["language"]),
            "consent": (profile["consent_given"] or "")[:10] or none,
            "usulan": len(held["usulan"]),
            "codes": ", ".join(u["code"] for u in held["usulan"]) or none,
            "support": len(held["support"]),
            "notifications": len(held["notifications"]),
        },
    )
    document = Document(
        filename="data-saya.json",
        data=json.dumps(held, ensure_ascii=False, indent=2, default=str).encode(),
        caption=Msg("account.my_data_file"),
    )
    return [say(summary), document, *prompt_of(ctx)]


def _ask_cancel(ctx: Ctx) -> list[Reply]:
    return [
        say(
            "common.cancel_confirm",
            buttons=(
                (Button(Msg("button.cancel_yes"), "cancel:yes"),),
                (Button(Msg("button.cancel_no"), "cancel:no"),),
            ),
        )
    ]


def cancel(ctx: Ctx) -> list[Reply]:
    """/batal: a conversation with nothing typed yet ends at once; one holding what the
    person wrote asks once before throwing it away (a second /batal means yes)."""
    if ctx.state == CANCEL:
        return _cancelled(ctx)
    if not ctx.data.get("draft") and not ctx.data.get("revise"):
        return _cancelled(ctx)
    ctx.data["return_to"] = ctx.state
    return ctx.go(CANCEL)


def _cancelled(ctx: Ctx) -> list[Reply]:
    ctx.reset()
    return [say("common.cancelled", clear_keyboard=True)]


@step(CANCEL, _ask_cancel)
async def on_cancel(ctx: Ctx, event: Event) -> list[Reply]:
    if isinstance(event, ButtonPress):
        if event.payload == "cancel:yes":
            return _cancelled(ctx)
        if event.payload == "cancel:no":
            ctx.conversation.state = ctx.data.pop("return_to", None) or "idle"
            return [say("common.cancel_kept"), *prompt_of(ctx)]
        return stale_button()
    return unexpected(ctx, event)
