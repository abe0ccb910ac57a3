"""Every text a resident can be shown exists in every language (STYLE habit 10)."""

from __future__ import annotations

import ast
import re
import string
import typing
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import locales
from backend.domain import Decision, Stage
from backend.errors import PhotoRejected
from backend.services.categories import load_categories
from backend.services.media import StoredPhoto
from backend.services.wilayah import DesaMatch, WilayahIndex, iter_wilayah_rows
from backend.services.wiring import Backend
from handlers import intake
from handlers.account import LANGUAGE_NAMES
from handlers.dispatch import COMMAND_ALIASES, MENU_COMMANDS
from handlers.events import (
    ButtonPress,
    Command,
    Contact,
    Event,
    Location,
    Msg,
    Notice,
    Photo,
    Reply,
    Say,
    Text,
    Unsupported,
    UnsupportedKind,
)
from handlers.intake import _desa_button
from handlers.steps import STEPS
from tests.chat import Resident, walk_to
from tests.conftest import make_settings, start_backend

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = locales.LANGUAGES
MAX_CALLBACK_BYTES = 64  # Bot API: callback_data is 1-64 bytes
MAX_LABEL_BYTES = 64  # the channel cuts a label there; a translation must fit


def catalog(language: str) -> dict[str, str]:
    return locales.catalog(language)


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def string_literals(*folders: str) -> Iterator[tuple[Path, int, str]]:
    """Whole string literals; the fixed parts of an f-string are prefixes, not keys."""
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            in_fstrings = {
                id(part)
                for node in ast.walk(tree)
                if isinstance(node, ast.JoinedStr)
                for part in node.values
            }
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in in_fstrings
                ):
                    yield path, node.lineno, node.value


def constants_passed_to(name: str, *folders: str) -> set[str]:
    """String constants among the arguments of every call to `name` in `folders`."""
    found: set[str] = set()
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if called != name:
                    continue
                for arg in node.args:
                    for inner in ast.walk(arg):
                        if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                            found.add(inner.value)
    return found


# --- the catalogs themselves ------------------------------------------------------------


def test_both_catalogs_have_the_same_keys() -> None:
    indonesian, english = set(catalog("id")), set(catalog("en"))
    assert sorted(indonesian - english) == [], "missing in English"
    assert sorted(english - indonesian) == [], "missing in Indonesian"


def test_placeholders_are_the_same_in_every_language() -> None:
    differing = {
        key: {lang: sorted(placeholders(catalog(lang)[key])) for lang in LANGUAGES}
        for key in catalog("id")
        if key in catalog("en")
        and placeholders(catalog("id")[key]) != placeholders(catalog("en")[key])
    }
    assert differing == {}


def test_every_template_renders() -> None:
    for lang in LANGUAGES:
        for key, template in catalog(lang).items():
            params = {name: "x" for name in placeholders(template)}
            rendered = locales.t(lang, key, params)
            assert "{" not in rendered.replace("{}", ""), (lang, key, rendered)


# --- every key the code can produce -----------------------------------------------------


def keys_in_code() -> dict[str, str]:
    """Literals in handlers/ and bot/ shaped like a catalog key, with where they are."""
    namespaces = {key.split(".")[0] for key in catalog("id")}
    shape = re.compile(rf"(?:{'|'.join(sorted(namespaces))})\.[a-z0-9_]+(?:\.[a-z0-9_]+)*")
    states = set(STEPS)  # conversation states share the dotted form but are not texts
    return {
        value: f"{path.relative_to(ROOT)}:{line}"
        for path, line, value in string_literals("handlers", "bot")
        if shape.fullmatch(value) and value not in states
    }


def test_the_scan_finds_the_keys_it_should() -> None:
    found = keys_in_code()
    assert {"intake.ask_desa", "common.stale_button", "button.skip", "common.error"} <= set(found)
    assert "intake.desa" not in found  # a state name


def test_every_key_literal_in_the_code_has_a_translation() -> None:
    missing = {
        key: where
        for key, where in keys_in_code().items()
        for lang in LANGUAGES
        if not locales.has(lang, key)
    }
    assert missing == {}


def photo_rejection_reasons() -> set[str]:
    return constants_passed_to("PhotoRejected", "backend", "bot")


def dynamic_keys() -> set[str]:
    unexpected_events = {"text", "location", "contact", "photo"}
    return {
        *(f"category.{c.key}" for c in load_categories()),
        *(f"stage.{s.value}" for s in Stage),
        *(f"decision.{d.value}" for d in Decision),
        *(f"common.unexpected.{kind}" for kind in typing.get_args(UnsupportedKind)),
        *(f"common.unexpected.{kind}" for kind in unexpected_events),
        *(f"button.edit.{field}" for field in intake.EDITABLE),
        *(f"summary.invalid.{field}" for field in intake.FIELD_STEP),
        *(f"intake.photo_{reason}" for reason in photo_rejection_reasons()),
        *(f"menu.{command}" for command in MENU_COMMANDS),
    }


def test_the_photo_rejection_reasons_are_found() -> None:
    assert {"not_image", "too_large", "download_failed"} <= photo_rejection_reasons()


def test_every_key_built_at_run_time_has_a_translation() -> None:
    missing = sorted(
        (lang, key) for key in dynamic_keys() for lang in LANGUAGES if not locales.has(lang, key)
    )
    assert missing == []


# --- what a channel shows ---------------------------------------------------------------


def test_button_labels_fit_a_telegram_button() -> None:
    labels = [
        (lang, key, text)
        for lang in LANGUAGES
        for key, text in catalog(lang).items()
        if key.startswith(("button.", "category."))
    ]
    labels += [("-", code, name) for code, name in LANGUAGE_NAMES.items()]
    assert labels
    too_long = [(lang, key) for lang, key, text in labels if len(text.encode()) > MAX_LABEL_BYTES]
    assert too_long == []


def test_every_desa_button_of_the_region_fits_even_with_its_kecamatan() -> None:
    rows = list(iter_wilayah_rows("12.71"))
    index = WilayahIndex.from_rows(rows)
    buttons = []
    for code, _ in rows:
        desa = index.get(code)
        if desa is not None:
            buttons.append(_desa_button(DesaMatch(desa, 100.0, ambiguous=True)))
    assert len(buttons) == 151
    for button in buttons:
        assert isinstance(button.label, str)
        assert len(button.label.encode()) <= MAX_LABEL_BYTES, button.label
        assert len(button.payload.encode()) <= MAX_CALLBACK_BYTES, button.payload


def test_the_command_menu_is_valid_for_telegram() -> None:
    for name in MENU_COMMANDS:
        assert re.fullmatch(r"[a-z0-9_]{1,32}", name)
        assert COMMAND_ALIASES.get(name) == name
        for lang in LANGUAGES:
            assert 1 <= len(locales.t(lang, f"menu.{name}")) <= 256


# --- every reply of every step, driven for real -----------------------------------------


@pytest.fixture
async def backend_sqlite(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Backend]:
    started = await start_backend(make_settings(sqlite_url, tmp_path))
    yield started
    await started.close()


def messages_of(replies: list[Reply]) -> Iterator[Msg]:
    def nested(msg: Msg) -> Iterator[Msg]:
        yield msg
        for value in msg.params.values():
            if isinstance(value, Msg):
                yield from nested(value)

    for reply in replies:
        if isinstance(reply, Notice):
            yield from nested(reply.text)
            continue
        for part in reply.parts:
            yield from nested(part)
        labels = [b.label for row in reply.buttons for b in row]
        labels += [reply.request_location, reply.skip]
        for value in labels:
            if isinstance(value, Msg):
                yield from nested(value)


def payloads_of(replies: list[Reply]) -> list[str]:
    return [b.payload for r in replies if isinstance(r, Say) for row in r.buttons for b in row]


async def _jpeg() -> StoredPhoto:
    return StoredPhoto(sha256="ab" * 32, width=64, height=48, bytes=700)


async def _not_an_image() -> StoredPhoto:
    raise PhotoRejected("not_image")


ODD_EVENTS: list[Event] = [
    Text("halo, apa kabar?"),
    Text("x" * 5000),
    Text("lewati"),
    ButtonPress("forged:payload"),
    ButtonPress("skip:intake.desa"),
    Location(3.58, 98.67),
    Contact("+6281234567890"),
    Photo(load=_jpeg, file_size=700),
    Photo(load=_not_an_image, file_size=13),
    *(Unsupported(kind) for kind in typing.get_args(UnsupportedKind)),
    Command("bantuan"),
    Command("tidak_ada"),
    Command("status", "ABCD-EFGH"),
]


@pytest.mark.parametrize("state", sorted(STEPS))
@pytest.mark.parametrize("language", LANGUAGES)
async def test_whatever_arrives_at_any_step_is_answered_in_the_catalog(
    backend_sqlite: Backend, state: str, language: str
) -> None:
    resident = Resident(backend_sqlite, language_code=language)
    await walk_to(resident, state)
    snapshot = await resident.conversation()
    assert snapshot.state == state
    produced: list[tuple[str, Any]] = []
    for event in ODD_EVENTS:
        await resident.restore(snapshot)
        await resident.deliver(event)
        produced += [(msg.key, event) for msg in messages_of(resident.replies)]
        for payload in payloads_of(resident.replies):
            assert 0 < len(payload.encode()) <= MAX_CALLBACK_BYTES, payload
    untranslated = {
        key: repr(event) for key, event in produced if not locales.has(resident.language, key)
    }
    assert untranslated == {}
