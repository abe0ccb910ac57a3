"""Meta's OpenAPI description of the Cloud API, loaded once, corrected where Meta's own
examples contradict it, and turned into validators for the request bodies the stand-in serves.

Each correction (an erratum) is listed in ``ERRATA`` and in SOURCE.md with the reason; the
tests check that every one of Meta's request examples validates after them, so a correction
can only widen the schema as far as Meta's own examples go.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = ["ERRATA", "MESSAGES_PATH", "SPEC_PATH", "CloudApiSpec", "load_spec"]

SPEC_PATH = Path(__file__).with_name("business-messaging-api_v23.0.yaml")
SPEC_URI = "urn:whatsapp-cloud-api:v23.0"
MESSAGES_PATH = "/{Version}/{Phone-Number-ID}/messages"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _schemas(spec: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = spec["components"]["schemas"]
    return schemas


def _message_types(spec: dict[str, Any]) -> dict[str, str]:
    """Message ``type`` -> component name, from the discriminator of ``Message``."""
    mapping = _schemas(spec)["Message"]["discriminator"]["mapping"]
    return {t: ref.rsplit("/", 1)[1] for t, ref in mapping.items()}


def _close_all_of(spec: dict[str, Any]) -> None:
    # Each message type is allOf [BaseMessageProperties, {additionalProperties: false, ...}];
    # read literally, that refuses messaging_product and to, so no message at all validates.
    # The intent (no field beyond the two parts) is unevaluatedProperties on the whole.
    schemas = _schemas(spec)
    for name in _message_types(spec).values():
        schema = schemas[name]
        for part in schema.get("allOf", []):
            part.pop("additionalProperties", None)
        schema["unevaluatedProperties"] = False


def _recipient_type_optional(spec: dict[str, Any]) -> None:
    base = _schemas(spec)["BaseMessageProperties"]
    base["required"] = [r for r in base["required"] if r != "recipient_type"]


def _numeric_coordinates(spec: dict[str, Any]) -> None:
    props = _schemas(spec)["LocationMessage"]["allOf"][1]["properties"]["location"]["properties"]
    for key in ("latitude", "longitude"):
        props[key]["type"] = ["number", "string"]


def _language_policy_optional(spec: dict[str, Any]) -> None:
    language = _schemas(spec)["LanguageObject"]
    language["required"] = [r for r in language["required"] if r != "policy"]


def _template_components(spec: dict[str, Any]) -> None:
    props = _schemas(spec)["TemplateComponent"]["properties"]
    # The pattern "^[2-6, 11-14]$" is a character class that refuses index 0 and 1.
    props["index"] = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 0}
    for key, words in (
        ("type", ["header", "body", "button"]),
        ("sub_type", ["quick_reply", "url", "catalog", "flow"]),
    ):
        props[key] = {"type": "string", "enum": words + [w.upper() for w in words]}  # fmt: skip


def _location_request(spec: dict[str, Any]) -> None:
    schemas = _schemas(spec)
    schemas["InteractiveObject"]["properties"]["type"]["enum"].append("location_request_message")
    schemas["ActionObject"]["oneOf"].append(
        {
            "required": ["name"],
            "properties": {"name": {"type": "string", "enum": ["send_location"]}},
        }
    )


@dataclass(frozen=True, slots=True)
class Erratum:
    where: str
    why: str
    apply: Callable[[dict[str, Any]], None]


ERRATA: tuple[Erratum, ...] = (
    Erratum(
        "every message type (allOf + additionalProperties: false)",
        "read literally no message validates; closed with unevaluatedProperties instead",
        _close_all_of,
    ),
    Erratum(
        "BaseMessageProperties.required recipient_type",
        "Meta's examples (Send Contact Message, Send Test Message) omit it; it defaults to "
        "individual",
        _recipient_type_optional,
    ),
    Erratum(
        "LocationMessage latitude/longitude typed string",
        "Meta's examples (Send Location Message) send numbers",
        _numeric_coordinates,
    ),
    Erratum(
        "LanguageObject.required policy",
        "no template example sends it; deterministic is the only value",
        _language_policy_optional,
    ),
    Erratum(
        "TemplateComponent index pattern, type and sub_type enums",
        "Meta's template examples send index 0 (integer or string) and sub_type CATALOG / flow; "
        "the API takes these names in either case (pywa sends BODY, BUTTON, QUICK_REPLY)",
        _template_components,
    ),
    Erratum(
        "InteractiveObject.type lacks location_request_message",
        "a documented Cloud API message type (action name send_location) that pywa sends",
        _location_request,
    ),
)

# Meta's own request examples that cannot validate whatever the schema: placeholders where a
# value must be one of a list, or no type at all on a message that is not text.
BROKEN_EXAMPLES = {
    "Send Multi-Product Message": "header type is the placeholder <HEADER_TYPE>",
    "Send Order Details Message": "order_details is not in the spec's interactive types",
    "Send Order Status Message": "order_status is not in the spec's interactive types",
    "Send Reply to List Message": "an interactive message without type",
}

# A body with no type is sent as text (Meta: "type ... if omitted, defaults to text").
DEFAULT_MESSAGE_TYPE = "text"

# Parts of a read receipt (with the optional typing indicator); the spec gives only an example.
READ_RECEIPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["messaging_product", "status", "message_id"],
    "properties": {
        "messaging_product": {"const": "whatsapp"},
        "status": {"const": "read"},
        "message_id": {"type": "string", "minLength": 1},
        "typing_indicator": {
            "type": "object",
            "additionalProperties": False,
            "required": ["type"],
            "properties": {"type": {"const": "text"}},
        },
    },
}


@dataclass(frozen=True, slots=True)
class _Operation:
    method: str
    template: str
    pattern: re.Pattern[str]


class CloudApiSpec:
    """Paths and message validators from the (corrected) specification."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.version: str = raw["info"]["version"]
        spec = copy.deepcopy(raw)
        for erratum in ERRATA:
            erratum.apply(spec)
        self.spec = spec
        registry: Registry[Any] = Registry().with_resource(
            SPEC_URI, DRAFT202012.create_resource(spec)
        )
        self.message_types = _message_types(spec)
        self._validators = {
            t: Draft202012Validator(
                {"$ref": f"{SPEC_URI}#/components/schemas/{name}"}, registry=registry
            )
            for t, name in self.message_types.items()
        }
        self._read_receipt = Draft202012Validator(READ_RECEIPT_SCHEMA)
        self._operations = [
            _Operation(method.upper(), path, _path_pattern(path))
            for path, item in spec["paths"].items()
            for method in item
            if method in {"get", "post", "put", "delete", "patch"}
        ]

    def operation(self, method: str, path: str) -> str | None:
        """The spec's path template serving ``method path``, or None when there is none.

        A concrete path can fit several templates (``/v23.0/123`` fits every single-node
        path); any one with that method is enough to say the path exists."""
        for op in self._operations:
            if op.method == method.upper() and op.pattern.fullmatch(path):
                return op.template
        return None

    def message_errors(self, body: dict[str, Any]) -> list[str]:
        """Why ``body`` is not a valid ``Message`` (empty when it is)."""
        if "type" not in body:
            body = {**body, "type": DEFAULT_MESSAGE_TYPE}
        kind = body["type"]
        validator = self._validators.get(kind) if isinstance(kind, str) else None
        if validator is None:
            return [f"['type']: {kind!r} is not one of {sorted(self._validators)}"]
        return list(_describe(validator.iter_errors(body)))

    def read_receipt_errors(self, body: dict[str, Any]) -> list[str]:
        return list(_describe(self._read_receipt.iter_errors(body)))

    def request_examples(self) -> dict[str, dict[str, Any]]:
        """Meta's example bodies for sending a message, by example name."""
        post = self.raw["paths"][MESSAGES_PATH]["post"]
        examples = post["requestBody"]["content"]["application/json"]["examples"]
        return {name: ex["value"] for name, ex in examples.items()}


def _path_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p)
    return re.compile(regex)


def _describe(errors: Iterator[Any]) -> Iterator[str]:
    found = list(errors)
    # A part that fails counts as unevaluated too; that echo only hides the real reason.
    if any(e.validator != "unevaluatedProperties" for e in found):
        found = [e for e in found if e.validator != "unevaluatedProperties"]
    for error in sorted(found, key=lambda e: [str(p) for p in e.absolute_path]):
        where = "".join(f"[{p!r}]" for p in error.absolute_path) or "body"
        yield f"{where}: {error.message}"


@functools.cache
def load_spec(path: Path = SPEC_PATH) -> CloudApiSpec:
    """Parse the specification once per process (a megabyte of YAML)."""
    with path.open(encoding="utf-8") as fh:
        return CloudApiSpec(yaml.load(fh, Loader=_Loader))  # noqa: S506 - a safe loader
