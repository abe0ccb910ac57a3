"""Queue exports with the columns of SIPD's usulan export (CSV and XLSX)."""

from __future__ import annotations

import asyncio
import io
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from typing import Any

import xlsxwriter

from backend.domain import Stage
from backend.services.queues import QueueRow, mask_phone
from backend.services.wilayah import WilayahIndex

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
)


def _address(row: QueueRow) -> str:
    parts = [row.dusun, f"RT {row.rt}" if row.rt else None, f"RW {row.rw}" if row.rw else None,
             row.street]  # fmt: skip
    return ", ".join(p for p in parts if p)


def _pengusul(row: QueueRow) -> str:
    name = row.submitter_name or "Warga"
    phone = mask_phone(row.submitter_phone)
    return f"{name} ({phone})" if phone else name


def export_rows(
    rows: Sequence[QueueRow],
    recommendations: dict[str, dict[str, str]],
    wilayah: WilayahIndex,
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
