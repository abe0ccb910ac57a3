"""A local HTTP stand-in for the Telegram Bot API.

It speaks the same HTTP protocol as api.telegram.org, so a real ``aiogram.Bot`` pointed at
``TelegramAPIServer.from_base(standin.base_url)`` talks to it unchanged. Every call is checked
against the vendored Bot API spec and recorded, so tests can assert on what the bot did and fail
whenever the bot makes a call that Telegram would reject.
"""

from __future__ import annotations

import asyncio
import html
import inspect
import json
import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

__all__ = ["BotApiStandIn", "Call", "Upload"]

log = logging.getLogger(__name__)

SPEC_PATH = Path(__file__).with_name("bot-api-10.1.json")
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data" / "telegram_updates"

# Telegram refuses getFile above 20 MB and uploads above 50 MB.
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024
MAX_REQUEST_SIZE = 52 * 1024 * 1024

# Update types Telegram leaves out when allowed_updates is empty or was never set.
_NOT_DEFAULT_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Button fields that decorate a button rather than choosing what it does.
_BUTTON_DECORATION = frozenset({"text", "icon_custom_emoji_id", "style"})

# Tags accepted by Telegram's HTML parse mode; anything else is rejected with a 400.
_HTML_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "a", "tg-emoji", "tg-time", "code", "pre", "blockquote",
    }
)  # fmt: skip
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^<>]*)?)>")
_BOUNDS_RE = re.compile(r"(\d+)-(\d+) (characters|bytes)")
_CONST_RE = re.compile(r'always "([^"]+)"')
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_PARSE_MODES = frozenset({"html", "markdownv2", "markdown"})

_DEFAULT_ERRORS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

# How a parameter arriving as a form string is decoded.
_STR, _INT, _CHAT, _FLOAT, _BOOL, _FILE, _JSON = range(7)
_NOT_MODIFIED_CHECKED = frozenset(
    {"editMessageText", "editMessageCaption", "editMessageReplyMarkup"}
)
# Parameters the Bot API dropped that aiogram still models, with what replaced them.
_REMOVED_PARAMS = {
    "disable_web_page_preview": " (removed from the Bot API: use link_preview_options; aiogram "
    "sends it for DefaultBotProperties(link_preview_is_disabled=...))",
    "reply_to_message_id": " (removed from the Bot API: use reply_parameters)",
    "allow_sending_without_reply": " (removed from the Bot API: use reply_parameters)",
}
_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False}

# Parameters of send methods that carry a media file, with the fields Telegram's answer needs.
_MEDIA_EXTRA: dict[str, dict[str, Any]] = {
    "document": {},
    "audio": {"duration": 1},
    "video": {"width": 1280, "height": 720, "duration": 1},
    "animation": {"width": 320, "height": 240, "duration": 1},
    "voice": {"duration": 1, "mime_type": "audio/ogg"},
    "video_note": {"length": 240, "duration": 1},
    "sticker": {"type": "regular", "width": 512, "height": 512, "is_animated": False,
                "is_video": False},
}  # fmt: skip


@dataclass(slots=True)
class Upload:
    """A file part of a multipart request (aiogram sends InputFile contents this way)."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(slots=True)
class Call:
    """One Bot API request as the stand-in saw and answered it."""

    method: str
    params: dict[str, Any]
    chat_id: int | str | None
    at: float
    status: int = 200
    description: str | None = None
    result: Any = None
    files: dict[str, Upload] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class _Field:
    name: str
    kind: int
    bounds: tuple[int, int, bool] | None  # (min, max, counted in bytes)
    parse_mode_param: str | None  # parameter that turns on entity parsing for this one


@dataclass(slots=True, frozen=True)
class _Method:
    name: str
    fields: dict[str, _Field]
    required: tuple[str, ...]
    returns: tuple[str, ...]
    returns_message: bool
    inline_markup_only: bool


@dataclass(slots=True)
class _TypeSpec:
    fields: frozenset[str]
    required: tuple[tuple[str, str, str], ...]  # (name, first type, constant or "")
    subtypes: tuple[str, ...]


@dataclass(slots=True)
class _StoredFile:
    info: dict[str, Any]
    content: bytes


@dataclass(slots=True)
class _Failure:
    status: int
    retry_after: int | None
    description: str | None


class _ApiError(Exception):
    def __init__(self, status: int, description: str, *, violation: bool = False) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.violation = violation


def _field_kind(types: list[str]) -> int:
    kinds = set(types)
    if kinds == {"String"}:
        return _STR
    if kinds == {"Integer", "String"}:
        return _CHAT
    if kinds == {"Integer"}:
        return _INT
    if kinds == {"Float"}:
        return _FLOAT
    if kinds == {"Boolean"}:
        return _BOOL
    if "InputFile" in kinds:
        return _FILE
    return _JSON


def _load_spec(path: Path) -> tuple[dict[str, _Method], dict[str, _TypeSpec]]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    methods: dict[str, _Method] = {}
    for name, m in raw["methods"].items():
        spec_fields = m.get("fields", [])
        names = {f["name"] for f in spec_fields}
        fields: dict[str, _Field] = {}
        for f in spec_fields:
            bounds = None
            if f["types"] == ["String"] and (b := _BOUNDS_RE.search(f["description"])):
                bounds = (int(b.group(1)), int(b.group(2)), b.group(3) == "bytes")
            pm = f"{f['name']}_parse_mode"
            if pm not in names:
                pm = "parse_mode" if f["name"] in ("text", "caption") else ""
            fields[f["name"]] = _Field(
                f["name"], _field_kind(f["types"]), bounds, pm if pm in names else None
            )
        returns = tuple(m.get("returns", []))
        methods[name.lower()] = _Method(
            name=name,
            fields=fields,
            required=tuple(f["name"] for f in spec_fields if f["required"]),
            returns=returns,
            returns_message="Message" in returns,
            inline_markup_only=any(
                f["name"] == "reply_markup" and f["types"] == ["InlineKeyboardMarkup"]
                for f in spec_fields
            ),
        )
    types: dict[str, _TypeSpec] = {}
    for name, t in raw["types"].items():
        tf = t.get("fields", [])
        required = []
        for f in tf:
            if f["required"]:
                const = _CONST_RE.search(f["description"])
                required.append((f["name"], f["types"][0], const.group(1) if const else ""))
        types[name] = _TypeSpec(
            fields=frozenset(f["name"] for f in tf),
            required=tuple(required),
            subtypes=tuple(t.get("subtypes", [])),
        )
    return methods, types


def _utf16_len(text: str) -> int:
    # Telegram measures text in UTF-16 code units, so emoji outside the BMP count twice.
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def _html_visible(text: str) -> tuple[str, str | None]:
    """Return the text a user sees for an HTML-formatted string, or a parse error."""
    if "<" not in text:
        return (html.unescape(text) if "&" in text else text), None
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while True:
        i = text.find("<", pos)
        if i < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:i])
        m = _TAG_RE.match(text, i)
        offset = len(text[:i].encode())
        if m is None:
            return "", f'Unsupported start tag "" at byte offset {offset}'
        closing, name = m.group(1), m.group(2).lower()
        if name not in _HTML_TAGS:
            kind = "end" if closing else "start"
            return "", f'Unsupported {kind} tag "{name}" at byte offset {offset}'
        if not closing:
            stack.append(name)
        elif not stack or stack[-1] != name:
            expected = f'"</{stack[-1]}>"' if stack else "no end tag"
            return "", (
                f'Unmatched end tag at byte offset {offset}, expected {expected}, found "</{name}>"'
            )
        else:
            stack.pop()
        pos = m.end()
    if stack:
        return "", f'Can\'t find end tag corresponding to start tag "{stack[-1]}"'
    return html.unescape("".join(out)), None


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class BotApiStandIn:
    """Telegram Bot API served from 127.0.0.1 in the test's own event loop."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_username: str = "musrenbot_test_bot",
        spec_path: str | Path | None = None,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.me: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Musrenbot Test",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._methods, self._types = _load_spec(Path(spec_path) if spec_path else SPEC_PATH)
        self._inline_button_fields = self._types["InlineKeyboardButton"].fields
        self._keyboard_button_fields = self._types["KeyboardButton"].fields
        self._markup_fields = {
            "inline_keyboard": self._types["InlineKeyboardMarkup"].fields,
            "keyboard": self._types["ReplyKeyboardMarkup"].fields,
            "remove_keyboard": self._types["ReplyKeyboardRemove"].fields,
            "force_reply": self._types["ForceReply"].fields,
        }
        self._special: dict[str, Callable[..., Any]] = {
            "getMe": lambda p, c, u: self.me,
            "logOut": lambda p, c, u: True,
            "close": lambda p, c, u: True,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getFile": self._get_file,
            "sendMediaGroup": self._send_media_group,
            "copyMessage": self._copy_message,
            "copyMessages": self._copy_messages,
            "forwardMessages": self._copy_messages,
            "deleteMessage": self._delete_message,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatMemberCount": lambda p, c, u: 2,
        }

        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.rate_limited: list[Call] = []

        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_allowed_updates: list[str] | None = None

        self._updates: deque[dict[str, Any]] = deque()
        self._last_update_id = 0
        self._confirmed_offset = 0
        self._allowed_updates: frozenset[str] | None = None
        self._wakeup = asyncio.Event()
        self._poll_generation = 0
        self._waiting_pollers = 0
        self._closing = False

        self._files: dict[str, _StoredFile] = {}
        self._file_paths: dict[str, bytes] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._channel_ids: dict[str, int] = {}
        self._message_ids: dict[int, int] = {}
        self._messages: dict[int, dict[int, dict[str, Any]]] = {}
        self._fingerprints: dict[tuple[int, int], tuple[Any, ...]] = {}
        self._commands: dict[tuple[str, str], list[Any]] = {}
        self._callback_seq = 0
        self._file_seq = 0
        self._media_group_seq = 0

        self._global_limit: int | None = None
        self._chat_limit: int | None = None
        self._group_limit: int | None = None
        self._global_window: deque[float] = deque()
        self._chat_windows: dict[int, deque[float]] = {}
        self._group_windows: dict[int, deque[float]] = {}

        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._base_url: str | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=MAX_REQUEST_SIZE)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        # A short shutdown timeout: pending long polls are woken explicitly in stop().
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        host, bound_port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{bound_port}"
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self._closing = False

    async def stop(self) -> None:
        self._closing = True
        self._notify()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._base_url = None

    async def __aenter__(self) -> BotApiStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("BotApiStandIn is not running; await start() first")
        return self._base_url

    # ------------------------------------------------------------------ test controls

    def add_file(
        self,
        file_id: str,
        content: bytes = b"",
        *,
        size: int | None = None,
        file_path: str | None = None,
        file_unique_id: str | None = None,
    ) -> dict[str, Any]:
        """Register a file for getFile and download; ``size`` overrides ``len(content)``."""
        self._file_seq += 1
        path = file_path or f"documents/file_{self._file_seq}"
        info: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": file_unique_id or f"AQAD{self._file_seq:06d}",
            "file_size": len(content) if size is None else size,
            "file_path": path,
        }
        self._files[file_id] = _StoredFile(info, content)
        self._file_paths[path] = content
        return info

    def fail_next(
        self,
        method: str,
        status: int,
        *,
        count: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` with an error instead of a result."""
        spec = self._methods.get(method.lower())
        if spec is None:
            raise ValueError(f"unknown Bot API method {method!r}")
        if status == 429 and retry_after is None:
            retry_after = 1
        queue = self._failures.setdefault(spec.name, deque())
        queue.extend(_Failure(status, retry_after, description) for _ in range(count))

    def set_limits(
        self,
        global_per_second: int | None = None,
        per_chat_per_second: int | None = None,
        group_per_minute: int | None = None,
    ) -> None:
        """Enable Telegram-like flood limits for calls that carry a chat_id (None = off)."""
        self._global_limit = global_per_second
        self._chat_limit = per_chat_per_second
        self._group_limit = group_per_minute
        self._global_window.clear()
        self._chat_windows.clear()
        self._group_windows.clear()

    def reset(self) -> None:
        """Forget recorded calls, violations and rate-limited calls (queues and files stay)."""
        self.calls.clear()
        self.violations.clear()
        self.rate_limited.clear()

    def assert_no_violations(self) -> None:
        if self.violations:
            listing = "\n".join(f"  - {v}" for v in self.violations)
            raise AssertionError(f"{len(self.violations)} invalid Bot API call(s):\n{listing}")

    # ------------------------------------------------------------------ updates

    def queue_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates; returns the queued copy with its update_id."""
        update = self._with_update_id(update)
        uid = update["update_id"]
        if uid < self._confirmed_offset:
            raise ValueError(
                f"update_id {uid} was already confirmed by getUpdates (offset "
                f"{self._confirmed_offset}); omit update_id to get a fresh one"
            )
        if any(u["update_id"] == uid for u in self._updates):
            raise ValueError(f"update_id {uid} is already queued")
        if self._updates and self._updates[-1]["update_id"] > uid:
            # Telegram hands updates out in id order.
            ordered = sorted([*self._updates, update], key=lambda u: u["update_id"])
            self._updates = deque(ordered)
        else:
            self._updates.append(update)
        self._notify()
        return update

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self._updates)

    @property
    def waiting_pollers(self) -> int:
        """Number of getUpdates requests currently held open by long polling."""
        return self._waiting_pollers

    async def post_to_webhook(
        self, update: dict[str, Any], *, url: str | None = None, secret: str | None = None
    ) -> int:
        """POST an update like Telegram does; runs a method returned in the reply body."""
        target = url or self.webhook_url
        if not target:
            raise RuntimeError("no webhook url: call setWebhook first or pass url=")
        if self._client is None:
            raise RuntimeError("BotApiStandIn is not running; await start() first")
        token = self.webhook_secret if secret is None else secret
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        body = json.dumps(self._with_update_id(update), ensure_ascii=False).encode()
        async with self._client.post(target, data=body, headers=headers) as resp:
            if resp.status == 200:
                await self._run_webhook_reply(resp)
            return resp.status

    async def _run_webhook_reply(self, resp: aiohttp.ClientResponse) -> None:
        # Telegram executes a method placed in the webhook response body.
        raw: dict[str, Any] = {}
        uploads: dict[str, Upload] = {}
        ctype = resp.content_type
        if ctype == "application/json":
            body = await resp.read()
            if not body.strip():
                return
            data = json.loads(body)
            if not isinstance(data, dict):
                return
            raw.update(data)
        elif ctype == "multipart/form-data":
            reader = aiohttp.MultipartReader.from_response(resp)
            while (part := await reader.next()) is not None:
                if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                    continue
                if part.filename:
                    uploads[part.name] = Upload(
                        part.filename, part.headers.get("Content-Type"), bytes(await part.read())
                    )
                else:
                    raw[part.name] = await part.text()
        else:
            return
        method = raw.pop("method", None)
        if isinstance(method, str):
            await self._process(method, raw, uploads, time.monotonic())

    # ------------------------------------------------------------------ simulated users

    @staticmethod
    def sample_update(name: str) -> dict[str, Any]:
        """Load one of the real Update payloads vendored in tests/data/telegram_updates."""
        path = SAMPLES_DIR / (name if name.endswith(".json") else f"{name}.json")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def text_update(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Warga",
        language_code: str = "id",
        chat_type: str = "private",
        chat_id: int | None = None,
        username: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        msg = self._user_message(user_id, first_name, language_code, username, chat_type, chat_id)
        msg["text"] = text
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            msg["entities"] = [{"offset": 0, "length": _utf16_len(command), "type": "bot_command"}]
        if reply_to_message_id is not None:
            replied = self._messages.get(msg["chat"]["id"], {}).get(reply_to_message_id)
            if replied is not None:
                msg["reply_to_message"] = dict(replied)
        return self._update("message", msg)

    def edited_text_update(
        self,
        user_id: int,
        message_id: int,
        text: str,
        *,
        first_name: str = "Warga",
        language_code: str = "id",
        username: str | None = None,
    ) -> dict[str, Any]:
        user = self._user(user_id, first_name, language_code, username)
        old = self._messages.get(user_id, {}).get(message_id)
        msg = {
            "message_id": message_id,
            "from": user,
            "chat": self._chat(user_id),
            "date": old["date"] if old else int(time.time()) - 60,
            "edit_date": int(time.time()),
            "text": text,
        }
        self._messages.setdefault(user_id, {})[message_id] = msg
        return self._update("edited_message", msg)

    def callback_update(
        self,
        user_id: int,
        data: str,
        *,
        message_id: int | None = None,
        first_name: str = "Warga",
        language_code: str = "id",
        username: str | None = None,
        check_button: bool = True,
    ) -> dict[str, Any]:
        """A press of an inline button on a message the bot sent to ``user_id``.

        Without ``message_id`` the last message in the chat is used. With ``check_button`` the
        data must belong to a button of that message, as a real client can only send those.
        """
        user = self._user(user_id, first_name, language_code, username)
        chat_msgs = self._messages.setdefault(user_id, {})
        if message_id is None:
            bot_msgs = [m for m in chat_msgs.values() if m.get("from", {}).get("is_bot")]
            message = bot_msgs[-1] if bot_msgs else None
        else:
            message = chat_msgs.get(message_id)
        if message is None:
            mid = message_id if message_id is not None else self._next_message_id(user_id)
            message = {
                "message_id": mid,
                "from": self.me,
                "chat": self._chat(user_id),
                "date": int(time.time()),
                "text": "…",
            }
            chat_msgs[mid] = message
        markup = message.get("reply_markup")
        if check_button and markup:
            datas = [b.get("callback_data") for row in markup["inline_keyboard"] for b in row]
            if data not in datas:
                raise ValueError(
                    f"message {message['message_id']} has no button with callback_data "
                    f"{data!r}; its buttons carry {datas!r} (pass check_button=False to force)"
                )
        self._callback_seq += 1
        query = {
            "id": str(4_000_000_000_000_000 + self._callback_seq),
            "from": user,
            "message": dict(message),
            "chat_instance": str(-7_000_000_000_000_000 - user_id),
            "data": data,
        }
        return self._update("callback_query", query)

    def location_update(
        self, user_id: int, lat: float, lon: float, *, first_name: str = "Warga",
        language_code: str = "id",
    ) -> dict[str, Any]:  # fmt: skip
        msg = self._user_message(user_id, first_name, language_code)
        msg["location"] = {"latitude": lat, "longitude": lon}
        return self._update("message", msg)

    def contact_update(
        self, user_id: int, phone_number: str, contact_name: str, *, first_name: str = "Warga",
        contact_user_id: int | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A shared contact card (the "share phone number" button, or someone's contact)."""
        msg = self._user_message(user_id, first_name)
        msg["contact"] = {"phone_number": phone_number, "first_name": contact_name}
        if contact_user_id is not None:
            msg["contact"]["user_id"] = contact_user_id
        return self._update("message", msg)

    def photo_update(
        self,
        user_id: int,
        file_id: str,
        *,
        media_group_id: str | None = None,
        caption: str | None = None,
        first_name: str = "Warga",
        language_code: str = "id",
    ) -> dict[str, Any]:
        """A photo with three sizes; the largest is ``file_id`` (register it with add_file)."""
        msg = self._user_message(user_id, first_name, language_code)
        stored = self._files.get(file_id)
        size = stored.info["file_size"] if stored else 150_000
        unique = stored.info["file_unique_id"] if stored else f"AQAD-{file_id[-12:]}"
        msg["photo"] = [
            {"file_id": f"{file_id}-s", "file_unique_id": f"{unique}-s",
             "file_size": max(1, size // 40), "width": 90, "height": 68},
            {"file_id": f"{file_id}-m", "file_unique_id": f"{unique}-m",
             "file_size": max(1, size // 8), "width": 320, "height": 240},
            {"file_id": file_id, "file_unique_id": unique,
             "file_size": size, "width": 1280, "height": 960},
        ]  # fmt: skip
        if media_group_id is not None:
            msg["media_group_id"] = media_group_id
        if caption is not None:
            msg["caption"] = caption
        return self._update("message", msg)

    def document_update(
        self,
        user_id: int,
        file_id: str,
        mime_type: str,
        file_name: str,
        *,
        caption: str | None = None,
        first_name: str = "Warga",
        language_code: str = "id",
    ) -> dict[str, Any]:
        msg = self._user_message(user_id, first_name, language_code)
        stored = self._files.get(file_id)
        msg["document"] = {
            "file_name": file_name,
            "mime_type": mime_type,
            "file_id": file_id,
            "file_unique_id": stored.info["file_unique_id"] if stored else f"AgAD-{file_id[-12:]}",
            "file_size": stored.info["file_size"] if stored else 2048,
        }
        if caption is not None:
            msg["caption"] = caption
        return self._update("message", msg)

    def sticker_update(self, user_id: int, *, emoji: str = "👍") -> dict[str, Any]:
        msg = self._user_message(user_id)
        self._file_seq += 1
        msg["sticker"] = {
            "file_id": f"CAACAgIAAxkBAAE{self._file_seq:06d}",
            "file_unique_id": f"AgADsticker{self._file_seq}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "set_name": "StandInStickers",
            "file_size": 24_000,
        }
        return self._update("message", msg)

    def voice_update(
        self, user_id: int, *, duration: int = 4, file_id: str | None = None
    ) -> dict[str, Any]:
        """A voice note; with ``file_id`` the one registered by add_file (served on getFile)."""
        msg = self._user_message(user_id)
        self._file_seq += 1
        stored = self._files.get(file_id) if file_id is not None else None
        msg["voice"] = {
            "file_id": file_id or f"AwACAgUAAxkBAAE{self._file_seq:06d}",
            "file_unique_id": f"AgADvoice{self._file_seq}",
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": stored.info["file_size"] if stored else 6_000 * duration,
        }
        return self._update("message", msg)

    def video_update(self, user_id: int, *, duration: int = 8) -> dict[str, Any]:
        msg = self._user_message(user_id)
        self._file_seq += 1
        msg["video"] = {
            "file_id": f"BAACAgUAAxkBAAE{self._file_seq:06d}",
            "file_unique_id": f"AgADvideo{self._file_seq}",
            "width": 1280,
            "height": 720,
            "duration": duration,
            "mime_type": "video/mp4",
            "file_size": 400_000 * duration,
        }
        return self._update("message", msg)

    def my_chat_member_update(
        self, user_id: int, old_status: str, new_status: str
    ) -> dict[str, Any]:
        """The bot's own membership changed, e.g. "member" -> "kicked" when a user blocks it."""
        user = self._user(user_id, "Warga", "id", None)
        change = {
            "chat": self._chat(user_id),
            "from": user,
            "date": int(time.time()),
            "old_chat_member": self._chat_member(old_status, self.me),
            "new_chat_member": self._chat_member(new_status, self.me),
        }
        return self._update("my_chat_member", change)

    # ------------------------------------------------------------------ assertions

    def sent_texts(self, chat_id: int | str, *, plain: bool = False) -> list[str]:
        """Texts and captions the bot successfully sent or edited into a chat, in order.

        With ``plain`` HTML-formatted texts are returned as the user sees them.
        """
        out: list[str] = []
        for call in self.calls:
            if call.status != 200 or call.chat_id != chat_id:
                continue
            p = call.params
            if call.method == "sendMediaGroup":
                items = p.get("media")
                for item in items if isinstance(items, list) else []:
                    if isinstance(item, dict) and isinstance(item.get("caption"), str):
                        out.append(self._plain(item["caption"], item.get("parse_mode"), plain))
                continue
            for key in ("text", "caption"):
                value = p.get(key)
                if isinstance(value, str):
                    out.append(self._plain(value, p.get("parse_mode"), plain))
        return out

    def last_markup(self, chat_id: int | str) -> dict[str, Any] | None:
        """reply_markup of the last message sent or edited in the chat (None if it had none)."""
        for call in reversed(self.calls):
            if call.status == 200 and call.chat_id == chat_id:
                spec = self._methods.get(call.method.lower())
                if spec is not None and (spec.returns_message or call.method == "copyMessage"):
                    markup = call.params.get("reply_markup")
                    return markup if isinstance(markup, dict) else None
        return None

    async def wait_for(
        self,
        predicate: Callable[[BotApiStandIn], Any],
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
                raise TimeoutError(
                    f"condition not met within {timeout}s\n{self._describe_recent_calls()}"
                )
            await asyncio.sleep(0.01)

    async def wait_for_calls(
        self,
        n: int,
        method: str | None = None,
        chat_id: int | str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - same contract as wait_for
    ) -> list[Call]:
        """Wait until at least ``n`` calls match; returns all matching calls (any status)."""
        name = None
        if method is not None:
            spec = self._methods.get(method.lower())
            name = spec.name if spec else method

        def matching() -> list[Call]:
            return [
                c
                for c in self.calls
                if (name is None or c.method == name) and (chat_id is None or c.chat_id == chat_id)
            ]

        try:
            await self.wait_for(lambda s: len(matching()) >= n, timeout)
        except TimeoutError as exc:
            raise TimeoutError(
                f"expected {n} call(s) of {name or 'any method'}"
                f"{'' if chat_id is None else f' to chat {chat_id}'}, "
                f"got {len(matching())}: {exc}"
            ) from None
        return matching()

    def _describe_recent_calls(self, limit: int = 15) -> str:
        recent = [c for c in self.calls if c.method != "getUpdates"][-limit:]
        if not recent:
            return "no Bot API calls recorded (besides getUpdates)"
        lines = []
        for c in recent:
            detail = c.params.get(
                "text", c.params.get("caption", c.params.get("callback_query_id"))
            )
            extra = f" {_short(detail)}" if detail is not None else ""
            error = f" ({c.description})" if c.description else ""
            lines.append(f"  {c.method} chat={c.chat_id} status={c.status}{error}{extra}")
        return "last calls (oldest first):\n" + "\n".join(lines)

    @staticmethod
    def _plain(text: str, parse_mode: Any, plain: bool) -> str:
        if plain and isinstance(parse_mode, str) and parse_mode.lower() == "html":
            visible, error = _html_visible(text)
            return text if error else visible
        return text

    # ------------------------------------------------------------------ HTTP handlers

    async def _handle_api(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        method_name = request.match_info["method"]
        try:
            raw, uploads = await self._read_request(request)
        except _ApiError as exc:
            self._record_failure(method_name, {}, {}, at, exc)
            return self._response(exc.status, self._error_payload(exc.status, exc.description))
        if request.match_info["token"] != self.token:
            denied = _ApiError(401, "Unauthorized", violation=True)
            self._record_failure(method_name, raw, uploads, at, denied, "wrong bot token in URL")
            return self._response(401, self._error_payload(401, "Unauthorized"))
        status, payload = await self._process(method_name, raw, uploads, at)
        return self._response(status, payload)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            self.violations.append("file download: wrong bot token in URL")
            return self._response(401, self._error_payload(401, "Unauthorized"))
        content = self._file_paths.get(request.match_info["path"])
        if content is None:
            self.violations.append(
                f"file download: unknown file_path {request.match_info['path']!r} "
                "(not returned by getFile)"
            )
            return self._response(404, self._error_payload(404, "Not Found"))
        return web.Response(body=content, content_type="application/octet-stream")

    async def _read_request(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
        raw: dict[str, Any] = dict(request.query) if request.query_string else {}
        uploads: dict[str, Upload] = {}
        if not request.body_exists:
            return raw, uploads
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _ApiError(400, "Bad Request: can't parse JSON body", violation=True) from None
            if not isinstance(body, dict):
                raise _ApiError(400, "Bad Request: JSON body must be an object", violation=True)
            raw.update(body)
        elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    uploads[key] = Upload(value.filename, value.content_type, value.file.read())
                else:
                    raw[key] = value
        return raw, uploads

    @staticmethod
    def _response(status: int, payload: Any) -> web.Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return web.Response(body=body, status=status, content_type="application/json")

    @staticmethod
    def _error_payload(
        status: int, description: str, retry_after: int | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            payload["parameters"] = {"retry_after": retry_after}
        return payload

    def _record_failure(
        self,
        method: str,
        params: dict[str, Any],
        uploads: dict[str, Upload],
        at: float,
        exc: _ApiError,
        violation: str | None = None,
    ) -> None:
        chat_id = params.get("chat_id")
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)  # undecoded form value of a rejected call
        elif not isinstance(chat_id, int | str):
            chat_id = None
        self.calls.append(
            Call(method, params, chat_id, at, exc.status, exc.description, None, uploads)
        )
        if exc.violation:
            where = f"{method}" + ("" if chat_id is None else f" chat_id={chat_id}")
            self.violations.append(f"{where}: {violation or exc.description}")

    # ------------------------------------------------------------------ call processing

    async def _process(
        self, method_name: str, raw: dict[str, Any], uploads: dict[str, Upload], at: float
    ) -> tuple[int, dict[str, Any]]:
        spec = self._methods.get(method_name.lower())
        if spec is None:
            exc = _ApiError(404, "Not Found", violation=True)
            self._record_failure(
                method_name, raw, uploads, at, exc, f"Not Found: no Bot API method {method_name!r}"
            )
            return 404, self._error_payload(404, "Not Found")
        name = spec.name
        for key in uploads:
            # A file sent directly under the parameter name (not via attach://).
            if key in spec.fields and key not in raw:
                raw[key] = f"attach://{key}"
        params, reasons = self._decode(spec, raw)
        plain: dict[str, str] = {}
        reasons.extend(self._validate(spec, params, uploads, plain))
        if reasons:
            exc = _ApiError(400, reasons[0], violation=True)
            self._record_failure(name, params, uploads, at, exc, "; ".join(reasons))
            return 400, self._error_payload(400, reasons[0])

        chat_id = params.get("chat_id")
        queue = self._failures.get(name)
        if queue:
            failure = queue.popleft()
            desc = failure.description or _DEFAULT_ERRORS.get(failure.status, "Error").format(
                retry_after=failure.retry_after
            )
            self.calls.append(Call(name, params, chat_id, at, failure.status, desc, None, uploads))
            return failure.status, self._error_payload(failure.status, desc, failure.retry_after)

        if chat_id is not None and (retry := self._rate_check(self._chat_int(chat_id), at)):
            desc = f"Too Many Requests: retry after {retry}"
            call = Call(name, params, chat_id, at, 429, desc, None, uploads)
            self.calls.append(call)
            self.rate_limited.append(call)
            return 429, self._error_payload(429, desc, retry)

        call = Call(name, params, chat_id, at, 200, None, None, uploads)
        try:
            if name == "getUpdates":
                result: Any = await self._get_updates(params)
            elif (handler := self._special.get(name)) is not None:
                result = handler(params, chat_id, uploads)
            elif spec.returns_message:
                result = self._message_result(spec, params, chat_id, uploads, plain)
            elif spec.returns == ("Boolean",):
                result = True
            else:
                result = self._fake(spec.returns[0]) if spec.returns else True
        except _ApiError as exc:
            call.status, call.description = exc.status, exc.description
            self.calls.append(call)
            if exc.violation:
                self.violations.append(f"{name}: {exc.description}")
            return exc.status, self._error_payload(exc.status, exc.description)
        except Exception as exc:  # a stand-in bug must fail the test, not hang it
            log.exception("stand-in failed while answering %s", name)
            call.status, call.description = 500, f"stand-in error: {exc!r}"
            self.calls.append(call)
            self.violations.append(f"{name}: stand-in internal error {exc!r}")
            return 500, self._error_payload(500, "Internal Server Error")
        call.result = result
        self.calls.append(call)
        return 200, {"ok": True, "result": result}

    def _decode(self, spec: _Method, raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        params: dict[str, Any] = {}
        reasons: list[str] = []
        fields = spec.fields
        for key, value in raw.items():
            f = fields.get(key)
            if f is None:
                hint = _REMOVED_PARAMS.get(key, "")
                reasons.append(
                    f'Bad Request: unknown parameter "{key}" for method {spec.name}{hint}'
                )
                params[key] = value
                continue
            kind = f.kind
            if kind in (_STR, _FILE):
                params[key] = value
            elif kind == _CHAT:
                if isinstance(value, str):
                    try:
                        value = int(value)
                    except ValueError:
                        if not value.startswith("@"):
                            reasons.append(
                                f"Bad Request: chat not found ({key} {value!r} is neither an "
                                "integer nor an @username)"
                            )
                elif not isinstance(value, int) or isinstance(value, bool):
                    reasons.append(f"Bad Request: {key} must be an integer or an @username")
                params[key] = value
            elif kind == _JSON:
                if isinstance(value, str):
                    try:
                        value = json.loads(value)
                    except ValueError:
                        what = "reply keyboard markup" if key == "reply_markup" else key
                        reasons.append(f"Bad Request: can't parse {what} JSON object")
                params[key] = value
            elif kind == _INT:
                if isinstance(value, str):
                    try:
                        value = int(value)
                    except ValueError:
                        reasons.append(f"Bad Request: {key} must be an Integer, got {value!r}")
                elif not isinstance(value, int) or isinstance(value, bool):
                    reasons.append(f"Bad Request: {key} must be an Integer, got {value!r}")
                params[key] = value
            elif kind == _BOOL:
                if isinstance(value, str):
                    parsed = _BOOL_WORDS.get(value.lower())
                    if parsed is None:
                        reasons.append(f"Bad Request: {key} must be a Boolean, got {value!r}")
                    else:
                        value = parsed
                params[key] = value
            else:  # _FLOAT
                if isinstance(value, str):
                    try:
                        value = float(value)
                    except ValueError:
                        reasons.append(f"Bad Request: {key} must be a Float, got {value!r}")
                params[key] = value
        return params, reasons

    def _validate(
        self,
        spec: _Method,
        params: dict[str, Any],
        uploads: dict[str, Upload],
        plain: dict[str, str],
    ) -> list[str]:
        reasons: list[str] = []
        for name in spec.required:
            value = params.get(name)
            if value is None or value == "":
                if name == "text":
                    reasons.append("Bad Request: message text is empty")
                else:
                    reasons.append(f'Bad Request: parameter "{name}" is required')
        fields = spec.fields
        for key, value in params.items():
            f = fields.get(key)
            if f is None:
                continue  # already reported as an unknown parameter
            if (
                f.kind == _FILE
                and isinstance(value, str)
                and value.startswith("attach://")
                and value[9:] not in uploads
            ):
                reasons.append(f"Bad Request: {key} refers to a missing file part {value!r}")
            if f.bounds is None or not isinstance(value, str):
                continue
            lo, hi, in_bytes = f.bounds
            text = value
            pm = params.get(f.parse_mode_param) if f.parse_mode_param else None
            if pm is not None:
                if not isinstance(pm, str) or pm.lower() not in _PARSE_MODES:
                    reasons.append(f"Bad Request: unsupported parse_mode {pm!r}")
                elif pm.lower() == "html":
                    text, error = _html_visible(value)
                    if error:
                        reasons.append(f"Bad Request: can't parse entities: {error}")
                        continue
            plain[key] = text
            size = len(text.encode()) if in_bytes else _utf16_len(text)
            unit = "bytes" if in_bytes else "characters"
            if size > hi:
                what = {"text": "message", "caption": "message caption"}.get(key)
                head = f"{what} is too long" if what else f"{key} is too long"
                reasons.append(f"Bad Request: {head} ({size} {unit}, at most {hi})")
            elif lo and (_utf16_len(text.strip()) if not in_bytes else size) < lo:
                if key == "text":
                    reasons.append("Bad Request: message text is empty")
                else:
                    reasons.append(f"Bad Request: {key} must be {lo}-{hi} {unit} long")
        markup = params.get("reply_markup")
        if markup is not None and "reply_markup" in fields:
            reasons.extend(self._check_markup(markup, spec))
        if spec.name == "sendMediaGroup":
            reasons.extend(self._check_media_group(params.get("media")))
        if (
            "inline_message_id" in fields
            and "message_id" in fields
            and "inline_message_id" not in params
            and (params.get("chat_id") is None or params.get("message_id") is None)
        ):
            reasons.append(
                "Bad Request: chat_id and message_id (or inline_message_id) are required"
            )
        if (
            spec.name == "editMessageText"
            and "text" not in params
            and ("rich_message" not in params)
        ):
            reasons.append("Bad Request: message text is empty")
        secret = params.get("secret_token")
        if spec.name == "setWebhook" and secret and not _SECRET_RE.fullmatch(str(secret)):
            reasons.append("Bad Request: secret token contains unallowed characters")
        return reasons

    def _check_markup(self, markup: Any, spec: _Method) -> list[str]:
        if not isinstance(markup, dict):
            return ["Bad Request: can't parse reply keyboard markup JSON object"]
        kind = next((k for k in self._markup_fields if k in markup), None)
        if kind is None:
            return ["Bad Request: can't parse reply keyboard markup JSON object"]
        reasons = [
            f'Bad Request: unknown reply_markup field "{k}"'
            for k in markup
            if k not in self._markup_fields[kind]
        ]
        if kind != "inline_keyboard" and spec.inline_markup_only:
            reasons.append("Bad Request: inline keyboard expected")
        if kind not in ("inline_keyboard", "keyboard"):
            return reasons
        rows = markup[kind]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            return [*reasons, f"Bad Request: {kind} must be an array of arrays of buttons"]
        inline = kind == "inline_keyboard"
        allowed = self._inline_button_fields if inline else self._keyboard_button_fields
        for r, row in enumerate(rows):
            for c, button in enumerate(row):
                where = f"button [{r}][{c}]"
                if isinstance(button, str) and not inline:
                    continue
                if not isinstance(button, dict):
                    reasons.append(f"Bad Request: {where} must be an object")
                    continue
                unknown = [k for k in button if k not in allowed]
                if unknown:
                    reasons.append(f"Bad Request: {where} has unknown field(s) {unknown}")
                label = button.get("text")
                if not isinstance(label, str) or not label:
                    reasons.append(f"Bad Request: {where} has no text")
                actions = [
                    k for k, v in button.items()
                    if k not in _BUTTON_DECORATION and v is not None and v is not False
                ]  # fmt: skip
                if inline and len(actions) != 1:
                    reasons.append(
                        f"Bad Request: {where} {label!r} must have exactly one action field, "
                        f"has {actions or 'none'}"
                    )
                elif not inline and len(actions) > 1:
                    reasons.append(f"Bad Request: {where} {label!r} mixes actions {actions}")
                data = button.get("callback_data")
                if data is not None and not (
                    isinstance(data, str) and 1 <= len(data.encode()) <= 64
                ):
                    size = len(data.encode()) if isinstance(data, str) else "?"
                    reasons.append(
                        f"Bad Request: BUTTON_DATA_INVALID ({where} {label!r}: "
                        f"callback_data is {size} bytes, must be 1-64)"
                    )
        return reasons

    @staticmethod
    def _check_media_group(media: Any) -> list[str]:
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            count = len(media) if isinstance(media, list) else "no"
            return [f"Bad Request: media must include 2-10 items, got {count}"]
        reasons = []
        for i, item in enumerate(media):
            if not isinstance(item, dict) or "type" not in item or "media" not in item:
                reasons.append(f"Bad Request: media item {i} needs type and media")
                continue
            caption = item.get("caption")
            if isinstance(caption, str):
                pm = item.get("parse_mode")
                text = caption
                if isinstance(pm, str) and pm.lower() == "html":
                    text, error = _html_visible(caption)
                    if error:
                        reasons.append(f"Bad Request: can't parse entities: {error}")
                        continue
                if _utf16_len(text) > 1024:
                    reasons.append(f"Bad Request: message caption is too long (media item {i})")
        return reasons

    def _rate_check(self, chat: int, now: float) -> int | None:
        """Seconds to wait if this send breaks a limit; otherwise count it and return None."""
        checks: list[tuple[deque[float], int, float]] = []
        if self._global_limit is not None:
            checks.append((self._global_window, self._global_limit, 1.0))
        if self._chat_limit is not None:
            checks.append((self._chat_windows.setdefault(chat, deque()), self._chat_limit, 1.0))
        if self._group_limit is not None and chat < 0:
            window = self._group_windows.setdefault(chat, deque())
            checks.append((window, self._group_limit, 60.0))
        wait = 0.0
        for window, limit, span in checks:
            while window and window[0] <= now - span:
                window.popleft()
            if len(window) >= limit:
                wait = max(wait, window[0] + span - now)
        if wait > 0:
            return max(1, math.ceil(wait))
        for window, _limit, _span in checks:
            window.append(now)
        return None

    # ------------------------------------------------------------------ getUpdates

    def _with_update_id(self, update: dict[str, Any]) -> dict[str, Any]:
        update = dict(update)
        uid = update.get("update_id")
        if uid is None:
            self._last_update_id += 1
            update["update_id"] = self._last_update_id
        else:
            self._last_update_id = max(self._last_update_id, int(uid))
        return update

    def _notify(self) -> None:
        # Wake every pending long poll; each then re-checks the queue.
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def _confirm(self, offset: int | None) -> None:
        if offset is None or offset == 0:
            return
        if offset < 0:
            keep = list(self._updates)[offset:]
            self._updates = deque(keep)
            if keep:
                self._confirmed_offset = max(self._confirmed_offset, keep[0]["update_id"])
            return
        while self._updates and self._updates[0]["update_id"] < offset:
            self._updates.popleft()
        self._confirmed_offset = max(self._confirmed_offset, offset)

    def _next_batch(self, limit: int) -> list[dict[str, Any]]:
        allowed = self._allowed_updates
        batch: list[dict[str, Any]] = []
        kept: deque[dict[str, Any]] = deque()
        dropped = False
        for update in self._updates:
            kind = next((k for k in update if k != "update_id"), "")
            ok = kind not in _NOT_DEFAULT_UPDATES if allowed is None else kind in allowed
            if not ok:
                dropped = True  # Telegram never creates updates the bot did not ask for
                continue
            kept.append(update)
            if len(batch) < limit:
                batch.append(update)
        if dropped:
            self._updates = kept
        return batch

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
                violation=True,
            )
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else None
        self._confirm(params.get("offset"))
        limit = params.get("limit") or 100
        limit = min(max(int(limit), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # lets an older pending poll notice it was superseded
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiting_pollers += 1
        try:
            while True:
                batch = self._next_batch(limit)
                if batch or self._closing:
                    return batch
                if generation != self._poll_generation:
                    raise _ApiError(409, _DEFAULT_ERRORS[409])
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                wakeup = self._wakeup
                try:
                    async with asyncio.timeout(remaining):
                        await wakeup.wait()
                except TimeoutError:
                    pass
        finally:
            self._waiting_pollers -= 1

    # ------------------------------------------------------------------ method results

    def _set_webhook(self, params: dict[str, Any], chat_id: Any, uploads: Any) -> bool:
        url = params.get("url") or None
        self.webhook_url = url
        self.webhook_secret = params.get("secret_token") or None
        allowed = params.get("allowed_updates")
        self.webhook_allowed_updates = allowed if isinstance(allowed, list) else None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _delete_webhook(self, params: dict[str, Any], chat_id: Any, uploads: Any) -> bool:
        self.webhook_url = None
        self.webhook_secret = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, params: dict[str, Any], chat_id: Any, uploads: Any) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = 40
            info["ip_address"] = "127.0.0.1"
            if self.webhook_allowed_updates is not None:
                info["allowed_updates"] = self.webhook_allowed_updates
        return info

    def _get_file(self, params: dict[str, Any], chat_id: Any, uploads: Any) -> Any:
        stored = self._files.get(str(params.get("file_id")))
        if stored is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        if stored.info["file_size"] > MAX_DOWNLOAD_SIZE:
            raise _ApiError(400, "Bad Request: file is too big")
        return stored.info

    def _send_media_group(
        self, params: dict[str, Any], chat_id: Any, uploads: dict[str, Upload]
    ) -> list[dict[str, Any]]:
        self._media_group_seq += 1
        group_id = str(13_000_000_000_000_000 + self._media_group_seq)
        messages = []
        for item in params["media"]:
            msg = self._new_message(chat_id)
            msg["media_group_id"] = group_id
            kind = item["type"]
            self._attach_media(msg, kind, item["media"], uploads)
            if isinstance(item.get("caption"), str):
                pm = item.get("parse_mode")
                is_html = isinstance(pm, str) and pm.lower() == "html"
                msg["caption"] = _html_visible(item["caption"])[0] if is_html else item["caption"]
            self._store(msg, (None, item.get("caption"), None))
            messages.append(msg)
        return messages

    def _copy_message(self, params: dict[str, Any], chat_id: Any, uploads: Any) -> Any:
        source = self._messages.get(self._chat_int(params["from_chat_id"]), {}).get(
            params["message_id"]
        )
        msg = self._new_message(chat_id)
        if source is not None:
            for key in ("text", "caption", "photo", "document", "location", "voice", "video"):
                if key in source:
                    msg[key] = source[key]
        if "caption" in params:
            msg["caption"] = params["caption"]
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        self._store(msg, (msg.get("text"), msg.get("caption"), markup))
        return {"message_id": msg["message_id"]}

    def _copy_messages(self, params: dict[str, Any], chat_id: Any, uploads: Any) -> Any:
        ids = params.get("message_ids")
        chat = self._chat_int(chat_id)
        return [{"message_id": self._next_message_id(chat)} for _ in ids or []]

    def _delete_message(self, params: dict[str, Any], chat_id: Any, uploads: Any) -> bool:
        self._messages.get(self._chat_int(chat_id), {}).pop(params["message_id"], None)
        return True

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope")
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, params: dict[str, Any], chat_id: Any, uploads: Any) -> bool:
        commands = params.get("commands")
        self._commands[self._commands_key(params)] = commands if isinstance(commands, list) else []
        return True

    def _get_my_commands(self, params: dict[str, Any], chat_id: Any, uploads: Any) -> Any:
        return self._commands.get(self._commands_key(params), [])

    def _delete_my_commands(self, params: dict[str, Any], chat_id: Any, uploads: Any) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    def _get_chat(self, params: dict[str, Any], chat_id: Any, uploads: Any) -> Any:
        info = self._fake("ChatFullInfo")
        info.update(self._chat(self._chat_int(chat_id)))
        return info

    def _get_chat_member(self, params: dict[str, Any], chat_id: Any, uploads: Any) -> Any:
        user_id = params["user_id"]
        user = self.me if user_id == self.bot_id else self._users.get(user_id)
        if user is None:
            user = {"id": user_id, "is_bot": False, "first_name": "Warga"}
        return self._chat_member("member", user)

    def _message_result(
        self,
        spec: _Method,
        params: dict[str, Any],
        chat_id: Any,
        uploads: dict[str, Upload],
        plain: dict[str, str],
    ) -> Any:
        if params.get("inline_message_id") is not None:
            return True  # edits of inline messages answer True, not a Message
        markup = params.get("reply_markup")
        inline_markup = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        if "message_id" in spec.fields and spec.name.startswith(("edit", "stop", "setGame")):
            return self._edit_message(spec.name, params, chat_id, uploads, plain, inline_markup)
        msg = self._new_message(chat_id)
        if "text" in plain:
            msg["text"] = plain["text"]
        if "caption" in plain:
            msg["caption"] = plain["caption"]
        if inline_markup is not None:
            msg["reply_markup"] = inline_markup
        for key in _MEDIA_EXTRA.keys() | {"photo"}:
            if key in params:
                self._attach_media(msg, key, params[key], uploads)
        if "latitude" in params and "longitude" in params:
            loc = {"latitude": params["latitude"], "longitude": params["longitude"]}
            if "title" in params:
                msg["venue"] = {"location": loc, "title": params["title"],
                                "address": params.get("address", "")}  # fmt: skip
            msg["location"] = loc
        if spec.name == "sendContact":
            msg["contact"] = {
                "phone_number": params["phone_number"],
                "first_name": params["first_name"],
            }
        if spec.name == "forwardMessage":
            source = self._messages.get(self._chat_int(params["from_chat_id"]), {}).get(
                params["message_id"]
            )
            if source is not None:
                for key in ("text", "caption", "photo", "document", "location"):
                    if key in source:
                        msg[key] = source[key]
            msg["forward_origin"] = {"type": "hidden_user", "sender_user_name": "Warga",
                                     "date": msg["date"]}  # fmt: skip
        self._store(msg, (params.get("text"), params.get("caption"), inline_markup))
        return msg

    def _edit_message(
        self,
        name: str,
        params: dict[str, Any],
        chat_id: Any,
        uploads: dict[str, Upload],
        plain: dict[str, str],
        inline_markup: dict[str, Any] | None,
    ) -> dict[str, Any]:
        chat = self._chat_int(chat_id)
        mid = params["message_id"]
        old = self._messages.get(chat, {}).get(mid)
        msg: dict[str, Any] = (
            dict(old)
            if old is not None
            else {"message_id": mid, "from": self.me, "chat": self._chat(chat),
                  "date": int(time.time())}
        )  # fmt: skip
        before = self._fingerprints.get((chat, mid))
        text, caption = (before[0], before[1]) if before else (None, None)
        if name == "editMessageText":
            msg["text"] = plain.get("text", params.get("text", ""))
            text = params.get("text")
        elif name == "editMessageCaption":
            caption = params.get("caption")
            if "caption" in plain:
                msg["caption"] = plain["caption"]
            else:
                msg.pop("caption", None)
        elif name == "editMessageMedia":
            media = params.get("media")
            if isinstance(media, dict) and "type" in media and "media" in media:
                for key in ("photo", *_MEDIA_EXTRA):
                    msg.pop(key, None)
                self._attach_media(msg, media["type"], media["media"], uploads)
        elif "latitude" in params:
            msg["location"] = {"latitude": params["latitude"], "longitude": params["longitude"]}
        if inline_markup is not None:
            msg["reply_markup"] = inline_markup
        else:
            msg.pop("reply_markup", None)
        after = (text, caption, inline_markup)
        if before is not None and before == after and name in _NOT_MODIFIED_CHECKED:
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        msg["edit_date"] = int(time.time())
        self._store(msg, after)
        return msg

    def _attach_media(
        self, msg: dict[str, Any], kind: str, value: Any, uploads: dict[str, Upload]
    ) -> None:
        info = self._file_for(value, uploads)
        if kind == "photo":
            msg["photo"] = [
                {**info, "width": 90, "height": 68},
                {**info, "width": 1280, "height": 960},
            ]
            return
        obj = {**info, **_MEDIA_EXTRA.get(kind, {})}
        if kind == "document" and isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value[9:])
            if upload is not None and upload.filename:
                obj["file_name"] = upload.filename
        msg[kind] = obj

    def _file_for(self, value: Any, uploads: dict[str, Upload]) -> dict[str, Any]:
        if isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value[9:])
            self._file_seq += 1
            stored = self.add_file(
                f"standin-upload-{self._file_seq}", upload.data if upload else b""
            )
            return {k: stored[k] for k in ("file_id", "file_unique_id", "file_size")}
        known = self._files.get(value) if isinstance(value, str) else None
        if known is not None:
            return {k: known.info[k] for k in ("file_id", "file_unique_id", "file_size")}
        self._file_seq += 1
        return {"file_id": str(value), "file_unique_id": f"AQADurl{self._file_seq}"}

    # ------------------------------------------------------------------ object builders

    def _fake(self, type_name: str, depth: int = 0) -> Any:
        """A minimal object of a spec type with every required field filled in."""
        if type_name.startswith("Array of"):
            return []
        scalar = {"Integer": 0, "Float": 0.0, "Boolean": False, "True": True, "String": ""}
        if type_name in scalar:
            return scalar[type_name]
        spec = self._types.get(type_name)
        if spec is None or depth > 5:
            return {}
        if spec.subtypes:
            return self._fake(spec.subtypes[0], depth + 1)
        return {
            name: const if const else self._fake(first_type, depth + 1)
            for name, first_type, const in spec.required
        }

    def _chat_member(self, status: str, user: dict[str, Any]) -> dict[str, Any]:
        subtype = {
            "creator": "ChatMemberOwner",
            "administrator": "ChatMemberAdministrator",
            "member": "ChatMemberMember",
            "restricted": "ChatMemberRestricted",
            "left": "ChatMemberLeft",
            "kicked": "ChatMemberBanned",
        }.get(status)
        if subtype is None:
            raise ValueError(f"unknown chat member status {status!r}")
        member: dict[str, Any] = self._fake(subtype)
        member["status"] = status
        member["user"] = user
        return member

    def _user(
        self, user_id: int, first_name: str, language_code: str | None, username: str | None
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        return user

    def _chat(self, chat: int, username: str | None = None) -> dict[str, Any]:
        if chat > 0:
            user = self._users.get(chat)
            out: dict[str, Any] = {
                "id": chat,
                "type": "private",
                "first_name": user["first_name"] if user else "Warga",
            }
            if user and "username" in user:
                out["username"] = user["username"]
            return out
        if username is None:
            username = next((n for n, i in self._channel_ids.items() if i == chat), None)
        if username is not None:
            return {"id": chat, "type": "channel", "title": username, "username": username}
        kind = "supergroup" if str(chat).startswith("-100") else "group"
        return {"id": chat, "type": kind, "title": "Forum Musrenbang"}

    def _chat_int(self, chat_id: Any) -> int:
        if isinstance(chat_id, int):
            return chat_id
        name = str(chat_id).lstrip("@")
        if name not in self._channel_ids:
            self._channel_ids[name] = -1_009_000_000_000 - len(self._channel_ids)
        return self._channel_ids[name]

    def _next_message_id(self, chat: int) -> int:
        # One counter per chat, shared by the user's and the bot's messages as in Telegram.
        mid = self._message_ids.get(chat, 0) + 1
        self._message_ids[chat] = mid
        return mid

    def _new_message(self, chat_id: Any) -> dict[str, Any]:
        chat = self._chat_int(chat_id)
        return {
            "message_id": self._next_message_id(chat),
            "from": self.me,
            "chat": self._chat(chat),
            "date": int(time.time()),
        }

    def _store(self, msg: dict[str, Any], fingerprint: tuple[Any, ...]) -> None:
        chat = msg["chat"]["id"]
        self._messages.setdefault(chat, {})[msg["message_id"]] = msg
        self._fingerprints[(chat, msg["message_id"])] = fingerprint

    def _user_message(
        self,
        user_id: int,
        first_name: str = "Warga",
        language_code: str = "id",
        username: str | None = None,
        chat_type: str = "private",
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        user = self._user(user_id, first_name, language_code, username)
        if chat_type == "private":
            chat = self._chat(user_id)
        else:
            cid = chat_id if chat_id is not None else -1_001_000_000_000 - user_id
            if chat_type == "group" and chat_id is None:
                cid = -user_id
            chat = {"id": cid, "type": chat_type, "title": "Forum Musrenbang"}
        msg: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
        }
        self._messages.setdefault(chat["id"], {})[msg["message_id"]] = msg
        return msg

    def _update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        self._last_update_id += 1
        return {"update_id": self._last_update_id, kind: payload}
