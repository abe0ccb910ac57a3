"""Message catalogs (gettext .po, read with Babel). Keys are symbolic: `intake.ask_desa`.

Indonesian is the default and the fallback; a key missing from a catalog falls back to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent
DOMAIN = "musrenbot"
DEFAULT = "id"
LANGUAGES = ("id", "en")


class Renderable(Protocol):
    key: str
    params: Mapping[str, Any]


@cache
def catalog(language: str) -> dict[str, str]:
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as fh:
        po = read_po(fh, locale=language)
    return {str(m.id): str(m.string) for m in po if m.id and m.string and not m.fuzzy}


def has(language: str, key: str) -> bool:
    return key in catalog(language)


def t(language: str, key: str, params: Mapping[str, Any] | None = None) -> str:
    """Render `key` in `language` with `{name}` placeholders filled from `params`.

    A parameter that is itself a message (has `key` and `params`) is rendered first, so a
    category or a decision reaches the reader in their own language.
    """
    lang = language if language in LANGUAGES else DEFAULT
    template = catalog(lang).get(key) or catalog(DEFAULT).get(key) or key
    if not params:
        return template
    values = {
        name: t(lang, value.key, value.params) if _is_message(value) else value
        for name, value in params.items()
    }
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError):
        return template


def _is_message(value: Any) -> bool:
    return hasattr(value, "key") and hasattr(value, "params")


def variants(key: str) -> set[str]:
    """The text of `key` in every language, lower-cased: to recognise a typed button label."""
    return {catalog(lang).get(key, "").strip().lower() for lang in LANGUAGES} - {""}
