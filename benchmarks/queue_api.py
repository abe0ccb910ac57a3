"""The officials' queue at scale: first-page latency and the 10,000-row XLSX export.

Run: .venv/bin/python benchmarks/queue_api.py [--rows N] [--quick] [--requests N] [--plans]
     [--profile] [--keep]

1. Migrates a fresh PostgreSQL database, loads Kota Medan (12.71: 21 kecamatan, 151 kelurahan)
   and the OPD list, then bulk-loads N usulan (default 1,000,000; --quick: 50,000) with COPY:
   spread over the kelurahan, categories/OPDs, stages and decisions, a few thousand waiting at
   the kecamatan stage in every kecamatan and exactly 10,000 in Medan Deli (the export queue).
   The event history is written only for those 10,000 (the export reads it); the queue page
   never reads events. VACUUM ANALYZE afterwards, as autovacuum would after a bulk load.
2. Serves the real API (`create_api`) with uvicorn on a free 127.0.0.1 port, in this process;
   the client is httpx over real HTTP with keep-alive. Officials are enrolled the real way: an
   invite code claimed by a chat user, then an API token.
3. First page (per_page 50) of a typical kecamatan queue and of the busiest one: latency over
   many sequential requests, measured in rounds that interleave the API call with its parts
   (bare SQL through asyncpg, the service without HTTP, token authentication, the HTTP floor),
   so every figure of the breakdown comes from the same moments on this shared machine; with
   the CPU time this process spent, which contention for the CPUs does not inflate. EXPLAIN
   ANALYZE of the page and count queries, with the custom plan and with the generic plan a
   prepared statement switches to after five executions. For context, no target: an admin's
   page of the whole city's desa-stage queue.
4. Export of the 10,000-row queue to XLSX through the API and its parts (query, history,
   table, `to_xlsx`), three interleaved rounds, median; the file is opened with openpyxl and
   its rows counted. For context: queue pages while exports run in the same server process.
5. A table of the figures against the targets, and peak RSS.

Needs PostgreSQL at MUSRENBOT_BENCH_POSTGRES_URL (default postgresql+asyncpg://postgres@
127.0.0.1:5432/postgres); the database musrenbot_bench_queue is created and dropped
(--keep keeps it for a look afterwards).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, import from the project root (tests.*).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
ROOT = _HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import bisect  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402
from typing import Any  # noqa: E402

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import openpyxl  # noqa: E402
import uvicorn  # noqa: E402
from sqlalchemy import Table, event  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from backend.api.app import create_api  # noqa: E402
from backend.api.export import SIPD_COLUMNS, export_rows, to_xlsx  # noqa: E402
from backend.domain import Stage  # noqa: E402
from backend.services.categories import load_categories, load_opds  # noqa: E402
from backend.services.history import event_hash  # noqa: E402
from backend.services.intake import CODE_ALPHABET  # noqa: E402
from backend.services.officials import Actor, Role, system_actor  # noqa: E402
from backend.services.queues import COUNT_CAP, QueueFilter  # noqa: E402
from backend.services.wilayah import iter_wilayah_rows, load_region  # noqa: E402
from backend.services.wiring import Backend  # noqa: E402
from backend.settings import Settings  # noqa: E402
from backend.storage.migrate import upgrade  # noqa: E402
from backend.storage.models import User, Usulan, UsulanEvent  # noqa: E402

REGION = "12.71"  # Kota Medan
DATABASE = "musrenbot_bench_queue"
POSTGRES_ADMIN_URL = os.environ.get(
    "MUSRENBOT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
SEED = 20271
PLANNING_YEAR = 2027
FULL_ROWS = 1_000_000
QUICK_ROWS = 50_000
CHUNK = 100_000  # usulan per COPY

QUEUE_KECAMATAN = "12.71.01"  # Medan Kota: a typical queue, a few thousand waiting
EXPORT_KECAMATAN = "12.71.06"  # Medan Deli: exactly EXPORT_ROWS waiting, the export test
EXPORT_ROWS = 10_000
WAITING_PER_KECAMATAN = (2_000, 4_500)  # at 1,000,000 rows; scaled with --rows
PER_PAGE = 50

TARGET_PAGE_P95_MS = 20.0
TARGET_EXPORT_S = 2.0

UNRANKED = 1_000_000
STAGE_ORDER = {stage.value: i for i, stage in enumerate(Stage)}

# (stage, decision, weight): the rows not reserved for the kecamatan queues. Most sit at the
# desa stage, many are decided; a rembuk warga forwards the accepted ones to the kecamatan,
# where the reserved rows wait.
STATES: tuple[tuple[str, str, float], ...] = (
    ("desa", "menunggu", 16),
    ("desa", "perlu_perbaikan", 3),
    ("desa", "diterima", 7),
    ("desa", "ditolak", 12),
    ("desa", "ditunda", 3),
    ("desa", "digabung", 3),
    ("kecamatan", "ditolak", 7),
    ("kecamatan", "ditunda", 2),
    ("kecamatan", "digabung", 1),
    ("kecamatan", "perlu_perbaikan", 1),
    ("perangkat_daerah", "menunggu", 9),
    ("perangkat_daerah", "ditolak", 4),
    ("perangkat_daerah", "ditunda", 2),
    ("kabkota", "menunggu", 5),
    ("kabkota", "ditolak", 2),
    ("kabkota", "ditunda", 1),
    ("renja", "menunggu", 4),
    ("renja", "ditolak", 1),
    ("rkpd", "menunggu", 3),
    ("apbd", "menunggu", 2),
    ("realisasi", "menunggu", 2),
    ("realisasi", "diterima", 1),
)
CATEGORY_WEIGHTS = {
    "jalan": 25, "drainase": 15, "permukiman": 6, "lampu_jalan": 8, "pendidikan": 8,
    "kesehatan": 8, "sampah": 6, "sosial": 6, "keamanan": 3, "ekonomi": 6, "pertanian": 2,
    "pemuda": 4, "lainnya": 3,
}  # fmt: skip


@dataclass(frozen=True)
class Texts:
    problems: tuple[str, ...]
    requests: tuple[str, ...]
    unit: str
    volume: tuple[int, int]


TEXTS = {
    "jalan": Texts(
        (
            "Jalan lingkungan di {place} rusak berat dan berlubang, sulit dilalui sepeda motor.",
            "Badan jalan di {place} amblas dan selalu tergenang air setiap turun hujan.",
            "Jalan di {place} masih berupa tanah dan berlumpur pada musim hujan.",
        ),
        (
            "Pengaspalan jalan lingkungan di {place}.",
            "Rabat beton jalan gang di {place}.",
            "Perbaikan dan peninggian badan jalan di {place}.",
        ),
        "meter",
        (20, 800),
    ),
    "drainase": Texts(
        (
            "Parit di {place} tersumbat sampah dan sedimen sehingga air meluap ke rumah warga.",
            "Saluran drainase di {place} belum ada, air hujan menggenangi jalan dan halaman.",
            "Dinding parit di {place} runtuh dan menyempitkan aliran air.",
        ),
        (
            "Normalisasi parit di {place}.",
            "Pembangunan saluran drainase beton di {place}.",
            "Pemasangan penutup parit dari plat beton di {place}.",
        ),
        "meter",
        (10, 500),
    ),
    "permukiman": Texts(
        (
            "Beberapa rumah warga di {place} tidak layak huni, atap bocor dan dinding lapuk.",
            "Warga di {place} belum mendapat sambungan air bersih perpipaan.",
            "Sanitasi di {place} buruk, banyak rumah belum memiliki jamban sehat.",
        ),
        (
            "Bedah rumah tidak layak huni di {place}.",
            "Pemasangan sambungan air bersih untuk warga di {place}.",
            "Pembangunan MCK umum di {place}.",
        ),
        "unit",
        (1, 40),
    ),
    "lampu_jalan": Texts(
        (
            "Lampu penerangan jalan di {place} mati sejak beberapa bulan, rawan kejahatan.",
            "Jalan di {place} gelap pada malam hari karena belum ada lampu penerangan.",
        ),
        (
            "Pemasangan lampu penerangan jalan umum di {place}.",
            "Penggantian lampu jalan yang rusak di {place}.",
        ),
        "titik",
        (2, 40),
    ),
    "pendidikan": Texts(
        (
            "Ruang kelas PAUD di {place} sempit dan kekurangan alat permainan edukatif.",
            "Atap ruang kelas SD di dekat {place} bocor dan plafonnya hampir runtuh.",
        ),
        (
            "Rehabilitasi ruang kelas sekolah di dekat {place}.",
            "Pengadaan alat permainan edukatif untuk PAUD di {place}.",
        ),
        "paket",
        (1, 10),
    ),
    "kesehatan": Texts(
        (
            "Posyandu di {place} belum memiliki timbangan bayi dan meja periksa yang layak.",
            "Banyak balita di {place} mengalami gizi kurang dan jarang ditimbang.",
        ),
        (
            "Pengadaan peralatan posyandu di {place}.",
            "Pemberian makanan tambahan bagi balita di {place}.",
        ),
        "paket",
        (1, 12),
    ),
    "sampah": Texts(
        (
            "Sampah menumpuk di {place} karena tidak ada tempat pembuangan sementara.",
            "Truk sampah jarang masuk ke {place}, warga membuang sampah ke parit.",
        ),
        (
            "Pengadaan bak sampah dan gerobak sampah untuk {place}.",
            "Pembangunan TPS 3R di {place}.",
        ),
        "unit",
        (1, 20),
    ),
    "sosial": Texts(
        (
            "Lansia dan penyandang disabilitas di {place} belum menerima bantuan sosial.",
            "Banyak keluarga miskin di {place} belum terdata dalam DTKS.",
        ),
        (
            "Pendataan dan bantuan sosial bagi lansia di {place}.",
            "Pemutakhiran data keluarga miskin di {place}.",
        ),
        "orang",
        (5, 200),
    ),
    "keamanan": Texts(
        (
            "Daerah {place} sering kebanjiran dan belum ada jalur evakuasi.",
            "Pos ronda di {place} rusak sehingga siskamling tidak berjalan.",
        ),
        (
            "Pembangunan pos kamling di {place}.",
            "Pengadaan perahu karet dan pelampung untuk {place}.",
        ),
        "unit",
        (1, 5),
    ),
    "ekonomi": Texts(
        (
            "Pelaku UMKM di {place} kesulitan modal dan pemasaran produk.",
            "Pedagang kaki lima di {place} belum punya tempat berjualan yang tertata.",
        ),
        (
            "Pelatihan dan bantuan peralatan usaha bagi UMKM di {place}.",
            "Penataan lapak pedagang di {place}.",
        ),
        "kelompok",
        (1, 15),
    ),
    "pertanian": Texts(
        (
            "Kelompok tani di {place} kekurangan bibit dan pupuk.",
            "Lahan pekarangan warga di {place} belum dimanfaatkan untuk tanaman pangan.",
        ),
        (
            "Bantuan bibit dan pupuk untuk kelompok tani di {place}.",
            "Pelatihan pertanian perkotaan bagi warga di {place}.",
        ),
        "paket",
        (1, 10),
    ),
    "pemuda": Texts(
        (
            "Pemuda di {place} tidak memiliki sarana olahraga yang layak.",
            "Lapangan bola di {place} rusak dan selalu tergenang.",
        ),
        (
            "Pembangunan lapangan olahraga di {place}.",
            "Pengadaan peralatan olahraga untuk karang taruna di {place}.",
        ),
        "paket",
        (1, 5),
    ),
    "lainnya": Texts(
        (
            "Balai pertemuan warga di {place} rusak dan tidak bisa dipakai.",
            "Warga di {place} kesulitan mengurus administrasi kependudukan.",
        ),
        (
            "Rehabilitasi balai pertemuan warga di {place}.",
            "Pelayanan administrasi kependudukan keliling di {place}.",
        ),
        "paket",
        (1, 5),
    ),
}
PROBLEM_DETAILS = (
    "Kondisi ini sudah berlangsung lebih dari dua tahun.",
    "Warga sudah beberapa kali melapor ke kantor lurah namun belum ada tindak lanjut.",
    "Setiap hari jalur ini dilewati anak sekolah dan pedagang pasar.",
    "Saat hujan deras air menggenang sampai setinggi lutut orang dewasa.",
    "Sekitar {households} kepala keluarga terdampak langsung.",
    "Usulan ini sudah disampaikan pada Musrenbang tahun lalu tetapi belum terealisasi.",
    "Lokasinya dekat sekolah dasar dan masjid sehingga ramai dilalui warga.",
    "Kepala lingkungan dan tokoh masyarakat setempat mendukung usulan ini.",
    "Foto kondisi lapangan sudah dikirim bersama usulan ini.",
    "Pernah terjadi kecelakaan kecil karena kondisi tersebut.",
)
REQUEST_DETAILS = (
    "Diharapkan dikerjakan sebelum musim hujan.",
    "Perkiraan kebutuhan sesuai hasil survei bersama warga.",
    "Mohon menjadi prioritas kelurahan tahun ini.",
    "Termasuk pekerjaan pendukung dan pembersihan lokasi.",
    "Warga siap bergotong royong membantu pelaksanaan.",
)
GANGS = (
    "Mawar", "Melati", "Kenanga", "Sepakat", "Damai", "Rukun", "Bersama", "Pendidikan",
    "Masjid", "Keluarga", "Saudara", "Amal", "Bakti", "Harapan", "Karya", "Seroja", "Anggrek",
    "Dahlia", "Cempaka", "Flamboyan", "Madrasah", "Wakaf", "Pelita", "Murni", "Setia",
)  # fmt: skip
STREETS = (
    "Sisingamangaraja", "Brigjend Katamso", "Juanda", "Halat", "Denai", "Gatot Subroto",
    "Jamin Ginting", "Setia Budi", "Krakatau", "Marelan Raya", "Kapten Muslim",
    "Pancing", "Letda Sujono", "Bilal", "Sutomo", "Asia", "Thamrin", "Mongonsidi",
    "Ngumban Surbakti", "Pertahanan", "Garu", "Karya Wisata", "Bromo", "Tuasan",
)  # fmt: skip
FIRST_NAMES = (
    "Siti", "Budi", "Ahmad", "Dewi", "Rina", "Hendra", "Sri", "Agus", "Putri", "Fitri", "Rudi",
    "Nur", "Yusuf", "Indah", "Rizky", "Lestari", "Bambang", "Wahyu", "Desi", "Ikhsan", "Maria",
    "Josua", "Ruth", "Rahmat", "Ayu", "Fauzi", "Rosmawati", "Tiurma", "Darwin", "Irma",
)  # fmt: skip
LAST_NAMES = (
    "Siregar", "Nasution", "Lubis", "Harahap", "Simanjuntak", "Sitompul", "Ginting", "Tarigan",
    "Sembiring", "Hasibuan", "Pohan", "Batubara", "Matondang", "Saragih", "Purba", "Damanik",
    "Hutapea", "Pane", "Rangkuti", "Daulay", "Wijaya", "Santoso", "Lim", "Pratama",
)  # fmt: skip
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII",
         "XIV", "XV", "XVI", "XVII", "XVIII", "XIX", "XX")  # fmt: skip

USULAN_COLUMNS = (
    "id", "code", "planning_year", "origin", "submitter_id", "submitter_name",
    "submitter_phone", "desa_code", "kecamatan_code", "dusun", "rt", "rw", "street", "latitude",
    "longitude", "category", "urusan_code", "opd", "permasalahan", "usulan", "volume", "unit",
    "beneficiaries", "support_count", "village_rank", "queue_rank", "merged_into_id",
    "rembuk_id", "stage", "decision", "created_at", "updated_at",
)  # fmt: skip
USER_COLUMNS = (
    "id", "channel", "external_id", "chat_id", "language", "display_name", "phone",
    "consent_at", "reachable", "created_at",
)  # fmt: skip
EVENT_COLUMNS = (
    "usulan_id", "seq", "at", "actor_user_id", "kind", "from_stage", "from_decision",
    "to_stage", "to_decision", "reason_code", "note", "payload", "prev_hash", "hash",
)  # fmt: skip

YEAR_START = datetime(2025, 12, 1, tzinfo=UTC)
YEAR_SECONDS = 365 * 24 * 3600
CODE_SPACE = len(CODE_ALPHABET) ** 8
CODE_STRIDE = 982_451_653  # a prime, so i -> i * stride mod 30**8 never repeats a code


# --------------------------------------------------------------------------- helpers


def tracking_code(i: int) -> str:
    """A distinct, random-looking tracking code for usulan number i (same alphabet and shape
    as the intake's)."""
    n = (i * CODE_STRIDE + 123_456_789) % CODE_SPACE
    chars = []
    for _ in range(8):
        n, digit = divmod(n, len(CODE_ALPHABET))
        chars.append(CODE_ALPHABET[digit])
    return f"{''.join(chars[:4])}-{''.join(chars[4:])}"


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def fmt_ms(values: Sequence[float]) -> str:
    return (
        f"p50 {percentile(values, 50):6.2f}  p95 {percentile(values, 95):6.2f}  "
        f"p99 {percentile(values, 99):6.2f}  max {max(values):7.2f} ms  (n={len(values)})"
    )


def _proc_status(key: str) -> int | None:
    """A kB figure of /proc/self/status (VmRSS, VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Start VmHWM afresh (Linux >= 4.0), so a later phase's peak can be told apart."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def mib(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:,.0f} MiB"


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(False)


def with_defaults(
    table: Table, columns: Sequence[str], records: Iterable[tuple[Any, ...]]
) -> tuple[tuple[str, ...], Iterator[tuple[Any, ...]]]:
    """Add the NOT NULL columns a record leaves out, with the model's default, as the ORM
    would: COPY bypasses the Python-side defaults."""
    extra: dict[str, Any] = {}
    for column in table.columns:
        if column.name in columns or column.nullable or column.default is None:
            continue
        default = getattr(column.default, "arg", None)
        extra[column.name] = default(None) if callable(default) else default
    tail = tuple(extra.values())
    return (*columns, *extra), (record + tail for record in records)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def heading(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 74 - len(title)), flush=True)


# --------------------------------------------------------------------------- data


@dataclass
class Region:
    names: dict[str, str]
    kecamatan: list[str]
    desas: list[str]
    desa_weights: list[float]
    desas_of: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, rng: random.Random) -> Region:
        rows = list(iter_wilayah_rows(REGION))
        names = dict(rows)
        desas = sorted(code for code, _ in rows if code.count(".") == 3)
        kecamatan = sorted({code[:8] for code in desas})
        # Kelurahan differ in size: a lognormal spread of how many usulan each sends.
        weights = [rng.lognormvariate(0, 0.5) for _ in desas]
        region = cls(names, kecamatan, desas, weights)
        for code in desas:
            region.desas_of.setdefault(code[:8], []).append(code)
        return region


class Generator:
    """Deterministic usulan rows in id order; keeps what later rows and the events need."""

    def __init__(self, region: Region, rows: int, users: int, rng: random.Random) -> None:
        self.region = region
        self.rows = rows
        self.users = users
        self.rng = rng
        self.categories = {c.key: c for c in load_categories()}
        scale = rows / FULL_ROWS
        self.waiting = {
            k: max(1, round(rng.randint(*WAITING_PER_KECAMATAN) * scale)) for k in region.kecamatan
        }
        self.waiting[EXPORT_KECAMATAN] = EXPORT_ROWS
        reserved = sum(self.waiting.values())
        if rows < reserved + 10_000:
            raise SystemExit(f"--rows must be at least {reserved + 10_000:,}")
        # Per row: an index into STATES, or -(k + 1): reserved for kecamatan k's queue.
        states: list[int] = []
        for k, code in enumerate(region.kecamatan):
            states += [-(k + 1)] * self.waiting[code]
        states += rng.choices(
            range(len(STATES)), weights=[w for *_, w in STATES], k=rows - reserved
        )
        rng.shuffle(states)
        self.states = states
        self.rembuk_of: dict[str, int] = {}
        self.export_rows: list[tuple[int, datetime, int | None, str, int, int]] = []
        self._pick_desa = self._picker(region.desas)
        self._pick_in = {k: self._picker(codes) for k, codes in region.desas_of.items()}
        self._rank: dict[str, int] = {}  # per desa: rembuk positions given so far
        self._open_rank: dict[str, int] = {}
        self._last_in_desa: dict[str, int] = {}

    def _picker(self, codes: list[str]) -> Callable[[], str]:
        """Draw a kelurahan among `codes`, by the region's weights."""
        rng, weights = self.rng, dict(zip(self.region.desas, self.region.desa_weights, strict=True))
        cumulative = list(itertools.accumulate(weights[c] for c in codes))
        total, last = cumulative[-1], len(codes) - 1
        return lambda: codes[min(bisect.bisect(cumulative, rng.random() * total), last)]

    def usulan(self, start: int, stop: int) -> Iterator[tuple[Any, ...]]:
        """Rows start..stop-1 (ids start+1..stop) in USULAN_COLUMNS order."""
        rng = self.rng
        pick_desa, pick_in = self._pick_desa, self._pick_in
        rank, open_rank, last_in_desa = self._rank, self._open_rank, self._last_in_desa
        cat_keys = list(CATEGORY_WEIGHTS)
        cat_cum = list(itertools.accumulate(CATEGORY_WEIGHTS.values()))
        cat_total = cat_cum[-1]
        kecamatan, rembuk_of, rows = self.region.kecamatan, self.rembuk_of, self.rows
        for i in range(start, stop):
            uid = i + 1
            state = self.states[i]
            reserved = state < 0
            if reserved:
                kec = kecamatan[-state - 1]
                desa = pick_in[kec]()
                stage, decision = "kecamatan", "menunggu"
            else:
                stage, decision, _ = STATES[state]
                desa = pick_desa()
                kec = desa[:8]
            key = cat_keys[bisect.bisect(cat_cum, rng.random() * cat_total)]
            category = self.categories[key]
            texts = TEXTS[key]

            created = YEAR_START + timedelta(
                seconds=max(0.0, (i / rows) * YEAR_SECONDS + rng.uniform(-172_800, 172_800))
            )
            updated = created + timedelta(seconds=rng.randint(0, 60 * 86_400))

            village_rank = rembuk_id = None
            if STAGE_ORDER[stage] >= STAGE_ORDER["kecamatan"]:
                rank[desa] = village_rank = rank.get(desa, 0) + 1
                rembuk_id = rembuk_of[desa]
            elif decision == "diterima" and rng.random() < 0.5:  # ranked in an open rembuk
                open_rank[desa] = village_rank = open_rank.get(desa, 0) + 1
            merged_into = last_in_desa.get(desa) if decision == "digabung" else None
            last_in_desa[desa] = uid

            draw = rng.random()
            if draw < 0.85:
                origin, submitter_id = "warga", rng.randint(1, self.users)
                submitter_name = submitter_phone = None
            elif draw < 0.95:
                origin, submitter_id = "kepala_desa", rng.randint(1, self.users)
                submitter_name = submitter_phone = None
            else:
                origin, submitter_id = "rembuk_warga", None
                submitter_name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
                submitter_phone = (
                    f"08{rng.randint(11, 99)}{rng.randint(10_000_000, 99_999_999)}"
                    if rng.random() < 0.7 else None
                )  # fmt: skip

            gang, street_name, number = rng.choice(GANGS), rng.choice(STREETS), rng.randint(1, 250)
            lingkungan = ROMAN[rng.randrange(len(ROMAN))]
            place = f"Gg. {gang} No. {number}, Lingkungan {lingkungan}"
            problem = rng.choice(texts.problems).format(place=place)
            details = rng.choices(PROBLEM_DETAILS, k=rng.choice((0, 1, 1, 2, 2, 3, 4)))
            if details:
                problem += " " + " ".join(details).format(households=rng.randint(8, 300))
            request = rng.choice(texts.requests).format(place=place)
            extra = rng.choices(REQUEST_DETAILS, k=rng.choice((0, 0, 1, 1, 2)))
            if extra:
                request += " " + " ".join(extra)

            has_volume = rng.random() < 0.9
            lat_lon = rng.random() < 0.7
            with_rt = rng.random() < 0.4
            support = self._support(rng.random())
            yield (
                uid,
                tracking_code(uid),
                PLANNING_YEAR,
                origin,
                submitter_id,
                submitter_name,
                submitter_phone,
                desa,
                kec,
                f"Lingkungan {lingkungan}",
                f"{rng.randint(1, 15):03d}" if with_rt else None,
                f"{rng.randint(1, 8):03d}" if with_rt else None,
                f"Jl. {street_name} Gg. {gang} No. {number}",
                round(rng.uniform(3.50, 3.72), 6) if lat_lon else None,
                round(rng.uniform(98.60, 98.76), 6) if lat_lon else None,
                key,
                category.urusan_code,
                category.opd,
                problem,
                request,
                Decimal(rng.randint(*texts.volume)) if has_volume else None,
                texts.unit if has_volume else None,
                int(rng.lognormvariate(4.5, 1.0)) + 1 if rng.random() < 0.8 else None,
                support,
                village_rank,
                village_rank if village_rank is not None else UNRANKED,
                merged_into,
                rembuk_id,
                stage,
                decision,
                created,
                updated,
            )
            if reserved and kec == EXPORT_KECAMATAN:
                assert village_rank is not None and rembuk_id is not None
                self.export_rows.append(
                    (uid, created, submitter_id, origin, village_rank, rembuk_id)
                )

    @staticmethod
    def _support(draw: float) -> int:
        """Most usulan gather no support; a few gather hundreds."""
        if draw < 0.55:
            return 0
        if draw < 0.75:
            return 1 + int((draw - 0.55) * 15)
        if draw < 0.90:
            return 4 + int((draw - 0.75) * 110)
        if draw < 0.98:
            return 21 + int((draw - 0.90) * 1000)
        return 101 + int((draw - 0.98) * 35_000)

    def users_rows(self) -> Iterator[tuple[Any, ...]]:
        rng = self.rng
        for uid in range(1, self.users + 1):
            created = YEAR_START + timedelta(seconds=rng.randint(0, YEAR_SECONDS))
            yield (
                uid,
                "telegram",
                str(100_000_000 + uid * 7),
                str(100_000_000 + uid * 7),
                "id",
                f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                f"08{rng.randint(11, 99)}{rng.randint(10_000_000, 99_999_999)}"
                if rng.random() < 0.6 else None,
                created,
                True,
                created,
            )  # fmt: skip

    def events(self, kepala_desa: int) -> Iterator[tuple[Any, ...]]:
        """diajukan, keputusan (desa: diterima) and diteruskan, chained like append_event's."""
        rng = self.rng
        for uid, created, submitter, origin, village_rank, rembuk_id in self.export_rows:
            decided = created + timedelta(seconds=rng.randint(3_600, 20 * 86_400))
            forwarded = decided + timedelta(seconds=rng.randint(3_600, 10 * 86_400))
            note = "Disepakati dalam rembuk warga." if rng.random() < 0.3 else None
            steps = (
                (created, submitter, "diajukan", None, None, "desa", "menunggu", None,
                 {"origin": origin, "channel": "telegram", "message_ref": None}),
                (decided, kepala_desa, "keputusan", "desa", "menunggu", "desa", "diterima", note,
                 {"role": "kepala_desa", "changes": {}}),
                (forwarded, kepala_desa, "diteruskan", "desa", "diterima", "kecamatan",
                 "menunggu", None, {"rembuk_id": rembuk_id, "village_rank": village_rank}),
            )  # fmt: skip
            prev: str | None = None
            for seq, (at, actor, kind, f_stage, f_dec, t_stage, t_dec, note_, payload) in enumerate(
                steps, 1
            ):
                fields = {
                    "usulan_id": uid,
                    "seq": seq,
                    "at": at.astimezone(UTC)
                    .replace(tzinfo=None)
                    .isoformat(timespec="microseconds"),
                    "actor": actor,
                    "kind": kind,
                    "from": [f_stage, f_dec],
                    "to": [t_stage, t_dec],
                    "reason": None,
                    "note": note_,
                    "payload": payload,
                }
                digest = event_hash(prev, fields)
                yield (uid, seq, at, actor, kind, f_stage, f_dec, t_stage, t_dec, None, note_,
                       json.dumps(payload), prev, digest)  # fmt: skip
                prev = digest


@dataclass
class LoadReport:
    rows: int
    users: int
    events: int
    copy_s: float
    index_s: float
    vacuum_s: float
    check_s: float
    waiting: dict[str, int]
    table_mb: float
    index_mb: dict[str, float]
    avg_len: tuple[float, float]


async def load_data(dsn: str, generator: Generator) -> LoadReport:
    conn = await asyncpg.connect(dsn)
    try:
        # Bulk-load settings for this connection only: no FK triggers (the references are
        # valid by construction and checked below), secondary indexes built once at the end.
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("SET maintenance_work_mem = '256MB'")
        indexes = await conn.fetch(
            """SELECT indexname, indexdef FROM pg_indexes
               WHERE tablename = 'usulan' AND indexname NOT IN
                 (SELECT conname FROM pg_constraint WHERE conrelid = 'usulan'::regclass)"""
        )
        for row in indexes:
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')

        started = time.perf_counter()
        columns, records = with_defaults(User.__table__, USER_COLUMNS, generator.users_rows())
        await conn.copy_records_to_table("users", records=records, columns=columns)
        rembuk = await conn.fetch(
            """INSERT INTO rembuk (desa_code, planning_year, held_on, place, attendance_total,
                   attendance_women, minutes_photos, opened_at, confirmed_at)
               SELECT code, $1, DATE '2026-02-10' + (row_number() OVER (ORDER BY code))::int % 40,
                   'Balai pertemuan kelurahan', 30 + length(name) * 3, 12 + length(name),
                   '[]'::jsonb, TIMESTAMPTZ '2026-02-01', TIMESTAMPTZ '2026-03-25'
               FROM wilayah WHERE level = 4 ORDER BY code
               RETURNING id, desa_code""",
            PLANNING_YEAR,
        )
        generator.rembuk_of.update({r["desa_code"]: r["id"] for r in rembuk})
        for start in range(0, generator.rows, CHUNK):
            stop = min(start + CHUNK, generator.rows)
            columns, records = with_defaults(
                Usulan.__table__, USULAN_COLUMNS, generator.usulan(start, stop)
            )
            await conn.copy_records_to_table("usulan", records=records, columns=columns)
            elapsed = time.perf_counter() - started
            print(f"  {stop:>9,} usulan copied  {elapsed:6.1f} s", flush=True)
        columns, records = with_defaults(
            UsulanEvent.__table__, EVENT_COLUMNS, generator.events(kepala_desa=1)
        )
        await conn.copy_records_to_table("usulan_events", records=records, columns=columns)
        copy_s = time.perf_counter() - started

        started = time.perf_counter()
        for row in indexes:
            await conn.execute(row["indexdef"])
        for table in ("users", "usulan", "rembuk", "usulan_events"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        index_s = time.perf_counter() - started

        started = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE) users, rembuk, usulan, usulan_events")
        vacuum_s = time.perf_counter() - started

        started = time.perf_counter()
        broken = await conn.fetchval(
            """SELECT (SELECT count(*) FROM usulan u WHERE submitter_id IS NOT NULL
                         AND NOT EXISTS (SELECT 1 FROM users WHERE id = u.submitter_id))
                    + (SELECT count(*) FROM usulan u WHERE merged_into_id IS NOT NULL
                         AND NOT EXISTS (SELECT 1 FROM usulan t WHERE t.id = u.merged_into_id))
                    + (SELECT count(*) FROM usulan u WHERE rembuk_id IS NOT NULL
                         AND NOT EXISTS (SELECT 1 FROM rembuk r WHERE r.id = u.rembuk_id))"""
        )
        assert broken == 0, f"{broken} dangling references"
        waiting = {
            r["kecamatan_code"]: r["n"]
            for r in await conn.fetch(
                """SELECT kecamatan_code, count(*) AS n FROM usulan
                   WHERE stage = 'kecamatan' AND decision = 'menunggu'
                   GROUP BY kecamatan_code"""
            )
        }
        assert waiting == generator.waiting, "kecamatan queues differ from the plan"
        avg = await conn.fetchrow(
            "SELECT avg(length(permasalahan)) AS p, avg(length(usulan)) AS u FROM usulan"
        )
        check_s = time.perf_counter() - started
        table_mb = await conn.fetchval("SELECT pg_table_size('usulan') / 1048576.0")
        index_mb = {
            r["name"]: float(r["mb"])
            for r in await conn.fetch(
                """SELECT indexrelid::regclass::text AS name,
                          pg_relation_size(indexrelid) / 1048576.0 AS mb
                   FROM pg_index WHERE indrelid = 'usulan'::regclass ORDER BY 1"""
            )
        }
        events = await conn.fetchval("SELECT count(*) FROM usulan_events")
    finally:
        await conn.close()
    return LoadReport(
        rows=generator.rows, users=generator.users, events=events, copy_s=copy_s,
        index_s=index_s, vacuum_s=vacuum_s, check_s=check_s, waiting=waiting,
        table_mb=float(table_mb), index_mb=index_mb, avg_len=(float(avg["p"]), float(avg["u"])),
    )  # fmt: skip


# --------------------------------------------------------------------------- officials


async def enrol(backend: Backend, role: Role, wilayah: str) -> tuple[str, Actor]:
    """An official enrolled the real way: a chat user claims an invite code, then gets an API
    token."""
    async with backend.unit() as s:
        user = await s.users.get_or_create(
            channel="telegram",
            external_id=f"{role}-{wilayah}",
            chat_id=f"{role}-{wilayah}",
            language_hint="id",
        )
        await s.users.record_consent(user.id, f"{role.value} {wilayah}")
        user_id = user.id
    async with backend.unit() as s:
        invite = await s.officials.create_invite(
            role, wilayah_code=wilayah, created_by=system_actor(backend.settings.region)
        )
        actor = await s.officials.claim(user_id, invite.code)
        token = await s.officials.create_token(user_id, "benchmark")
    return token, actor  # fmt: skip


# --------------------------------------------------------------------------- SQL


@dataclass
class Captured:
    statement: str
    parameters: tuple[Any, ...]


async def capture_sql(backend: Backend, call: Callable[[], Awaitable[Any]]) -> list[Captured]:
    """The statements (with their parameters) the service sends to asyncpg during `call`."""
    seen: list[Captured] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append(Captured(statement, tuple(parameters or ())))

    event.listen(backend.engine.sync_engine, "before_cursor_execute", grab)
    try:
        await call()
    finally:
        event.remove(backend.engine.sync_engine, "before_cursor_execute", grab)
    return seen


def literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int | float | Decimal):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class PlanSummary:
    top: str
    execution_ms: float
    queue_index: str | None
    nodes: list[str]
    sort: str | None
    text: list[str]

    def line(self) -> str:
        uses = f"uses {self.queue_index}" if self.queue_index else "NO queue index"
        sort = f"; {self.sort}" if self.sort else ""
        return (
            f"{self.top}\n      {uses}; execution {self.execution_ms:.2f} ms{sort}\n"
            f"      {' > '.join(self.nodes)}"
        )


def summarise_plan(lines: list[str]) -> PlanSummary:
    text = "\n".join(lines)
    index = next(
        (name for name in ("ix_usulan_queue_kecamatan", "ix_usulan_queue_region",
                           "ix_usulan_queue_opd", "ix_usulan_desa_stage") if name in text),
        None,
    )  # fmt: skip
    execution = next((float(x.split()[2]) for x in lines if x.startswith("Execution Time")), 0.0)
    nodes = [x.strip().removeprefix("->").strip().split("  (")[0] for x in lines if "(cost=" in x]
    sort = next((x.strip() for x in lines if "Sort Method" in x or "Full-sort Groups" in x), None)
    return PlanSummary(lines[0].split("  (actual")[0], execution, index, nodes, sort, lines)


async def explain(
    conn: asyncpg.Connection, sql: str, params: tuple[Any, ...], generic: bool
) -> PlanSummary:
    """EXPLAIN ANALYZE with the custom plan (parameters known), or with the generic plan a
    prepared statement may switch to after five executions."""
    if not generic:
        rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *params)
        return summarise_plan([r[0] for r in rows])
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    try:
        await conn.execute(f"PREPARE bench_generic AS {sql}")
        args = ", ".join(literal(p) for p in params)
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_generic({args})")
        await conn.execute("DEALLOCATE bench_generic")
    finally:
        await conn.execute("RESET plan_cache_mode")
    return summarise_plan([r[0] for r in rows])


# --------------------------------------------------------------------------- measurement


@dataclass
class Samples:
    """Wall-clock and CPU time of this process (API server and client both live here)."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    async def time(self, call: Callable[[], Awaitable[Any]], scale: float = 1000.0) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        result = await call()
        self.wall.append((time.perf_counter() - wall) * scale)
        self.cpu.append((time.process_time() - cpu) * scale)
        return result

    def line(self) -> str:
        return f"{fmt_ms(self.wall)}  CPU p50 {statistics.median(self.cpu):5.2f} ms"

    def median(self) -> float:
        return statistics.median(self.wall)

    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


@dataclass
class PageBench:
    label: str
    stage: Stage
    waiting: int
    token: str
    actor: Actor
    requests: int
    rounds: int = 10
    per_part: int = 20  # per round: every part gets rounds * per_part samples
    target: bool = True
    samples: dict[str, Samples] = field(default_factory=dict)
    plans: dict[str, PlanSummary] = field(default_factory=dict)
    load_average: float = 0.0


async def bench_pages(
    client: httpx.AsyncClient,
    backend: Backend,
    conn: asyncpg.Connection,
    bench: PageBench,
    profile: bool,
) -> None:
    headers = {"Authorization": f"Bearer {bench.token}"}
    params = {"per_page": PER_PAGE}
    path = f"/api/v1/queues/{bench.stage.value}"
    wanted = QueueFilter(stage=bench.stage)

    async def api() -> None:
        response = await client.get(path, params=params, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"queue page: {response.status_code} {response.text[:200]}")

    async def health() -> None:
        (await client.get("/health")).raise_for_status()

    async def authenticate() -> None:
        async with backend.unit() as s:
            await s.officials.authenticate(bench.token)

    async def service() -> None:
        async with backend.unit() as s:
            await s.queues.page(bench.actor, wanted, 1, PER_PAGE)

    # Correctness first: the API's page is the SQL's page, and counts the queue (up to the
    # cap past which it only says "more").
    captured = await capture_sql(backend, service)
    count_sql = next(c for c in captured if "count(" in c.statement)
    page_sql = next(c for c in captured if c is not count_sql and "LIMIT" in c.statement)
    body = (await client.get(path, params=params, headers=headers)).json()
    sql_rows = await conn.fetch(page_sql.statement, *page_sql.parameters)
    assert body["total"] == min(bench.waiting, COUNT_CAP), (body["total"], bench.waiting)
    assert body["more"] == (bench.waiting > COUNT_CAP)
    assert [i["code"] for i in body["items"]] == [r["code"] for r in sql_rows]
    assert len(body["items"]) == min(PER_PAGE, bench.waiting)

    count_stmt = await conn.prepare(count_sql.statement)
    page_stmt = await conn.prepare(page_sql.statement)

    async def sql_count() -> None:
        await count_stmt.fetchval(*count_sql.parameters)

    async def sql_page() -> None:
        await page_stmt.fetch(*page_sql.parameters)

    parts: dict[str, Callable[[], Awaitable[None]]] = {
        "api": api, "health": health, "authenticate": authenticate, "service": service,
        "sql_count": sql_count, "sql_page": sql_page,
    }  # fmt: skip
    for call in parts.values():  # warm-up: caches, prepared statements, plan choice
        for _ in range(min(30, bench.per_part)):
            await call()

    # Rounds interleave the API with its parts so that load on this shared machine hits
    # every figure alike.
    bench.load_average = os.getloadavg()[0]
    per_api = max(1, bench.requests // bench.rounds)
    samples = {name: Samples() for name in parts}
    for _ in range(bench.rounds):
        for name, call in parts.items():
            for _ in range(per_api if name == "api" else bench.per_part):
                await samples[name].time(call)
    bench.samples = samples

    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(100):
            await api()
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(f"\n  cProfile of 100 queue pages ({bench.label}), by own time:")
        print("\n".join("    " + line for line in out.getvalue().splitlines()[:45]))

    bench.plans = {
        "page custom": await explain(conn, page_sql.statement, page_sql.parameters, False),
        "page generic": await explain(conn, page_sql.statement, page_sql.parameters, True),
        "count custom": await explain(conn, count_sql.statement, count_sql.parameters, False),
        "count generic": await explain(conn, count_sql.statement, count_sql.parameters, True),
    }


@dataclass
class ExportBench:
    parts: dict[str, Samples]
    xlsx_bytes: int
    xlsx_rows: int
    csv_bytes: int
    load_average: float


async def bench_export(
    client: httpx.AsyncClient, backend: Backend, token: str, actor: Actor, profile: bool
) -> ExportBench:
    """Three rounds, each: the API's XLSX and CSV, then the steps of the XLSX export one by
    one (as the route runs them), so that each figure comes from the same moments."""
    headers = {"Authorization": f"Bearer {token}"}
    wanted = QueueFilter(stage=Stage.KECAMATAN)

    async def fetch(fmt: str) -> bytes:
        response = await client.get(f"/api/v1/queues/kecamatan/export.{fmt}", headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"export.{fmt}: {response.status_code} {response.text[:200]}")
        return response.content

    names = ("api xlsx", "api csv", "all_rows", "recommendations", "export_rows", "to_xlsx")
    parts = {name: Samples() for name in names}
    xlsx_data, csv_data = await fetch("xlsx"), await fetch("csv")  # warm-up
    table: list[list[Any]] = []
    load_average = os.getloadavg()[0]
    for _ in range(3):
        xlsx_data = await parts["api xlsx"].time(lambda: fetch("xlsx"), 1)
        csv_data = await parts["api csv"].time(lambda: fetch("csv"), 1)
        async with backend.unit() as s:
            rows = await parts["all_rows"].time(lambda s=s: s.queues.all_rows(actor, wanted), 1)
            codes = [r.code for r in rows]
            recommendations = await parts["recommendations"].time(
                lambda s=s, codes=codes: s.queues.recommendations(actor, codes), 1
            )

        async def table_of(rows: Any = rows, recs: Any = recommendations) -> list[list[Any]]:
            return export_rows(rows, recs, backend.wilayah)

        async def xlsx_of(table: list[list[Any]]) -> bytes:
            return to_xlsx(SIPD_COLUMNS, table, Stage.KECAMATAN.value)

        table = await parts["export_rows"].time(table_of, 1)
        await parts["to_xlsx"].time(lambda table=table: xlsx_of(table), 1)

    book = openpyxl.load_workbook(io.BytesIO(xlsx_data), read_only=True)
    sheet = book.active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    book.close()
    assert tuple(values[0]) == SIPD_COLUMNS, values[0]
    assert all(row[1] for row in values[1:]), "a row without a tracking code"
    assert len(table) == EXPORT_ROWS and table[0][1] == values[1][1]
    assert csv_data.decode().count("\n") >= EXPORT_ROWS + 1

    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        to_xlsx(SIPD_COLUMNS, table, Stage.KECAMATAN.value)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print("\n  cProfile of to_xlsx (10,000 rows), by own time:")
        print("\n".join("    " + line for line in out.getvalue().splitlines()[:35]))

    return ExportBench(parts, len(xlsx_data), len(values), len(csv_data), load_average)


async def pages_during_exports(
    client: httpx.AsyncClient, base_url: str, token: str, export_token: str, seconds: float
) -> tuple[Samples, int]:
    """Queue pages, one after another, while another official downloads the XLSX export again
    and again from the same server process (a second connection)."""
    page_headers = {"Authorization": f"Bearer {token}"}
    export_headers = {"Authorization": f"Bearer {export_token}"}
    samples, done, stop = Samples(), 0, asyncio.Event()

    async def exports(other: httpx.AsyncClient) -> None:
        nonlocal done
        while not stop.is_set():
            response = await other.get("/api/v1/queues/kecamatan/export.xlsx",
                                       headers=export_headers)  # fmt: skip
            response.raise_for_status()
            done += 1

    async def page() -> None:
        response = await client.get("/api/v1/queues/kecamatan", headers=page_headers)
        response.raise_for_status()

    async with httpx.AsyncClient(base_url=base_url, timeout=300) as other:
        running = asyncio.create_task(exports(other))
        await asyncio.sleep(0.2)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            await samples.time(page)
        stop.set()
        await running
    return samples, done


# --------------------------------------------------------------------------- main


async def admin_execute(sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(POSTGRES_ADMIN_URL))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def verdict(value: float, target: float) -> str:
    return "ok" if value < target else "MISSED"


async def run(args: argparse.Namespace) -> None:
    rows = QUICK_ROWS if args.quick and args.rows is None else (args.rows or FULL_ROWS)
    rng = random.Random(SEED)
    url = make_url(POSTGRES_ADMIN_URL).set(database=DATABASE).render_as_string(False)
    print(f"queue benchmark: {rows:,} usulan, region {REGION} (Kota Medan), seed {SEED}")
    print(f"PostgreSQL: {make_url(url).render_as_string(hide_password=True)}; "
          f"load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")  # fmt: skip

    await admin_execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await admin_execute(f'CREATE DATABASE "{DATABASE}"')
    media = Path(tempfile.mkdtemp(prefix="musrenbot-bench-queue-"))
    backend: Backend | None = None
    server: uvicorn.Server | None = None
    serving: asyncio.Task[None] | None = None
    try:
        heading("load")
        started = time.perf_counter()
        await asyncio.to_thread(upgrade, url)
        migrate_s = time.perf_counter() - started
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, database_url=url, region=REGION, media_dir=media,
            planning_year=PLANNING_YEAR, telegram_token=None,
        )  # fmt: skip
        backend = Backend(settings)
        started = time.perf_counter()
        async with backend.sessionmaker() as session, session.begin():
            await load_region(session, settings.region)
            await load_opds(session, settings.opd_file)
        await backend.start()
        region_s = time.perf_counter() - started
        print(f"  migrated in {migrate_s:.1f} s; region {REGION} ({len(backend.wilayah)} "
              f"kelurahan) and OPD list loaded in {region_s:.1f} s")  # fmt: skip

        region = Region.load(rng)
        generator = Generator(region, rows, max(5_000, rows // 4), rng)
        dsn = asyncpg_dsn(url)
        load = await load_data(dsn, generator)
        rss_load = _proc_status("VmHWM")
        total_load = load.copy_s + load.index_s + load.vacuum_s
        print(f"  users {load.users:,}, usulan {load.rows:,}, usulan_events {load.events:,}: "
              f"only the {EXPORT_ROWS:,} usulan of the export queue carry their history "
              "(3 events each, which the export reads); the others have no events, which the "
              "queue page never reads")  # fmt: skip
        print(f"  generate + COPY {load.copy_s:.1f} s, build 5 secondary indexes "
              f"{load.index_s:.1f} s, VACUUM ANALYZE {load.vacuum_s:.1f} s: "
              f"{total_load:.1f} s ({load.rows / total_load:,.0f} usulan/s); "
              f"reference checks {load.check_s:.1f} s")  # fmt: skip
        print(f"  usulan heap {load.table_mb:,.0f} MB; indexes: " + ", ".join(
            f"{name} {mb:,.0f} MB" for name, mb in load.index_mb.items()))  # fmt: skip
        print(
            f"  average length: permasalahan {load.avg_len[0]:.0f} chars, "
            f"usulan {load.avg_len[1]:.0f} chars"
        )
        stages: dict[str, int] = {}
        conn = await asyncpg.connect(dsn)
        try:
            server_version = await conn.fetchval("SHOW server_version")
            for r in await conn.fetch(
                "SELECT stage, decision, count(*) AS n FROM usulan GROUP BY 1, 2 ORDER BY 1, 2"
            ):
                stages[f"{r['stage']}/{r['decision']}"] = r["n"]
        finally:
            await conn.close()
        by_stage: dict[str, int] = {}
        for key, n in stages.items():
            by_stage[key.split("/")[0]] = by_stage.get(key.split("/")[0], 0) + n
        print("  by stage: " + ", ".join(
            f"{s} {by_stage.get(s.value, 0) / rows:.0%}" for s in Stage))  # fmt: skip
        decided = sum(n for k, n in stages.items() if not k.endswith("/menunggu"))
        print(
            f"  decided (not waiting): {decided / rows:.0%}; waiting at desa (none ranked "
            f"yet): {stages['desa/menunggu']:,}; waiting at kecamatan, per kecamatan: "
            + ", ".join(f"{k[6:]} {n:,}" for k, n in sorted(load.waiting.items()))
        )

        heading("API")
        token, actor = await enrol(backend, Role.OPERATOR_KECAMATAN, QUEUE_KECAMATAN)
        export_token, export_actor = await enrol(backend, Role.OPERATOR_KECAMATAN,
                                                 EXPORT_KECAMATAN)  # fmt: skip
        admin_token, admin_actor = await enrol(backend, Role.ADMIN, REGION)
        port = free_port()
        config = uvicorn.Config(create_api(backend), host="127.0.0.1", port=port,
                                log_level="warning", access_log=False, lifespan="off")  # fmt: skip
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
            if serving.done():
                raise RuntimeError("uvicorn did not start")
        print(f"  uvicorn {uvicorn.__version__} on 127.0.0.1:{port} in this process (access log "
              "off); client: httpx, HTTP/1.1 keep-alive, same event loop. Officials enrolled by "
              f"invite code: operator kecamatan {QUEUE_KECAMATAN} and {EXPORT_KECAMATAN}, "
              f"admin {REGION}")  # fmt: skip
        print(
            "  per part: wall-clock percentiles, and the median CPU time this process spent "
            "(server + client; it does not count PostgreSQL's own CPU)"
        )
        peak_reset = reset_peak_rss()

        requests = args.requests
        benches = [
            PageBench(f"Kec. {region.names[QUEUE_KECAMATAN]}", Stage.KECAMATAN,
                      load.waiting[QUEUE_KECAMATAN], token, actor, requests),
            PageBench(f"Kec. {region.names[EXPORT_KECAMATAN]}", Stage.KECAMATAN,
                      load.waiting[EXPORT_KECAMATAN], export_token, export_actor,
                      max(100, requests // 2)),
            PageBench("admin, whole city, desa stage", Stage.DESA, stages["desa/menunggu"],
                      admin_token, admin_actor, 20, rounds=2, per_part=5, target=False),
        ]  # fmt: skip
        conn = await asyncpg.connect(dsn)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
            try:
                for i, bench in enumerate(benches):
                    note = "" if bench.target else " (context, no target)"
                    heading(f"first page: {bench.label}, {bench.waiting:,} waiting{note}")
                    await bench_pages(client, backend, conn, bench, args.profile and i == 0)
                    print(f"  load average {bench.load_average:.2f}")
                    for name, values in bench.samples.items():
                        print(f"  {name:<13} {values.line()}")
                    for name, plan in bench.plans.items():
                        print(f"  EXPLAIN ANALYZE {name}: {plan.line()}")
                        if args.plans:
                            print("\n".join("      | " + x for x in plan.text))
            finally:
                await conn.close()

            heading(f"export: {EXPORT_ROWS:,} rows of Kec. {region.names[EXPORT_KECAMATAN]}")
            export = await bench_export(client, backend, export_token, export_actor,
                                        args.profile)  # fmt: skip
            during, exports_done = await pages_during_exports(
                client, f"http://127.0.0.1:{port}", token, export_token, 10 if args.quick else 15
            )
        print(
            f"  load average {export.load_average:.2f}; XLSX {export.xlsx_bytes / 1e6:.1f} MB, "
            f"openpyxl reads {export.xlsx_rows:,} rows; CSV {export.csv_bytes / 1e6:.1f} MB"
        )
        for name, values in export.parts.items():
            print(f"  {name:<16} median {values.median():.3f} s  "
                  f"({', '.join(f'{x:.3f}' for x in values.wall)}); "
                  f"CPU median {values.median_cpu():.3f} s")  # fmt: skip
        print(f"  queue pages of {benches[0].label} while the export is downloaded over and "
              f"over ({exports_done} exports): {fmt_ms(during.wall)}")  # fmt: skip
    finally:
        if server is not None and serving is not None:
            server.should_exit = True
            await serving
        if backend is not None:
            await backend.close()
        shutil.rmtree(media, ignore_errors=True)
        if args.keep:
            print(f"\n(database {DATABASE} kept: --keep)")
        else:
            await admin_execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            print(f"\n(database {DATABASE} dropped)")

    rss_api = _proc_status("VmHWM") if peak_reset else None
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary(rows, total_load, benches, export, during, (rss_peak, rss_load, rss_api))
    print(f"\nPostgreSQL {server_version}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs (shared), load average now {os.getloadavg()[0]:.2f}; "
          f"{date.today().isoformat()}")  # fmt: skip


def summary(
    rows: int,
    total_load: float,
    benches: list[PageBench],
    export: ExportBench,
    during: Samples,
    rss: tuple[int | None, int | None, int | None],
) -> None:
    heading("summary")
    lines: list[tuple[str, str, str, str]] = [
        (f"load {rows:,} usulan (COPY + indexes + VACUUM ANALYZE)", f"{total_load:.1f} s",
         "", ""),
    ]  # fmt: skip
    for bench in benches:
        api, parts = bench.samples["api"], bench.samples
        p95 = percentile(api.wall, 95)
        context = "" if bench.target else ", context"
        lines += [
            (f"queue page, {bench.label} ({bench.waiting:,} waiting{context})",
             "", "", ""),
            ("  API p50 / p99", f"{percentile(api.wall, 50):.2f} / "
             f"{percentile(api.wall, 99):.2f} ms", "", ""),
            ("  API p95", f"{p95:.2f} ms",
             f"< {TARGET_PAGE_P95_MS:.0f} ms" if bench.target else "",
             verdict(p95, TARGET_PAGE_P95_MS) if bench.target else ""),
            ("  API CPU in this process, server + client (median)",
             f"{api.median_cpu():.2f} ms", "", ""),
            ("  bare SQL via asyncpg, count + page (medians)",
             f"{parts['sql_count'].median():.2f} + {parts['sql_page'].median():.2f} ms", "", ""),
            ("  QueueService.page in a unit, no HTTP (median)",
             f"{parts['service'].median():.2f} ms", "", ""),
            ("  token authentication in a unit (median)",
             f"{parts['authenticate'].median():.2f} ms", "", ""),
            ("  HTTP floor: GET /health (median)", f"{parts['health'].median():.2f} ms", "", ""),
        ]  # fmt: skip
    p = export.parts
    api_xlsx = p["api xlsx"].median()
    lines += [
        (f"export.xlsx via API, {EXPORT_ROWS:,} rows (median of 3)", f"{api_xlsx:.2f} s",
         f"< {TARGET_EXPORT_S:.0f} s", verdict(api_xlsx, TARGET_EXPORT_S)),
        ("  its CPU in this process (median)", f"{p['api xlsx'].median_cpu():.2f} s", "", ""),
        ("  to_xlsx alone (median of 3)", f"{p['to_xlsx'].median():.2f} s",
         f"< {TARGET_EXPORT_S:.0f} s", verdict(p["to_xlsx"].median(), TARGET_EXPORT_S)),
        ("  to_xlsx CPU (median)", f"{p['to_xlsx'].median_cpu():.2f} s", "", ""),
        ("  all_rows + recommendations + export_rows (medians)",
         f"{p['all_rows'].median():.2f}+{p['recommendations'].median():.2f}"
         f"+{p['export_rows'].median():.2f} s", "", ""),
        ("  export.csv via API (median of 3)", f"{p['api csv'].median():.2f} s", "", ""),
        (f"queue page, {benches[0].label}, while exports run: p50 / p95",
         f"{percentile(during.wall, 50):.0f} / {percentile(during.wall, 95):.0f} ms", "", ""),
        ("XLSX opens with openpyxl: rows incl. header", f"{export.xlsx_rows:,}",
         f"{EXPORT_ROWS + 1:,}", "ok" if export.xlsx_rows == EXPORT_ROWS + 1 else "WRONG"),
        ("peak RSS, whole run", mib(rss[0]), "", ""),
        ("peak RSS, up to the end of the load", mib(rss[1]), "", ""),
        ("peak RSS, API phase (server + client in one process)", mib(rss[2]), "", ""),
    ]  # fmt: skip
    width = 62
    print(f"{'measure':<{width}} {'figure':>15}  {'target':>8}  verdict")
    for name, figure, target, ok in lines:
        print(f"{name:<{width}} {figure:>15}  {target:>8}  {ok}".rstrip())
    missed = [n for n, *_, ok in lines if ok == "MISSED"]
    print(f"\n{len(missed)} target(s) missed" if missed else "\nall targets met")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=None, help=f"usulan (default {FULL_ROWS:,})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} usulan")
    parser.add_argument("--requests", type=int, default=500, help="queue pages to time")
    parser.add_argument("--plans", action="store_true", help="print the full EXPLAIN plans")
    parser.add_argument("--profile", action="store_true", help="cProfile the page and to_xlsx")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
