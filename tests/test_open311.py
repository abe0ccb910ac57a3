"""Open311 GeoReport v2: answers validated against the published JSON schemas."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
from jsonschema import Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

from backend.api.app import create_api
from tests.officials import PASAR_BARU, submit, warga

SCHEMAS = Path(__file__).parent / "data" / "open311"


def _validator(name: str) -> Draft7Validator:
    registry = Registry().with_resources(
        (path.name, DRAFT7.create_resource(json.loads(path.read_text())))
        for path in SCHEMAS.glob("*.json")
    )
    return Draft7Validator(
        json.loads((SCHEMAS / name).read_text()),
        registry=registry,
        format_checker=Draft7Validator.FORMAT_CHECKER,
    )


def valid(name: str, body: object) -> None:
    errors = sorted(_validator(name).iter_errors(body), key=str)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


@pytest.fixture
async def client(backend):
    transport = httpx.ASGITransport(app=create_api(backend))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def api_key(backend) -> str:
    async with backend.unit() as s:
        return await s.officials.create_client_key("FixMyStreet Medan")


async def test_services_and_a_definition_follow_the_schema(client):
    services = (await client.get("/open311/v2/services.json")).json()
    for service in services:
        valid("service.json", service)
    assert {"jalan", "drainase", "lainnya"} <= {s["service_code"] for s in services}
    jalan = next(s for s in services if s["service_code"] == "jalan")
    assert jalan["service_name"] == "Jalan & jembatan" and jalan["metadata"] is True
    definition = (await client.get("/open311/v2/services/jalan.json")).json()
    valid("service-definition.json", definition)
    desa = next(a for a in definition["attributes"] if a["code"] == "desa")
    assert (
        desa["required"] and {"key": PASAR_BARU, "name": "Kelurahan Pasar Baru"} in desa["values"]
    )
    missing = await client.get("/open311/v2/services/nope.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404


async def test_create_then_get_round_trip(client, api_key):
    created = await client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": api_key,
            "service_code": "drainase",
            "lat": "3.5834",
            "long": "98.6722",
            "description": "Normalisasi parit sepanjang 200 meter di Jl. Melati",
            "attribute[desa]": PASAR_BARU,
            "attribute[permasalahan]": "Parit tersumbat, banjir setiap hujan deras",
            "attribute[volume]": "200",
            "attribute[satuan]": "meter",
            "first_name": "Siti",
            "last_name": "Aminah",
            "phone": "081234567890",
        },
    )
    assert created.status_code == 200, created.text
    [receipt] = created.json()
    code = receipt["service_request_id"]
    got = (await client.get(f"/open311/v2/requests/{code}.json")).json()
    valid("requests.json", got)
    [request] = got
    assert request["status"] == "open" and request["service_code"] == "drainase"
    assert request["address"] == "Kelurahan Pasar Baru, Kec. Medan Kota"
    assert request["lat"] == pytest.approx(3.5834)
    text = json.dumps(got)
    assert "Siti" not in text and "081234567890" not in text  # no personal data, ever
    listed = (await client.get("/open311/v2/requests.json", params={"status": "open"})).json()
    valid("requests.json", listed)
    assert code in {r["service_request_id"] for r in listed}
    assert (await client.get("/open311/v2/requests.json", params={"status": "closed"})).json() == []
    token = (await client.get(f"/open311/v2/tokens/{code}.json")).json()
    assert token == [{"service_request_id": code, "token": code}]


async def test_errors_follow_the_spec(client, api_key):
    bad_key = await client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": "nope",
            "service_code": "jalan",
            "description": "Aspal jalan rusak parah",
            "attribute[desa]": PASAR_BARU,
            "attribute[permasalahan]": "Jalan rusak berlubang",
        },
    )
    assert bad_key.status_code == 403
    assert bad_key.json() == [{"code": 403, "description": "invalid api_key"}]
    no_desa = await client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": api_key,
            "service_code": "jalan",
            "description": "Aspal jalan rusak",
            "attribute[permasalahan]": "Jalan rusak berlubang",
        },
    )
    assert no_desa.status_code == 400 and "desa" in no_desa.json()[0]["description"]
    short = await client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": api_key,
            "service_code": "jalan",
            "description": "Aspal",
            "attribute[desa]": PASAR_BARU,
            "attribute[permasalahan]": "Jalan rusak berlubang",
        },
    )
    assert short.status_code == 400 and "description" in short.json()[0]["description"]
    assert (await client.get("/open311/v2/requests/ZZZZ-ZZZZ.json")).status_code == 404
    bad_date = await client.get("/open311/v2/requests.json", params={"start_date": "kemarin"})
    assert bad_date.status_code == 400


async def test_address_string_naming_one_desa_is_enough(client, api_key):
    created = await client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": api_key,
            "service_code": "lampu_jalan",
            "address_string": "Kelurahan Pasar Baru",
            "description": "Pasang 4 titik lampu jalan",
            "attribute[permasalahan]": "Gang gelap di malam hari, rawan",
        },
    )
    assert created.status_code == 200, created.text


async def test_xml_answers_are_well_formed(backend, client):
    resident = await warga(backend)
    code = await submit(backend, resident)
    services = ElementTree.fromstring((await client.get("/open311/v2/services.xml")).text)
    assert services.tag == "services" and services.find("service/service_code") is not None
    one = ElementTree.fromstring((await client.get(f"/open311/v2/requests/{code}.xml")).text)
    assert one.find("request/service_request_id").text == code
    assert one.find("request/status").text == "open"
    error = await client.get("/open311/v2/requests/ZZZZ-ZZZZ.xml")
    assert ElementTree.fromstring(error.text).find("error/code").text == "404"
