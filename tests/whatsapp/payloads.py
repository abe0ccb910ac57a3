"""Webhook payloads in the shape Meta posts them, and a check of that shape.

The shapes follow the real payloads vendored in tests/data/whatsapp_updates (pywa's test data):
``object: whatsapp_business_account``, one entry per WhatsApp Business Account, one change per
field, and for the ``messages`` field a value with ``metadata``, ``contacts`` and ``messages``
or ``statuses``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "SAMPLES_DIR",
    "BusinessNumber",
    "Identity",
    "Person",
    "check_envelope",
    "meta_json",
    "sample_update",
    "sample_updates",
]

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data" / "whatsapp_updates"

# Which of a person's ids a payload carries: newer payloads have the business-scoped user id
# beside wa_id, a user with a username shows only the former, older payloads only the latter.
Identity = Literal["both", "wa_id", "user_id"]


@dataclass(frozen=True, slots=True)
class BusinessNumber:
    """The business phone number the stand-in plays."""

    waba_id: str
    phone_number_id: str
    display_phone_number: str

    def metadata(self) -> dict[str, str]:
        return {
            "display_phone_number": self.display_phone_number,
            "phone_number_id": self.phone_number_id,
        }


@dataclass(slots=True)
class Person:
    """A WhatsApp user as the stand-in knows them."""

    wa_id: str
    user_id: str
    name: str
    last_inbound: float | None = None  # when they last wrote: opens the 24-hour window
    pair_tokens: float = 0.0  # per-user pacing (error 131056)
    pair_at: float | None = None

    def contact(self, identity: Identity) -> dict[str, Any]:
        contact: dict[str, Any] = {"profile": {"name": self.name}}
        if identity in ("both", "wa_id"):
            contact["wa_id"] = self.wa_id
        if identity in ("both", "user_id"):
            contact["user_id"] = self.user_id
        return contact

    def sender(self, identity: Identity) -> dict[str, str]:
        """The sender fields of one inbound message (``from`` is the wa_id)."""
        fields: dict[str, str] = {}
        if identity in ("both", "wa_id"):
            fields["from"] = self.wa_id
        if identity in ("both", "user_id"):
            fields["from_user_id"] = self.user_id
        return fields


def business_scoped_id(wa_id: str) -> str:
    """A stable business-scoped user id for a phone number, in Meta's ``CC.digits`` form."""
    digest = int.from_bytes(hashlib.sha256(wa_id.encode()).digest()[:8], "big")
    return f"ID.{digest:020d}"


def envelope(
    number: BusinessNumber, value: dict[str, Any], field: str = "messages"
) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": number.waba_id,
                "changes": [
                    {
                        "value": {"messaging_product": "whatsapp", "metadata": number.metadata()}
                        | value,
                        "field": field,
                    }
                ],
            }
        ],
    }


def meta_json(payload: dict[str, Any]) -> bytes:
    """Serialise as Meta does: ASCII only, with ``/`` escaped, so a receiver that checks the
    signature over re-serialised JSON instead of the raw body fails here as it would there."""
    text = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/").encode()


# ---------------------------------------------------------------------- the shape check


def check_envelope(payload: Any) -> list[str]:
    """Why ``payload`` is not a webhook body as Meta sends it (empty when it is)."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        return ["object must be 'whatsapp_business_account'"]
    entries = payload.get("entry")
    if not isinstance(entries, list) or not entries:
        return ["entry must be a non-empty list"]
    problems: list[str] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            problems.append(f"entry[{i}] needs a string id")
            continue
        changes = entry.get("changes")
        if not isinstance(changes, list) or not changes:
            problems.append(f"entry[{i}].changes must be a non-empty list")
            continue
        for j, change in enumerate(changes):
            where = f"entry[{i}].changes[{j}]"
            if not isinstance(change, dict) or not isinstance(change.get("field"), str):
                problems.append(f"{where} needs a field name")
            elif not isinstance(change.get("value"), dict):
                problems.append(f"{where} needs a value object")
            elif change["field"] in ("messages", "smb_message_echoes"):
                problems.extend(f"{where}.value{p}" for p in _check_messages_value(change["value"]))
    return problems


def _check_messages_value(value: dict[str, Any]) -> Iterator[str]:
    if value.get("messaging_product") != "whatsapp":
        yield ".messaging_product must be 'whatsapp'"
    metadata = value.get("metadata")
    if not isinstance(metadata, dict) or not all(
        isinstance(metadata.get(k), str) for k in ("display_phone_number", "phone_number_id")
    ):
        yield ".metadata needs display_phone_number and phone_number_id"
    for k, contact in enumerate(value.get("contacts", [])):
        if not (isinstance(contact.get("wa_id"), str) or isinstance(contact.get("user_id"), str)):
            yield f".contacts[{k}] needs wa_id or user_id"
    for k, msg in enumerate(value.get("messages", []) + value.get("message_echoes", [])):
        yield from (f".messages[{k}]{p}" for p in _check_message(msg))
    for k, status in enumerate(value.get("statuses", [])):
        for key in ("id", "status", "timestamp", "recipient_id"):
            if not isinstance(status.get(key), str):
                yield f".statuses[{k}].{key} must be a string"
    if not any(k in value for k in ("messages", "statuses", "message_echoes", "errors")):
        yield " carries no messages, statuses or errors"


def _check_message(msg: dict[str, Any]) -> Iterator[str]:
    for key in ("id", "timestamp", "type"):
        if not isinstance(msg.get(key), str):
            yield f".{key} must be a string"
    if isinstance(msg.get("timestamp"), str) and not msg["timestamp"].isdigit():
        yield ".timestamp must be Unix seconds"
    if not any(isinstance(msg.get(k), str) for k in ("from", "from_user_id")):
        yield " needs from or from_user_id"
    kind = msg.get("type")
    if kind not in ("unsupported", "system", "interactive") and kind not in msg:
        yield f" has type {kind!r} but no {kind!r} object"


# ---------------------------------------------------------------------- vendored samples


def sample_update(file: str, name: str) -> dict[str, Any]:
    """One named example from a vendored fixture file (``sample_update("message", "text")``)."""
    path = SAMPLES_DIR / (file if file.endswith(".json") else f"{file}.json")
    examples: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return examples[name]


def sample_updates() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every vendored example as (file stem, example name, payload)."""
    for path in sorted(SAMPLES_DIR.glob("*.json")):
        for name, payload in json.loads(path.read_text(encoding="utf-8")).items():
            yield path.stem, name, payload
