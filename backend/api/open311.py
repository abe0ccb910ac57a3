"""Open311 GeoReport v2 (open311.org) under /open311/v2/, in JSON and XML.

Services are the plain-language categories; a request is an usulan. Stage and decision map to
`status` open/closed plus `status_notes`. Nothing personal is ever returned.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from xml.etree import ElementTree

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

import locales
from backend.api.deps import BackendDep, Client, Unit
from backend.api.errors import ERROR_DESCRIPTIONS
from backend.domain import MAX_TEXT_CHARS, MIN_TEXT_CHARS, Origin
from backend.errors import DomainError, Forbidden, InvalidInput, TooManyAttempts
from backend.services.intake import normalise_code
from backend.services.public import PublicUsulan, RequestFilter
from backend.services.wiring import Backend, Services

Format = Literal["json", "xml"]
JURISDICTION = "musrenbot"
MAX_REQUEST_IDS = 20  # service_request_id=A,B,...: a client following its own requests
MAX_DESCRIPTION = 4000  # the spec's limit; our usulan text is shorter, checked below
# Our field names -> the names an Open311 client sent, for error messages.
OPEN311_FIELDS = {
    "usulan": "description",
    "permasalahan": "attribute[permasalahan]",
    "volume": "attribute[volume]",
    "unit": "attribute[satuan]",
    "beneficiaries": "attribute[penerima_manfaat]",
    "latitude": "lat",
    "longitude": "long",
    "submitter_name": "first_name/last_name",
    "submitter_phone": "phone",
}


class Open311Error(Exception):
    """A refusal in Open311's words; raised through the unit of work, so it rolls back."""

    def __init__(
        self,
        status: int,
        description: str,
        code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.code = code or status
        self.headers = headers or {}


def _xml(root: str, item: str, rows: list[dict[str, Any]]) -> str:
    top = ElementTree.Element(root)
    for row in rows:
        element = ElementTree.SubElement(top, item)
        _fill(element, row)
    return '<?xml version="1.0" encoding="utf-8"?>' + ElementTree.tostring(top, encoding="unicode")


def _fill(element: ElementTree.Element, row: dict[str, Any]) -> None:
    for key, value in row.items():
        child = ElementTree.SubElement(element, key)
        if isinstance(value, dict):
            _fill(child, value)
        elif isinstance(value, list):
            for entry in value:
                sub = ElementTree.SubElement(child, key.rstrip("s") or key)
                if isinstance(entry, dict):
                    _fill(sub, entry)
                else:
                    sub.text = str(entry)
        elif value is not None:
            child.text = str(value).lower() if isinstance(value, bool) else str(value)


def _reply(
    fmt: Format, root: str, item: str, rows: list[dict[str, Any]], status: int = 200
) -> Response:
    if fmt == "xml":
        return Response(_xml(root, item, rows), status_code=status, media_type="text/xml")
    return JSONResponse(rows, status_code=status)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


_XML = {"text/xml": {"schema": {"type": "string"}}}
_OPEN311_ERRORS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
        "required": ["code", "description"],
    },
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` of an Open311 route: JSON or XML as `fmt` asks, and the spec's
    error list for `statuses`; a request refused before the route runs gets an ErrorOut."""
    either = {"anyOf": [_OPEN311_ERRORS, {"$ref": "#/components/schemas/ErrorOut"}]}
    return {
        200: {"content": {"application/json": {"schema": {}}, **_XML}},
        **{
            status: {
                "description": ERROR_DESCRIPTIONS[status],
                "content": {"application/json": {"schema": either}, **_XML},
            }
            for status in statuses
        },
    }


router = APIRouter(prefix="/open311/v2", tags=["open311"])
LANG = "id"  # Open311 clients get the region's language


async def open311_error(request: Request, exc: Exception) -> Response:
    """An Open311 refusal raised by a route (after its unit of work rolled back), in the
    format the route was asked for."""
    assert isinstance(exc, Open311Error)
    return _refusal("xml" if request.path_params.get("fmt") == "xml" else "json", exc)


def _refusal(fmt: Format, error: Open311Error) -> Response:
    """The spec's error list."""
    rows = [{"code": error.code, "description": error.description}]
    response = _reply(fmt, "errors", "error", rows, status=error.status)
    response.headers.update(error.headers)
    return response


def _throttled(exc: TooManyAttempts) -> Open311Error:
    wait = exc.retry_after
    return Open311Error(
        429, f"too many lookups; retry in {wait} seconds", headers={"Retry-After": str(wait)}
    )


async def _looked_up(services: Services, client: str, code: str) -> PublicUsulan | None:
    """An usulan by code for an anonymous client, within its lookup limits."""
    try:
        return await services.throttle.code_lookup(
            client, lambda: services.public.usulan(code, with_history=False)
        )
    except TooManyAttempts as exc:
        raise _throttled(exc) from exc


@router.get("/services.{fmt}", responses=documented())
async def services(fmt: Format, backend: BackendDep) -> Response:
    rows = [_service_row(backend, c.key) for c in backend.categories]
    return _reply(fmt, "services", "service", rows)


@router.get("/services/{service_code}.{fmt}", responses=documented(404))
async def service_definition(service_code: str, fmt: Format, backend: BackendDep) -> Response:
    if service_code not in backend.categories_by_key:
        raise Open311Error(404, f"unknown service_code {service_code[:40]}")
    desa_values = [{"key": d.code, "name": d.label} for d in backend.wilayah.all()]
    body = {"service_code": service_code, "attributes": _attributes(desa_values)}
    if fmt == "xml":
        return Response(
            _xml("service_definition", "service", [body])
            .replace("<service_definition><service>", "<service_definition>")
            .replace("</service></service_definition>", "</service_definition>"),
            media_type="text/xml",
        )
    return JSONResponse(body)


@router.get("/requests.{fmt}", responses=documented(400, 429))
async def requests(
    fmt: Format,
    backend: BackendDep,
    services: Unit,
    client: Client,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
) -> Response:
    wanted = _filter(service_request_id, service_code, start_date, end_date, status)
    try:
        if wanted.codes:  # asking for codes by name: counted like lookups one by one
            asked = [normalise_code(c) or c for c in wanted.codes]
            found = await services.throttle.code_lookups(
                client, asked, lambda: services.public.requests(wanted), lambda i: i.code
            )
        else:
            found = await services.public.requests(wanted)
    except TooManyAttempts as exc:
        raise _throttled(exc) from exc
    rows = [_request_row(backend, i) for i in found]
    return _reply(fmt, "service_requests", "request", rows)


@router.get("/requests/{service_request_id}.{fmt}", responses=documented(404, 429))
async def one_request(
    service_request_id: str, fmt: Format, backend: BackendDep, services: Unit, client: Client
) -> Response:
    found = await _looked_up(services, client, service_request_id)
    if found is None:  # answered, not raised: the unit of work keeps the miss it counted
        return _refusal(fmt, Open311Error(404, "no such service_request_id"))
    return _reply(fmt, "service_requests", "request", [_request_row(backend, found)])


@router.get("/tokens/{token}.{fmt}", responses=documented(404, 429))
async def token(token: str, fmt: Format, services: Unit, client: Client) -> Response:
    # Requests are created at once, so a token is the request id itself.
    found = await _looked_up(services, client, token)
    if found is None:  # answered, not raised: the unit of work keeps the miss it counted
        return _refusal(fmt, Open311Error(404, "no such token"))
    return _reply(
        fmt, "service_requests", "request", [{"service_request_id": found.code, "token": token}]
    )


@router.post("/requests.{fmt}", responses=documented(400, 403))
async def create(fmt: Format, request: Request, backend: BackendDep, services: Unit) -> Response:
    form = await request.form()
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    code = await _create(backend, services, fields)
    notice = "Usulan diterima untuk Musrenbang Desa/Kelurahan; ikuti kodenya."
    return _reply(
        fmt,
        "service_requests",
        "request",
        [{"service_request_id": code, "service_notice": notice, "account_id": None}],
    )


def _service_row(backend: Backend, key: str) -> dict[str, Any]:
    category = backend.categories_by_key[key]
    return {
        "service_code": key,
        "service_name": _plain(locales.t(LANG, f"category.{key}")),
        "description": category.urusan_name or locales.t(LANG, f"category.{key}"),
        "metadata": True,
        "type": "realtime",
        "keywords": category.urusan_code or "",
        "group": category.urusan_name or "Lainnya",
    }


def _request_row(backend: Backend, item: PublicUsulan) -> dict[str, Any]:
    desa = backend.wilayah.get(item.desa_code)
    stage = locales.t(LANG, f"stage.{item.stage}")
    notes = f"{stage}: {locales.t(LANG, f'decision.{item.decision}')}"
    if item.merged_into:
        notes += f" ({item.merged_into})"
    return {
        "service_request_id": item.code,
        "status": "closed" if item.closed else "open",
        "status_notes": notes,
        "service_name": _service_row(backend, item.category)["service_name"]
        if item.category in backend.categories_by_key
        else item.category,
        "service_code": item.category,
        "description": item.usulan,
        "agency_responsible": item.opd,
        "service_notice": None,
        "requested_datetime": _iso(item.created_at),
        "updated_datetime": _iso(item.updated_at),
        "expected_datetime": None,
        "address": f"{desa.label}, Kec. {desa.kecamatan_name}" if desa else item.desa_code,
        "address_id": item.desa_code,
        "zipcode": None,
        "lat": item.latitude,
        "long": item.longitude,
        "media_url": None,
    }


def _attributes(desa_values: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The attributes of every service: the desa, the problem, volume, unit, beneficiaries."""
    return [
        {
            "variable": True,
            "code": "desa",
            "datatype": "singlevaluelist",
            "required": True,
            "datatype_description": "Kode Kemendagri desa/kelurahan",
            "order": 1,
            "description": "Desa/kelurahan",
            "values": desa_values,
        },
        {
            "variable": True,
            "code": "permasalahan",
            "datatype": "text",
            "required": True,
            "datatype_description": f"{MIN_TEXT_CHARS}-{MAX_TEXT_CHARS} karakter",
            "order": 2,
            "description": "Permasalahan: keadaan sekarang",
        },
        {
            "variable": True,
            "code": "volume",
            "datatype": "number",
            "required": False,
            "datatype_description": None,
            "order": 3,
            "description": "Volume (angka)",
        },
        {
            "variable": True,
            "code": "satuan",
            "datatype": "string",
            "required": False,
            "datatype_description": "meter, unit, titik, ...",
            "order": 4,
            "description": "Satuan volume",
        },
        {
            "variable": True,
            "code": "penerima_manfaat",
            "datatype": "number",
            "required": False,
            "datatype_description": None,
            "order": 5,
            "description": "Perkiraan jumlah penerima manfaat",
        },
    ]


def _plain(label: str) -> str:
    """A category's button label without its leading emoji."""
    return re.sub(r"^\W+", "", label).strip()


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        # In UTC, as stored; an offset at the calendar's edge would leave year 1..9999.
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise Open311Error(400, f"not a W3C date-time within years 1-9999: {text[:40]}") from None


def _filter(
    ids: str | None,
    service_code: str | None,
    start: str | None,
    end: str | None,
    status: str | None,
) -> RequestFilter:
    if status not in (None, "", "open", "closed"):
        raise Open311Error(400, "status is open or closed")
    codes = tuple(x.strip() for x in (ids or "").split(",") if x.strip())
    if len(codes) > MAX_REQUEST_IDS:
        raise Open311Error(400, f"service_request_id: at most {MAX_REQUEST_IDS} ids at once")
    start_at, end_at = _date(start), _date(end)
    if not codes and start_at is None and end_at is None:
        start_at = datetime.now(UTC) - timedelta(days=90)  # the spec's default window
    return RequestFilter(
        codes=codes,
        category=service_code or None,
        start=start_at,
        end=end_at,
        closed=None if not status else status == "closed",
        limit=1000,
    )


async def _create(backend: Backend, services: Services, fields: dict[str, str]) -> str:
    key = fields.get("api_key", "")
    service_code = fields.get("service_code", "")
    if service_code not in backend.categories_by_key:
        raise Open311Error(400, "service_code is missing or unknown")
    description = fields.get("description", "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description: at most {MAX_DESCRIPTION} characters")
    attributes = {
        k[10:-1]: v for k, v in fields.items() if k.startswith("attribute[") and k.endswith("]")
    }
    desa_code = attributes.get("desa") or fields.get("address_id") or ""
    if not desa_code and fields.get("address_string"):
        matches = backend.wilayah.search(fields["address_string"], limit=2)
        if (
            matches
            and matches[0].score >= 90
            and not matches[0].ambiguous
            and (len(matches) == 1 or matches[1].score < matches[0].score - 5)
        ):
            desa_code = matches[0].desa.code
    if backend.wilayah.get(desa_code) is None:
        raise Open311Error(
            400,
            "the desa/kelurahan is required: attribute[desa] with its Kemendagri code, "
            "or an address_string naming exactly one desa/kelurahan of this region",
        )
    draft: dict[str, Any] = {
        "desa_code": desa_code,
        "category": service_code,
        "usulan": description,
        "permasalahan": attributes.get("permasalahan", ""),
    }
    # Numbers are checked against the limits of backend.domain by the intake, as from chat.
    if fields.get("lat") or fields.get("long"):
        draft["latitude"], draft["longitude"] = fields.get("lat"), fields.get("long")
    if attributes.get("volume"):
        draft["volume"] = attributes["volume"]
        draft["unit"] = attributes.get("satuan") or "unit"
    if attributes.get("penerima_manfaat"):
        draft["beneficiaries"] = attributes["penerima_manfaat"]
    name = " ".join(x for x in (fields.get("first_name"), fields.get("last_name")) if x) or None
    try:
        client = await services.officials.authenticate_client(key)
        done = await services.intake.submit(
            draft,
            submitter_id=client,
            origin=Origin.OPEN311,
            channel="open311",
            submitter_name=name,
            submitter_phone=fields.get("phone"),
        )
    except Forbidden:
        raise Open311Error(403, "invalid api_key") from None
    except InvalidInput as exc:
        field = OPEN311_FIELDS.get(exc.field, exc.field)
        raise Open311Error(400, f"{field}: {exc.reason.replace('_', ' ')}") from None
    except DomainError as exc:
        raise Open311Error(400, str(exc)) from None
    return done.code
