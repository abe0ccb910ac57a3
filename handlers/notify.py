"""Outbox rows -> what the recipient reads. Rendered at send time, in their language.

Several changes for one person that are due together arrive as one message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handlers.events import Button, Msg, Say

RESIDENT_TEMPLATES = {"notify.decision", "notify.forwarded"}


def _decision(params: Mapping[str, Any]) -> tuple[list[Msg], list[Button]]:
    code = params["code"]
    decision = params["decision"]
    parts = [
        Msg(
            "notify.decision",
            {
                "code": code,
                "stage": Msg(f"stage.{params['stage']}"),
                "decision": Msg(f"decision.{decision}"),
            },
        )
    ]
    if params.get("reason_code"):
        parts.append(Msg("notify.reason", {"reason": Msg(f"reason.{params['reason_code']}")}))
    if params.get("note"):
        parts.append(Msg("notify.note", {"note": params["note"]}))
    if params.get("next_stage"):
        parts.append(Msg("notify.next_stage", {"stage": Msg(f"stage.{params['next_stage']}")}))
    buttons: list[Button] = []
    if decision == "perlu_perbaikan" and params.get("submitter"):
        parts.append(Msg("notify.fix_hint", {"code": code}))
        buttons.append(Button(Msg("button.fix"), f"fix:{code.replace('-', '')}"))
    elif decision in {"ditolak", "ditunda", "digabung"}:
        parts.append(Msg(f"notify.after.{decision}", {"code": code}))
    return parts, buttons


def _forwarded(params: Mapping[str, Any]) -> list[Msg]:
    parts = [
        Msg(
            "notify.forwarded",
            {
                "code": params["code"],
                "stage": Msg(f"stage.{params['stage']}"),
                "next_stage": Msg(f"stage.{params['next_stage']}"),
            },
        )
    ]
    if params.get("village_rank"):
        parts.append(Msg("notify.village_rank", {"rank": params["village_rank"]}))
    return parts


def _queue_received(params: Mapping[str, Any]) -> list[Msg]:
    desa = params.get("desa") or []
    return [
        Msg(
            "alert.queue_received",
            {
                "count": params["count"],
                "desa": ", ".join(desa[:5]) + ("…" if len(desa) > 5 else ""),
                "stage": Msg(f"stage.{params['stage']}"),
            },
        )
    ]


def _digest(params: Mapping[str, Any]) -> list[Msg]:
    parts = [Msg("alert.digest")]
    for stage, count in params.get("queues") or []:
        parts.append(Msg("alert.digest_queue", {"stage": Msg(f"stage.{stage}"), "count": count}))
    if params.get("oldest"):
        parts.append(Msg("alert.digest_oldest", {"date": params["oldest"]}))
    return parts


def _deadline(params: Mapping[str, Any]) -> list[Msg]:
    return [
        Msg(
            "alert.deadline",
            {
                "stage": Msg(f"stage.{params['stage']}"),
                "deadline": params["deadline"],
                "days": params["days"],
                "count": params["count"],
            },
        )
    ]


def render(template: str, params: Mapping[str, Any]) -> tuple[list[Msg], list[Button]]:
    if template == "notify.decision":
        return _decision(params)
    if template == "notify.forwarded":
        return _forwarded(params), []
    if template == "alert.queue_received":
        return _queue_received(params), []
    if template == "alert.digest":
        return _digest(params), []
    if template == "alert.deadline":
        return _deadline(params), []
    return [Msg(template, params)], []


def combine(items: Sequence[tuple[str, Mapping[str, Any]]]) -> Say:
    """One message for everything due for one person: each item a paragraph."""
    parts: list[Msg] = []
    buttons: list[Button] = []
    for template, params in items:
        item_parts, item_buttons = render(template, params)
        parts.extend(item_parts)
        buttons.extend(b for b in item_buttons if b not in buttons)
    if len(items) > 1:
        parts.insert(0, Msg("notify.several", {"count": len(items)}))
    return Say(parts=tuple(parts), buttons=tuple((b,) for b in buttons[:5]))
