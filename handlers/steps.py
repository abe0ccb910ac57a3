"""What a conversation step sees, and the table of steps.

A step is declared once with the state name it serves. It can `prompt` (ask its question) and
`handle` an event; handling returns the replies and, through `Ctx.go`, the next state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from backend.services.conversations import IDLE, ConversationState
from backend.services.users import UserView
from backend.services.wiring import Services
from handlers.events import (
    Audio,
    Event,
    Incoming,
    Msg,
    Notice,
    Photo,
    Reply,
    Say,
    Unsupported,
    say,
)

PromptFn = Callable[["Ctx"], list[Reply]]
HandleFn = Callable[["Ctx", Event], Awaitable[list[Reply]]]


@dataclass(frozen=True)
class Step:
    state: str
    prompt: PromptFn
    handle: HandleFn


STEPS: dict[str, Step] = {}


def step(state: str, prompt: PromptFn) -> Callable[[HandleFn], HandleFn]:
    """Register the handler of `state` together with the question it asks."""

    def register(handle: HandleFn) -> HandleFn:
        if state in STEPS:
            raise RuntimeError(f"state {state} declared twice")
        STEPS[state] = Step(state, prompt, handle)
        return handle

    return register


@dataclass
class Ctx:
    services: Services
    user: UserView
    conversation: ConversationState
    incoming: Incoming

    @property
    def language(self) -> str:
        return self.user.language

    @property
    def state(self) -> str:
        return self.conversation.state

    @property
    def data(self) -> dict[str, Any]:
        return self.conversation.data

    @property
    def draft(self) -> dict[str, Any]:
        return self.conversation.data.setdefault("draft", {})

    def go(self, state: str, *before: Reply) -> list[Reply]:
        """Move to `state`: the replies given, then that state's question."""
        self.conversation.state = state
        return [*before, *prompt_of(self)]

    def reset(self) -> None:
        self.conversation.state = IDLE
        self.conversation.data = {}


def prompt_of(ctx: Ctx) -> list[Reply]:
    current = STEPS.get(ctx.state)
    return current.prompt(ctx) if current else []


def stale_button() -> list[Reply]:
    return [Notice(Msg("common.stale_button"))]


def unexpected(ctx: Ctx, event: Event) -> list[Reply]:
    """Something this step did not ask for: say so kindly and ask the question again."""
    if isinstance(event, Photo) and event.media_group_id is not None:
        if ctx.data.get("last_album") == event.media_group_id:
            return []  # the rest of an album already answered once
        ctx.data["last_album"] = event.media_group_id
    if isinstance(event, Audio):  # the channel listens, but not at this step
        return [say("voice.not_here"), *prompt_of(ctx)]
    kind = event.kind if isinstance(event, Unsupported) else type(event).__name__.lower()
    if isinstance(event, Photo) and "photos" in ctx.data.get("draft", {}):
        kind = "photo_late"  # the photo step is behind: say how to change the photos
    key = f"common.unexpected.{kind}"
    return [say(Msg(key)), *prompt_of(ctx)]


def reprompt(ctx: Ctx, *before: Say | Msg | str) -> list[Reply]:
    replies: list[Reply] = [b if isinstance(b, Say) else say(b) for b in before]
    return [*replies, *prompt_of(ctx)]
