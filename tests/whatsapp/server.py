"""A local HTTP stand-in for the WhatsApp Cloud API (Meta's Graph API).

It serves the Graph API paths a WhatsApp channel uses from 127.0.0.1, so a real client (pywa,
or plain HTTP) pointed at ``standin.graph_url`` talks to it unchanged. Every request is checked
against Meta's OpenAPI description (tests/whatsapp/spec.py) and the limits Meta documents
beside it (tests/whatsapp/limits.py), including the 24-hour customer-service window and the
per-number and per-user rates, and recorded. Refusals are answered in Meta's error shape with
Meta's codes; a refusal caused by a wrong call is also recorded as a violation, so a test fails
on any call Meta would refuse. It also builds inbound webhook payloads in Meta's envelope and
posts them, signed with the app secret, to the service under test.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tests.whatsapp import limits
from tests.whatsapp.payloads import (
    BusinessNumber,
    Identity,
    Person,
    business_scoped_id,
    check_envelope,
    envelope,
    meta_json,
    sample_update,
)
from tests.whatsapp.spec import CloudApiSpec, load_spec

__all__ = ["Call", "CloudApiStandIn", "FakeClock", "Media", "MetaError", "WebhookPost"]

log = logging.getLogger(__name__)

# Meta answers these with (HTTP status, title); the title is the message after "(#code) ".
ERRORS: dict[int, tuple[int, str]] = {
    4: (400, "Application request limit reached"),
    10: (403, "Application does not have permission for this action"),
    100: (400, "Invalid parameter"),
    190: (401, "Invalid OAuth access token - Cannot parse access token"),
    2500: (400, "Unknown path components"),
    130429: (400, "Rate limit hit"),
    130472: (400, "User's number is part of an experiment"),
    131000: (500, "Something went wrong"),
    131005: (403, "Access denied"),
    131008: (400, "Required parameter is missing"),
    131009: (400, "Parameter value is not valid"),
    131016: (503, "Service unavailable"),
    131021: (400, "Recipient cannot be sender"),
    131026: (400, "Message undeliverable"),
    131047: (400, "Re-engagement message"),
    131048: (400, "Spam rate limit hit"),
    131051: (400, "Unsupported message type"),
    131052: (400, "Media download error"),
    131053: (400, "Media upload error"),
    131056: (400, "(Business Account, Consumer Account) pair rate limit hit"),
    132000: (400, "Number of parameters does not match the expected number of params"),
    132001: (404, "Template name does not exist in the translation"),
    132015: (400, "Template is Paused"),
    132016: (400, "Template is Disabled"),
    132018: (400, "There was an issue with the parameters in your template."),
}
_DETAILS = {
    130429: "Cloud API message throughput has been reached.",
    131047: "Message failed to send because more than 24 hours have passed since the customer "
    "last replied to this number.",
    131056: "Message failed to send because there were too many messages sent from this phone "
    "number to the same phone number in a short period of time.",
    131026: "Message Undeliverable.",
    131051: "Message type is not currently supported.",
}

MAX_UPLOAD = 100 * 1024 * 1024
# Upload size caps by media kind (Meta's supported media table); stickers: animated 500 KB.
_MEDIA_TYPES: dict[str, tuple[str, int]] = {
    "image/jpeg": ("image", 5 << 20),
    "image/png": ("image", 5 << 20),
    "image/webp": ("sticker", 500 << 10),
    "audio/aac": ("audio", 16 << 20),
    "audio/amr": ("audio", 16 << 20),
    "audio/mpeg": ("audio", 16 << 20),
    "audio/mp4": ("audio", 16 << 20),
    "audio/ogg": ("audio", 16 << 20),
    "video/mp4": ("video", 16 << 20),
    "video/3gpp": ("video", 16 << 20),
    "text/plain": ("document", 100 << 20),
    "application/pdf": ("document", 100 << 20),
    "application/msword": ("document", 100 << 20),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (
        "document", 100 << 20),
    "application/vnd.ms-excel": ("document", 100 << 20),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("document", 100 << 20),
}  # fmt: skip
WINDOW = 24 * 3600.0
_VERSION_RE = re.compile(r"v\d+\.\d+")
_PHONE_RE = re.compile(r"\+?[0-9][0-9 ()-]{5,20}")
ATTACHMENTS_PATH = "/whatsapp_business/attachments/"


class FakeClock:
    """A clock that moves only when told (seconds since the epoch), for the window and rate
    rules; it starts at the real time so payload timestamps look current to a service."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(slots=True)
class Media:
    id: str
    content: bytes
    mime_type: str
    filename: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(slots=True)
class Call:
    """One Graph API request as the stand-in saw and answered it."""

    kind: str  # message, read, media_upload, media_url, media_download, media_delete, unknown
    method: str
    path: str
    body: Any
    at: float
    to: str | None = None  # wa_id of the recipient of a message
    status: int = 200
    error: dict[str, Any] | None = None  # Meta's error object when refused
    response: Any = None
    media: Media | None = None

    @property
    def code(self) -> int | None:
        return None if self.error is None else int(self.error["code"])

    @property
    def message_type(self) -> str | None:
        if self.kind != "message" or not isinstance(self.body, dict):
            return None
        return str(self.body.get("type", "text"))


@dataclass(slots=True)
class WebhookPost:
    payload: dict[str, Any]
    status: int
    answer: str
    at: float


@dataclass(slots=True)
class _Template:
    status: str
    body_params: int
    buttons: int


@dataclass(slots=True)
class _Failure:
    status: int
    code: int
    details: str | None


class MetaError(Exception):
    """A refusal in Meta's terms; ``violation`` marks a call the client should not have made."""

    def __init__(
        self,
        code: int,
        details: str | None = None,
        *,
        status: int | None = None,
        violation: bool = True,
        paced: bool = False,
        subcode: int | None = None,
        message: str | None = None,
        kind: str = "OAuthException",
    ) -> None:
        default_status, title = ERRORS.get(code, (400, "Error"))
        self.code = code
        self.status = status or default_status
        self.details = details if details is not None else _DETAILS.get(code)
        self.violation = violation
        self.paced = paced  # refused by the stand-in's own rate rules, not by fail_next
        self.subcode = subcode
        self.message = message or f"(#{code}) {title}"
        self.kind = kind
        super().__init__(f"{self.message}: {self.details}" if self.details else self.message)

    def payload(self, trace: str) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.kind, "code": self.code}
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["fbtrace_id"] = trace
        return {"error": error}


class CloudApiStandIn:
    """The WhatsApp Cloud API for one business phone number, served from 127.0.0.1."""

    def __init__(
        self,
        token: str = "EAAT-STANDIN-TOKEN",
        *,
        phone_number_id: str = "109876543210987",
        display_phone_number: str = "6281100000000",
        waba_id: str = "102938475610293",
        app_secret: str = "standin-app-secret",
        verify_token: str = "standin-verify-token",
        clock: Callable[[], float] = time.time,
        spec_path: str | Path | None = None,
    ) -> None:
        self.token = token
        self.number = BusinessNumber(waba_id, phone_number_id, display_phone_number)
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.clock = clock
        self.spec: CloudApiSpec = load_spec(Path(spec_path)) if spec_path else load_spec()
        self.api_version = f"v{self.spec.version.lstrip('v')}"

        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.rate_limited: list[Call] = []
        self.webhooks: list[WebhookPost] = []
        self.webhook_url: str | None = None

        self.media: dict[str, Media] = {}
        self._people: dict[str, Person] = {}  # by wa_id
        self._by_user_id: dict[str, str] = {}  # business-scoped id -> wa_id
        self._inbound: dict[str, str] = {}  # wamid of a user's message -> wa_id
        self._sent: dict[str, Call] = {}  # wamid the stand-in issued -> the call
        self._templates: dict[tuple[str, str], _Template] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._seq = 0

        self.per_second = 80
        self.pair_interval = 6.0
        self.pair_burst = 45
        self._throughput: deque[float] = deque()

        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._base_url: str | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=MAX_UPLOAD + (1 << 20))
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        host, bound_port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{bound_port}"
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._base_url = None

    async def __aenter__(self) -> CloudApiStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """Where Graph API paths start (the client's API URL setting)."""
        if self._base_url is None:
            raise RuntimeError("CloudApiStandIn is not running; await start() first")
        return self._base_url

    @property
    def graph_url(self) -> str:
        """The base URL with the version, as pywa's session ``base_url`` wants it."""
        return f"{self.base_url}/{self.api_version}"

    # ------------------------------------------------------------------ test controls

    def add_template(
        self,
        name: str,
        *,
        languages: tuple[str, ...] = ("id", "en"),
        body_params: int = 0,
        buttons: int = 0,
        status: str = "APPROVED",
    ) -> None:
        """Register a message template as Meta's template manager holds it."""
        for language in languages:
            self._templates[(name, language)] = _Template(status.upper(), body_params, buttons)

    def fail_next(
        self,
        kind: str,
        status: int | None = None,
        code: int = 131000,
        *,
        count: int = 1,
        details: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests of ``kind`` with Meta's error ``code``.

        ``kind`` is ``messages`` (every send), a message type (``text``, ``template``,
        ``interactive``, ...), ``read``, ``media`` (upload), ``media_url``, ``media_download``
        or ``media_delete``; a path such as ``/messages`` or ``/media`` works too."""
        key = kind.strip("/").rsplit("/", 1)[-1]
        known = {"messages", "read", "media", "media_url", "media_download", "media_delete"}
        if key not in known and key not in self.spec.message_types:
            raise ValueError(f"unknown kind {kind!r}: one of {sorted(known)} or a message type")
        http_status = status or ERRORS.get(code, (400, ""))[0]
        queue = self._failures.setdefault(key, deque())
        queue.extend(_Failure(http_status, code, details) for _ in range(count))

    def set_limits(
        self,
        *,
        per_second: int | None = 80,
        pair_interval: float | None = 6.0,
        pair_burst: int = 45,
    ) -> None:
        """Meta's defaults: 80 messages a second per number (inbound counts too) and, per user,
        one message every 6 s after a burst of up to 45. None turns a limit off."""
        self.per_second = per_second or 0
        self.pair_interval = pair_interval or 0.0
        self.pair_burst = pair_burst
        self._throughput.clear()
        for person in self._people.values():
            person.pair_at = None

    def reset(self) -> None:
        """Forget recorded calls, violations, rate-limited calls and webhooks."""
        self.calls.clear()
        self.violations.clear()
        self.rate_limited.clear()
        self.webhooks.clear()

    def assert_no_violations(self) -> None:
        if self.violations:
            listing = "\n".join(f"  - {v}" for v in self.violations)
            raise AssertionError(
                f"{len(self.violations)} Cloud API call(s) Meta would refuse:\n{listing}"
            )

    def add_media(self, content: bytes, mime_type: str, *, filename: str | None = None) -> Media:
        """Store a media object as if a user had sent it (or the business had uploaded it)."""
        media = Media(self._next_numeric_id(), content, mime_type, filename)
        self.media[media.id] = media
        return media

    def person(self, wa_id: str, *, name: str = "Warga", user_id: str | None = None) -> Person:
        """The WhatsApp user with this phone number, created on first use."""
        found = self._people.get(wa_id)
        if found is None:
            found = Person(wa_id, user_id or business_scoped_id(wa_id), name)
            found.pair_tokens = float(self.pair_burst)
            self._people[wa_id] = found
            self._by_user_id[found.user_id] = wa_id
        return found

    def open_window(self, wa_id: str, *, at: float | None = None) -> None:
        """Start the user's 24-hour window as their last message would have."""
        self.person(wa_id).last_inbound = self.clock() if at is None else at

    def window_open(self, wa_id: str) -> bool:
        person = self._people.get(wa_id)
        last = None if person is None else person.last_inbound
        return last is not None and self.clock() - last < WINDOW

    # ------------------------------------------------------------------ what was sent

    def messages_to(self, user: str, *, kind: str | None = None) -> list[dict[str, Any]]:
        """Bodies of the messages accepted for a user (by wa_id or business-scoped id)."""
        wa_id = self._by_user_id.get(user, user)
        return [
            c.body
            for c in self.calls
            if c.kind == "message" and c.status == 200 and c.to == wa_id
            and (kind is None or c.message_type == kind)
        ]  # fmt: skip

    def sent_texts(self, user: str) -> list[str]:
        """What the user reads: text bodies, interactive bodies, captions, template names."""
        texts: list[str] = []
        for body in self.messages_to(user):
            kind = body.get("type", "text")
            part = body.get(kind, {})
            if kind == "text":
                texts.append(part.get("body", ""))
            elif kind == "interactive":
                texts.append(part.get("body", {}).get("text", ""))
            elif kind == "template":
                texts.append(f"template:{part.get('name')}")
            elif isinstance(part, dict) and "caption" in part:
                texts.append(part["caption"])
        return texts

    def last_interactive(self, user: str) -> dict[str, Any] | None:
        """The interactive object of the last message to the user, if it was interactive."""
        bodies = self.messages_to(user)
        if not bodies or bodies[-1].get("type") != "interactive":
            return None
        last: dict[str, Any] = bodies[-1]["interactive"]
        return last

    @property
    def read_receipts(self) -> list[str]:
        """Message ids the client marked as read, in order."""
        return [c.body["message_id"] for c in self.calls if c.kind == "read" and c.status == 200]

    async def wait_for(
        self,
        predicate: Callable[[CloudApiStandIn], Any],
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline argument is the point of this helper
    ) -> None:
        """Wait until ``predicate(self)`` is true, polling every 10 ms."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self)
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s\n{self.describe_calls()}")
            await asyncio.sleep(0.01)

    async def wait_for_calls(
        self,
        n: int,
        kind: str | None = None,
        to: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - same contract as wait_for
    ) -> list[Call]:
        """Wait until at least ``n`` calls match (any status); ``kind`` as in :meth:`Call.kind`
        or a message type."""
        wa_id = None if to is None else self._by_user_id.get(to, to)

        def matching() -> list[Call]:
            return [
                c
                for c in self.calls
                if (kind is None or kind in (c.kind, c.message_type))
                and (wa_id is None or c.to == wa_id)
            ]

        try:
            await self.wait_for(lambda s: len(matching()) >= n, timeout)
        except TimeoutError as exc:
            raise TimeoutError(
                f"expected {n} call(s) of {kind or 'any kind'}"
                f"{'' if to is None else f' to {to}'}, got {len(matching())}: {exc}"
            ) from None
        return matching()

    def describe_calls(self, limit: int = 15) -> str:
        recent = self.calls[-limit:]
        if not recent:
            return "no Cloud API calls recorded"
        lines = []
        for c in recent:
            what = c.message_type or c.kind
            error = f" ({c.error['message']})" if c.error else ""
            lines.append(f"  {c.method} {c.path} {what} to={c.to} status={c.status}{error}")
        return "last calls (oldest first):\n" + "\n".join(lines)

    # ------------------------------------------------------------------ webhooks

    def signature(self, body: bytes, secret: str | None = None) -> str:
        """The ``X-Hub-Signature-256`` value Meta sends with ``body``."""
        key = (self.app_secret if secret is None else secret).encode()
        return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()

    async def post_webhook(
        self,
        payload: dict[str, Any],
        *,
        url: str | None = None,
        secret: str | None = None,
        signature: str | None = None,
        body: bytes | None = None,
    ) -> int:
        """POST a webhook payload as Meta does, signed with the app secret; returns the status.

        ``secret`` signs with another secret, ``signature`` sends that header value as is
        (an empty string sends none), ``body`` sends other bytes than the payload's JSON."""
        target = url or self.webhook_url
        if not target:
            raise RuntimeError("no webhook url: set standin.webhook_url or pass url=")
        if self._client is None:
            raise RuntimeError("CloudApiStandIn is not running; await start() first")
        problems = check_envelope(payload)
        if problems:
            raise ValueError(f"not a webhook payload Meta would send: {problems}")
        raw = meta_json(payload) if body is None else body
        header = self.signature(raw, secret) if signature is None else signature
        headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
        if header:
            headers["X-Hub-Signature-256"] = header
        self._note_inbound(payload)
        async with self._client.post(target, data=raw, headers=headers) as resp:
            answer = await resp.text()
            self.webhooks.append(WebhookPost(payload, resp.status, answer, self.clock()))
            return resp.status

    async def verify_subscription(
        self,
        url: str | None = None,
        *,
        verify_token: str | None = None,
        challenge: str = "1158201444",
        mode: str = "subscribe",
    ) -> tuple[int, str]:
        """The GET handshake Meta makes when the webhook is registered: (status, body)."""
        target = url or self.webhook_url
        if not target or self._client is None:
            raise RuntimeError("needs a running stand-in and a webhook url")
        params = {
            "hub.mode": mode,
            "hub.verify_token": self.verify_token if verify_token is None else verify_token,
            "hub.challenge": challenge,
        }
        sep = "&" if "?" in target else "?"
        async with self._client.get(f"{target}{sep}{urlencode(params)}") as resp:
            return resp.status, await resp.text()

    @staticmethod
    def sample_update(file: str, name: str) -> dict[str, Any]:
        """One of the real payloads vendored in tests/data/whatsapp_updates."""
        return sample_update(file, name)

    def _note_inbound(self, payload: dict[str, Any]) -> None:
        # Meta counts what users send against the number's throughput and opens the window.
        now = self.clock()
        for entry in payload.get("entry", []):
            for change in entry.get("changes", []):
                if change.get("field") != "messages":
                    continue
                value = change.get("value", {})
                for contact in value.get("contacts", []):
                    self._know_contact(contact)
                for msg in value.get("messages", []):
                    wa_id = msg.get("from") or self._by_user_id.get(msg.get("from_user_id", ""))
                    if not isinstance(wa_id, str):
                        continue
                    self._inbound[msg.get("id", "")] = wa_id
                    if msg.get("type") != "system":
                        self.person(wa_id).last_inbound = now
                        self._throughput.append(now)

    def _know_contact(self, contact: dict[str, Any]) -> None:
        wa_id, user_id = contact.get("wa_id"), contact.get("user_id")
        if isinstance(wa_id, str):
            name = contact.get("profile", {}).get("name") or "Warga"
            person = self.person(wa_id, name=name, user_id=user_id)
            if isinstance(user_id, str) and person.user_id != user_id:
                person.user_id = user_id
                self._by_user_id[user_id] = wa_id

    # ------------------------------------------------------------------ inbound payloads

    def _message(
        self,
        wa_id: str,
        kind: str,
        content: dict[str, Any] | None,
        *,
        name: str,
        identity: Identity,
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        person = self.person(wa_id, name=name)
        msg: dict[str, Any] = {}
        if context is not None:
            msg["context"] = context
        msg |= person.sender(identity)
        msg |= {"id": self._next_wamid(), "timestamp": str(int(self.clock())), "type": kind}
        if content is not None:
            msg[kind] = content
        return msg

    def _inbound_payload(
        self, wa_id: str, messages: list[dict[str, Any]], identity: Identity
    ) -> dict[str, Any]:
        contact = self.person(wa_id).contact(identity)
        return envelope(self.number, {"contacts": [contact], "messages": messages})

    def _reply_context(self, replied_to: str | None) -> dict[str, Any] | None:
        if replied_to is None:
            return None
        return {"from": self.number.display_phone_number, "id": replied_to}

    def text_message(
        self,
        wa_id: str,
        body: str,
        *,
        name: str = "Warga",
        identity: Identity = "both",
        replied_to: str | None = None,
        forwarded: bool = False,
    ) -> dict[str, Any]:
        context = self._reply_context(replied_to)
        if forwarded:
            context = {**(context or {}), "forwarded": True}
        msg = self._message(
            wa_id, "text", {"body": body}, name=name, identity=identity, context=context
        )
        return self._inbound_payload(wa_id, [msg], identity)

    def button_reply(
        self,
        wa_id: str,
        button_id: str,
        title: str,
        *,
        replied_to: str | None = None,
        name: str = "Warga",
        identity: Identity = "both",
    ) -> dict[str, Any]:
        """The user tapped a reply button under the message ``replied_to`` (default: the last
        interactive message sent to them)."""
        context = self._button_context(wa_id, replied_to)
        content = {"type": "button_reply", "button_reply": {"id": button_id, "title": title}}
        msg = self._message(
            wa_id, "interactive", content, name=name, identity=identity, context=context
        )
        return self._inbound_payload(wa_id, [msg], identity)

    def list_reply(
        self,
        wa_id: str,
        row_id: str,
        title: str,
        *,
        description: str | None = None,
        replied_to: str | None = None,
        name: str = "Warga",
        identity: Identity = "both",
    ) -> dict[str, Any]:
        context = self._button_context(wa_id, replied_to)
        row: dict[str, Any] = {"id": row_id, "title": title}
        if description is not None:
            row["description"] = description
        content = {"type": "list_reply", "list_reply": row}
        msg = self._message(
            wa_id, "interactive", content, name=name, identity=identity, context=context
        )
        return self._inbound_payload(wa_id, [msg], identity)

    def quick_reply(
        self,
        wa_id: str,
        payload: str,
        text: str,
        *,
        replied_to: str | None = None,
        name: str = "Warga",
        identity: Identity = "both",
    ) -> dict[str, Any]:
        """The user tapped a quick-reply button of a template message."""
        context = self._button_context(wa_id, replied_to, kind="template")
        content = {"payload": payload, "text": text}
        msg = self._message(wa_id, "button", content, name=name, identity=identity, context=context)
        return self._inbound_payload(wa_id, [msg], identity)

    def _button_context(
        self, wa_id: str, replied_to: str | None, kind: str = "interactive"
    ) -> dict[str, Any] | None:
        if replied_to is None:
            sent = [
                c for c in self.calls
                if c.kind == "message" and c.status == 200 and c.to == wa_id
                and c.message_type == kind
            ]  # fmt: skip
            if not sent:
                return None
            replied_to = sent[-1].response["messages"][0]["id"]
        # Replies to the business's own messages name the phone number id, as in the samples.
        return {"from": self.number.phone_number_id, "id": replied_to}

    def location_message(
        self,
        wa_id: str,
        latitude: float,
        longitude: float,
        *,
        place: str | None = None,
        address: str | None = None,
        url: str | None = None,
        name: str = "Warga",
        identity: Identity = "both",
    ) -> dict[str, Any]:
        """A shared location; with ``place``/``address``/``url`` a chosen venue."""
        content: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        for key, value in (("name", place), ("address", address), ("url", url)):
            if value is not None:
                content[key] = value
        msg = self._message(wa_id, "location", content, name=name, identity=identity)
        return self._inbound_payload(wa_id, [msg], identity)

    def _media_part(self, content: bytes, mime_type: str, **extra: Any) -> dict[str, Any]:
        media = self.add_media(content, mime_type, filename=extra.get("filename"))
        part: dict[str, Any] = {"mime_type": mime_type, "sha256": media.sha256, "id": media.id}
        part |= {k: v for k, v in extra.items() if v is not None}
        return part

    def image_message(
        self,
        wa_id: str,
        content: bytes,
        *,
        mime_type: str = "image/jpeg",
        caption: str | None = None,
        name: str = "Warga",
        identity: Identity = "both",
    ) -> dict[str, Any]:
        """An image whose bytes the stand-in serves through the media endpoints."""
        return self.image_messages(
            wa_id, [content], mime_type=mime_type, caption=caption, name=name,
            identity=identity, together=True,
        )[0]  # fmt: skip

    def image_messages(
        self,
        wa_id: str,
        contents: list[bytes],
        *,
        mime_type: str = "image/jpeg",
        caption: str | None = None,
        name: str = "Warga",
        identity: Identity = "both",
        together: bool = False,
    ) -> list[dict[str, Any]]:
        """Several images sent at once: one message each, the caption on the first. WhatsApp
        posts them as separate webhooks (``together`` puts them in one, which Meta may do)."""
        msgs = [
            self._message(
                wa_id, "image",
                self._media_part(c, mime_type, caption=caption if i == 0 else None),
                name=name, identity=identity,
            )
            for i, c in enumerate(contents)
        ]  # fmt: skip
        if together:
            return [self._inbound_payload(wa_id, msgs, identity)]
        return [self._inbound_payload(wa_id, [m], identity) for m in msgs]

    def audio_message(
        self,
        wa_id: str,
        content: bytes = b"OggS\x00voice",
        *,
        voice: bool = True,
        name: str = "Warga",
        identity: Identity = "both",
    ) -> dict[str, Any]:
        """A voice note (``voice=True``) or an audio file."""
        part = self._media_part(content, "audio/ogg; codecs=opus", voice=voice)
        msg = self._message(wa_id, "audio", part, name=name, identity=identity)
        return self._inbound_payload(wa_id, [msg], identity)

    def video_message(
        self,
        wa_id: str,
        content: bytes = b"\x00\x00\x00\x18ftypmp42",
        *,
        caption: str | None = None,
        name: str = "Warga",
        identity: Identity = "both",
    ) -> dict[str, Any]:
        part = self._media_part(content, "video/mp4", caption=caption)
        msg = self._message(wa_id, "video", part, name=name, identity=identity)
        return self._inbound_payload(wa_id, [msg], identity)

    def document_message(
        self,
        wa_id: str,
        content: bytes = b"%PDF-1.4\n%%EOF\n",
        *,
        filename: str = "proposal.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        name: str = "Warga",
        identity: Identity = "both",
    ) -> dict[str, Any]:
        part = self._media_part(content, mime_type, caption=caption, filename=filename)
        msg = self._message(wa_id, "document", part, name=name, identity=identity)
        return self._inbound_payload(wa_id, [msg], identity)

    def sticker_message(
        self,
        wa_id: str,
        content: bytes = b"RIFF\x00\x00\x00\x00WEBP",
        *,
        animated: bool = False,
        name: str = "Warga",
        identity: Identity = "both",
    ) -> dict[str, Any]:
        part = self._media_part(content, "image/webp", animated=animated)
        msg = self._message(wa_id, "sticker", part, name=name, identity=identity)
        return self._inbound_payload(wa_id, [msg], identity)

    def contacts_message(
        self,
        wa_id: str,
        cards: list[tuple[str, str]],
        *,
        name: str = "Warga",
        identity: Identity = "both",
    ) -> dict[str, Any]:
        """Shared contact cards, each (formatted name, phone number)."""
        content = [
            {
                "name": {"first_name": full.split()[0], "formatted_name": full},
                "phones": [{"phone": phone, "wa_id": re.sub(r"\D", "", phone), "type": "CELL"}],
            }
            for full, phone in cards
        ]
        msg = self._message(wa_id, "contacts", None, name=name, identity=identity)
        msg["contacts"] = content
        return self._inbound_payload(wa_id, [msg], identity)

    def reaction_message(
        self,
        wa_id: str,
        message_id: str,
        emoji: str | None = "👍",
        *,
        name: str = "Warga",
        identity: Identity = "both",
    ) -> dict[str, Any]:
        """A reaction to a message; ``emoji=""`` or None is a removed reaction."""
        content: dict[str, Any] = {"message_id": message_id}
        if emoji is not None:
            content["emoji"] = emoji
        msg = self._message(wa_id, "reaction", content, name=name, identity=identity)
        return self._inbound_payload(wa_id, [msg], identity)

    def unsupported_message(
        self,
        wa_id: str,
        *,
        shown_as: str | None = "poll",
        name: str = "Warga",
        identity: Identity = "both",
    ) -> dict[str, Any]:
        """Something the Cloud API does not pass on (a poll, a view-once message, ...)."""
        msg = self._message(wa_id, "unsupported", None, name=name, identity=identity)
        msg["errors"] = [
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ]
        if shown_as is not None:
            msg["unsupported"] = {"type": shown_as}
        return self._inbound_payload(wa_id, [msg], identity)

    def system_message(self, wa_id: str, new_wa_id: str) -> dict[str, Any]:
        """The user changed their phone number (a system message without contacts)."""
        msg = self._message(wa_id, "system", None, name=self.person(wa_id).name, identity="wa_id")
        msg["system"] = {
            "body": f"User {self.person(wa_id).name} changed from {wa_id} to {new_wa_id}",
            "wa_id": new_wa_id,
            "type": "user_changed_number",
        }
        return envelope(self.number, {"messages": [msg]})

    def edit_message(
        self,
        wa_id: str,
        original_id: str,
        body: str,
        *,
        name: str = "Warga",
        identity: Identity = "both",
    ) -> dict[str, Any]:
        """The user edited an earlier text message."""
        content = {
            "original_message_id": original_id,
            "message": {"type": "text", "text": {"body": body}},
        }
        msg = self._message(wa_id, "edit", content, name=name, identity=identity)
        return self._inbound_payload(wa_id, [msg], identity)

    def revoke_message(
        self, wa_id: str, original_id: str, *, name: str = "Warga", identity: Identity = "both"
    ) -> dict[str, Any]:
        """The user deleted a message for everyone."""
        content = {"original_message_id": original_id}
        msg = self._message(wa_id, "revoke", content, name=name, identity=identity)
        return self._inbound_payload(wa_id, [msg], identity)

    def status_update(
        self,
        message_id: str,
        status: str,
        *,
        code: int | None = None,
        details: str | None = None,
        identity: Identity = "both",
    ) -> dict[str, Any]:
        """A status webhook (sent, delivered, read, failed) for a message the stand-in
        accepted; ``failed`` carries Meta's error ``code`` (default 131026)."""
        call = self._sent.get(message_id)
        if call is None or call.to is None:
            raise ValueError(f"{message_id!r} is not a message the stand-in accepted")
        person = self.person(call.to)
        item: dict[str, Any] = {
            "id": message_id,
            "status": status,
            "timestamp": str(int(self.clock())),
            "recipient_id": person.wa_id if identity != "user_id" else person.user_id,
        }
        if status == "failed":
            error_code = code or 131026
            title = ERRORS.get(error_code, (400, "Error"))[1]
            item["errors"] = [
                {
                    "code": error_code,
                    "title": title,
                    "message": title,
                    "error_data": {"details": details or _DETAILS.get(error_code, title)},
                    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                }
            ]
        else:
            item |= self._pricing(call)
        return envelope(self.number, {"contacts": [person.contact(identity)], "statuses": [item]})

    def _pricing(self, call: Call) -> dict[str, Any]:
        category = "utility" if call.message_type == "template" else "service"
        return {
            "conversation": {"id": f"conv{self._seq:024d}", "origin": {"type": category}},
            "pricing": {"billable": category != "service", "pricing_model": "PMP",
                        "category": category},
        }  # fmt: skip

    # ------------------------------------------------------------------ HTTP

    def _next_numeric_id(self) -> str:
        self._seq += 1
        return f"{7_000_000_000_000_000 + self._seq}"

    def _next_wamid(self) -> str:
        self._seq += 1
        return f"wamid.HBgNNjI4MTEwMDAwMDAwMBUCABEYEjVTVEFORElO{self._seq:08d}AA=="

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        at = self.clock()
        call = Call("unknown", request.method, request.path, None, at)
        try:
            response = await self._route(request, call)
        except MetaError as exc:
            return self._refuse(call, exc)
        except Exception as exc:  # a stand-in bug must fail the test, not hang it
            log.exception("stand-in failed while answering %s %s", request.method, request.path)
            return self._refuse(call, MetaError(131000, f"stand-in error: {exc!r}"))
        self.calls.append(call)
        return response

    def _refuse(self, call: Call, exc: MetaError) -> web.Response:
        payload = exc.payload(f"A{len(self.calls):010d}standin")
        call.status, call.error = exc.status, payload["error"]
        self.calls.append(call)
        if exc.paced:
            self.rate_limited.append(call)
        if exc.violation:
            what = call.message_type or call.kind
            to = "" if call.to is None else f" to {call.to}"
            self.violations.append(f"{call.method} {call.path} ({what}{to}): {exc}")
        return web.json_response(payload, status=exc.status)

    async def _route(self, request: web.Request, call: Call) -> web.StreamResponse:
        if request.path == ATTACHMENTS_PATH and request.method == "GET":
            call.kind = "media_download"
            return self._download(request, call)
        self._check_token(request)
        parts = request.path.strip("/").split("/")
        template = self.spec.operation(request.method, request.path)
        if template is None or not _VERSION_RE.fullmatch(parts[0]):
            raise MetaError(2500, f"{request.method} {request.path} is not a Cloud API path",
                            message=f"Unknown path components: {request.path}")  # fmt: skip
        if parts[0] != self.api_version:
            # Checked against the v23.0 description; another version may differ from it.
            self.violations.append(
                f"{request.method} {request.path}: API version {parts[0]}, but the stand-in "
                f"checks against {self.api_version} (set the client's API version)"
            )
        if len(parts) == 3 and parts[2] in ("messages", "media") and request.method == "POST":
            self._check_phone(parts[1], request.method)
            if parts[2] == "messages":
                return await self._messages(request, call)
            return await self._upload(request, call)
        if len(parts) == 2 and parts[1] in self.media and request.method in ("GET", "DELETE"):
            return self._media_node(request, call, self.media[parts[1]])
        if len(parts) == 2 and parts[1] != self.number.phone_number_id:
            raise MetaError(100, None, subcode=33, kind="GraphMethodException",
                            message=_unsupported(request.method, parts[1]))  # fmt: skip
        raise MetaError(
            100, f"{template} exists in the Cloud API but the stand-in does not serve it"
        )

    def _check_token(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if header != f"Bearer {self.token}":
            raise MetaError(190, None, message=ERRORS[190][1])

    def _check_phone(self, phone_id: str, method: str) -> None:
        if phone_id != self.number.phone_number_id:
            raise MetaError(100, None, subcode=33, kind="GraphMethodException",
                            message=_unsupported(method, phone_id))  # fmt: skip

    def _take_failure(self, *keys: str) -> None:
        for key in keys:
            queue = self._failures.get(key)
            if queue:
                f = queue.popleft()
                raise MetaError(f.code, f.details, status=f.status, violation=False)

    # ------------------------------------------------------------------ /messages

    async def _messages(self, request: web.Request, call: Call) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            raise MetaError(100, "The request body is not JSON.") from None
        call.body = body
        if not isinstance(body, dict):
            raise MetaError(100, "The request body must be a JSON object.")
        if "status" in body:
            call.kind = "read"
            return self._read_receipt(body)
        call.kind = "message"
        wa_id = self._recipient(body)
        call.to = wa_id
        self._validate_message(body, wa_id)
        kind = str(body.get("type", "text"))
        self._take_failure("messages", kind)
        self._rate_check(wa_id, call.at)
        wamid = self._next_wamid()
        self._sent[wamid] = call
        message: dict[str, Any] = {"id": wamid}
        if kind == "template":
            message["message_status"] = "accepted"
        call.response = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": wa_id}],
            "messages": [message],
        }
        return web.json_response(call.response)

    def _recipient(self, body: dict[str, Any]) -> str | None:
        to = body.get("to")
        if not isinstance(to, str):
            return None
        if not _PHONE_RE.fullmatch(to):
            raise MetaError(
                100, f"Param to must be a phone number, got {to!r} (v23.0 takes no user ids)"
            )
        return re.sub(r"\D", "", to)

    def _validate_message(self, body: dict[str, Any], wa_id: str | None) -> None:
        refusals = limits.message_refusals(body)
        if refusals:
            raise MetaError(refusals[0][0], "; ".join(details for _, details in refusals))
        errors = self.spec.message_errors(body)
        if errors:
            raise MetaError(100, "; ".join(errors))
        if body.get("messaging_product") != "whatsapp":
            raise MetaError(100, "Param messaging_product must be 'whatsapp'.")
        if body.get("recipient_type", "individual") != "individual":
            raise MetaError(131009, "The stand-in plays a number without groups.")
        if wa_id == self.number.display_phone_number:
            raise MetaError(131021)
        kind = body.get("type", "text")
        if kind == "template":
            self._check_template(body["template"])
        elif not self.window_open(wa_id or ""):
            raise MetaError(131047)
        part = body.get(kind)
        if (
            isinstance(part, dict)
            and isinstance(part.get("id"), str)
            and part["id"] not in self.media
        ):
            raise MetaError(131053, f"Media id {part['id']} was never uploaded.")

    def _check_template(self, template: dict[str, Any]) -> None:
        name, language = template.get("name"), template.get("language", {}).get("code")
        found = self._templates.get((str(name), str(language)))
        if found is None or found.status not in ("APPROVED", "PAUSED", "DISABLED"):
            raise MetaError(132001, f"template name ({name}) does not exist in {language}")
        if found.status == "PAUSED":
            raise MetaError(132015)
        if found.status == "DISABLED":
            raise MetaError(132016)
        refusals = limits.template_refusals(template, found.body_params, found.buttons)
        if refusals:
            raise MetaError(*refusals[0])

    def _read_receipt(self, body: dict[str, Any]) -> web.Response:
        errors = self.spec.read_receipt_errors(body)
        if errors:
            raise MetaError(100, "; ".join(errors))
        if body["message_id"] not in self._inbound:
            raise MetaError(100, f"message_id {body['message_id']} is not a received message.")
        self._take_failure("read")
        return web.json_response({"success": True})

    def _rate_check(self, wa_id: str | None, now: float) -> None:
        if self.per_second:
            while self._throughput and self._throughput[0] <= now - 1.0:
                self._throughput.popleft()
            if len(self._throughput) >= self.per_second:
                raise MetaError(130429, violation=False, paced=True)
        if self.pair_interval and wa_id is not None:
            person = self.person(wa_id)
            if person.pair_at is not None:
                refill = (now - person.pair_at) / self.pair_interval
                person.pair_tokens = min(float(self.pair_burst), person.pair_tokens + refill)
            else:
                person.pair_tokens = float(self.pair_burst)
            person.pair_at = now
            if person.pair_tokens < 1.0:
                raise MetaError(131056, violation=False, paced=True)
            person.pair_tokens -= 1.0
        self._throughput.append(now)

    # ------------------------------------------------------------------ media

    async def _upload(self, request: web.Request, call: Call) -> web.Response:
        call.kind = "media_upload"
        if request.content_type != "multipart/form-data":
            raise MetaError(100, "Upload media as multipart/form-data.")
        form = await request.post()
        call.body = {k: v for k, v in form.items() if not isinstance(v, web.FileField)}
        file = form.get("file")
        if form.get("messaging_product") != "whatsapp":
            raise MetaError(100, "The parameter messaging_product is required.")
        if not isinstance(file, web.FileField):
            raise MetaError(100, "The parameter file is required.")
        mime = str(form.get("type") or file.content_type or "").split(";")[0].strip()
        content = file.file.read()
        kind, cap = _MEDIA_TYPES.get(mime, ("", 0))
        if not kind:
            raise MetaError(131053, f"Param file must be a file with one of the supported "
                                    f"types, got {mime!r}.")  # fmt: skip
        if not content or len(content) > cap:
            raise MetaError(131053, f"{kind} files must be 1 byte to {cap} bytes.")
        self._take_failure("media")
        media = self.add_media(content, mime, filename=file.filename)
        call.media = media
        call.response = {"id": media.id}
        return web.json_response(call.response)

    def _media_node(self, request: web.Request, call: Call, media: Media) -> web.Response:
        call.media = media
        phone = request.query.get("phone_number_id")
        if phone is not None and phone != self.number.phone_number_id:
            raise MetaError(100, "phone_number_id does not own this media.")
        if request.method == "DELETE":
            call.kind = "media_delete"
            self._take_failure("media_delete")
            del self.media[media.id]
            call.response = {"success": True}
            return web.json_response(call.response)
        call.kind = "media_url"
        self._take_failure("media_url")
        query = urlencode({"mid": media.id, "ext": int(self.clock()), "hash": media.sha256[:16]})
        call.response = {
            "messaging_product": "whatsapp",
            "url": f"{self.base_url}{ATTACHMENTS_PATH}?{query}",
            "mime_type": media.mime_type,
            "sha256": media.sha256,
            "file_size": str(len(media.content)),
            "id": media.id,
        }
        return web.json_response(call.response)

    def _download(self, request: web.Request, call: Call) -> web.Response:
        if request.headers.get("Authorization", "") != f"Bearer {self.token}":
            raise MetaError(190, "Media downloads need the access token.",
                            message=ERRORS[190][1])  # fmt: skip
        media = self.media.get(request.query.get("mid", ""))
        if media is None:
            raise MetaError(100, "No such media (the url came from no media-url answer).",
                            status=404)  # fmt: skip
        call.media = media
        self._take_failure("media_download")
        return web.Response(body=media.content, content_type=media.mime_type.split(";")[0])


def _unsupported(method: str, node: str) -> str:
    return (
        f"Unsupported {method.lower()} request. Object with ID '{node}' does not exist, cannot "
        "be loaded due to missing permissions, or does not support this operation. Please read "
        "the Graph API documentation at https://developers.facebook.com/docs/graph-api"
    )
