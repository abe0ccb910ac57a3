"""Queue exports with the columns of SIPD's usulan export, as CSV and XLSX: the rows, both
file formats and the download response that the API and the dashboard send."""

from __future__ import annotations

import asyncio
import csv
import io
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from typing import Any, Literal

import xlsxwriter
from fastapi import Response
from starlette.types import Receive, Scope, Send

from backend.domain import Stage
from backend.services.officials import Actor
from backend.services.queues import QueueFilter, QueueRow, mask_phone
from backend.services.wilayah import WilayahIndex
from backend.services.wiring import Services

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

REKOMENDASI = (
    (Stage.DESA, "Rekomendasi Desa/Kelurahan"),
    (Stage.KECAMATAN, "Rekomendasi Kecamatan"),
    (Stage.PERANGKAT_DAERAH, "Rekomendasi Perangkat Daerah"),
    (Stage.KABKOTA, "Rekomendasi Kabupaten/Kota"),
)
SIPD_COLUMNS = (
    "No",
    "Kode",
    "Tanggal Usul",
    "Pengusul",
    "Usulan",
    "Permasalahan",
    "Alamat",
    "Desa/Kelurahan",
    "Kecamatan",
    "OPD Tujuan",
    "Status",
    "Catatan",
    "Volume",
    "Satuan",
    *(title for _, title in REKOMENDASI),
    "Dari Pesan Suara",  # which texts are transcripts of the resident's voice note
    "Penerima Manfaat",  # "60 KK", "200 orang": the count with what was counted
)


def _address(row: QueueRow) -> str:
    parts = [row.dusun, f"RT {row.rt}" if row.rt else None, f"RW {row.rw}" if row.rw else None,
             row.street]  # fmt: skip
    return ", ".join(p for p in parts if p)


def _pengusul(row: QueueRow) -> str:
    name = row.submitter_name or "Warga"
    phone = mask_phone(row.submitter_phone)
    return f"{name} ({phone})" if phone else name


def _beneficiaries(row: QueueRow) -> str:
    if row.beneficiaries is None:
        return ""
    return f"{row.beneficiaries} {row.beneficiaries_unit}" if row.beneficiaries_unit else str(
        row.beneficiaries
    )


def _transcripts(fields: dict[str, bool]) -> str:
    """ "Permasalahan (transkrip)", "Usulan (transkrip, diperbaiki warga)"; empty if typed."""
    return "; ".join(
        f"{field.capitalize()} (transkrip{', diperbaiki warga' if edited else ''})"
        for field, edited in sorted(fields.items())
    )


def export_rows(
    rows: Sequence[QueueRow],
    recommendations: dict[str, dict[str, str]],
    wilayah: WilayahIndex,
    transcribed: dict[str, dict[str, bool]] | None = None,
) -> list[list[Any]]:
    table: list[list[Any]] = []
    for number, row in enumerate(rows, 1):
        desa = wilayah.get(row.desa_code)
        rec = recommendations.get(row.code, {})
        notes = "; ".join(v for v in rec.values() if ":" in v)
        table.append(
            [
                number,
                row.code,
                row.created_at.strftime("%Y-%m-%d"),
                _pengusul(row),
                row.usulan,
                row.permasalahan,
                _address(row),
                desa.name if desa else row.desa_code,
                desa.kecamatan_name if desa else row.kecamatan_code,
                row.opd or "",
                f"{row.stage}: {row.decision}",
                notes,
                float(row.volume) if isinstance(row.volume, Decimal) else row.volume,
                row.unit or "",
                *(rec.get(stage.value, "") for stage, _ in REKOMENDASI),
                _transcripts((transcribed or {}).get(row.code, {})),
                _beneficiaries(row),
            ]
        )
    return table


def to_xlsx(header: Sequence[str], table: Sequence[Sequence[Any]], sheet: str) -> bytes:
    out = io.BytesIO()
    # Residents' texts stay text: "=HYPERLINK(...)" must not become a live formula or link.
    book = xlsxwriter.Workbook(
        out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    ws = book.add_worksheet(sheet[:31])
    bold = book.add_format({"bold": True})
    ws.write_row(0, 0, header, bold)
    for r, values in enumerate(table, 1):
        ws.write_row(r, 0, values)
    ws.freeze_panes(1, 0)
    book.close()
    return out.getvalue()


_pool: ProcessPoolExecutor | None = None


async def xlsx_bytes(header: Sequence[str], table: Sequence[Sequence[Any]], sheet: str) -> bytes:
    """Build the workbook in a worker process: writing 10,000 rows is a second of CPU that,
    in this process, would stall every other request of the event loop."""
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, to_xlsx, list(header), list(table), sheet)


def shutdown_export_pool() -> None:
    """Stop the workbook process with the service, so none is left behind it."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV where no cell can run as a spreadsheet formula (a leading =, +, -, @ is quoted)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            "'" + v if isinstance(v, str) and v.startswith(("=", "+", "-", "@")) else v for v in row
        )
    return out.getvalue()


class WorkbookResponse(Response):
    """An XLSX download, built as the response goes out: by then the request's unit of work
    has committed and given its database connection back."""

    media_type = XLSX

    def __init__(self, table: list[list[Any]], sheet: str, headers: dict[str, str]) -> None:
        super().__init__(headers=headers)
        self.table = table
        self.sheet = sheet

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.body = await xlsx_bytes(SIPD_COLUMNS, self.table, self.sheet)
        self.headers["content-length"] = str(len(self.body))
        await super().__call__(scope, receive, send)


async def queue_export(
    services: Services, actor: Actor, wanted: QueueFilter, fmt: Literal["csv", "xlsx"], name: str
) -> Response:
    """The queue `wanted` as a download named `name` (phones masked), within `actor`'s scope."""
    rows = await services.queues.all_rows(actor, wanted)
    recommendations = await services.queues.recommendations(actor, [r.code for r in rows])
    transcribed = await services.queues.transcribed([r.code for r in rows])
    table = export_rows(rows, recommendations, services.wilayah, transcribed)
    headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    if fmt == "csv":
        text = csv_text(SIPD_COLUMNS, table)
        return Response(text, media_type="text/csv; charset=utf-8", headers=headers)
    return WorkbookResponse(table, wanted.stage.value, headers)
