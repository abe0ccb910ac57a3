"""Vocabulary of the Musrenbang (DESIGN §3, §4), shared by services, storage and API."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    DESA = "desa"
    KECAMATAN = "kecamatan"
    PERANGKAT_DAERAH = "perangkat_daerah"
    KABKOTA = "kabkota"
    RENJA = "renja"
    RKPD = "rkpd"
    APBD = "apbd"
    REALISASI = "realisasi"


class Decision(StrEnum):
    MENUNGGU = "menunggu"
    DITERIMA = "diterima"
    DITERIMA_DENGAN_PERUBAHAN = "diterima_dengan_perubahan"
    PERLU_PERBAIKAN = "perlu_perbaikan"
    DITOLAK = "ditolak"
    DITUNDA = "ditunda"
    DIGABUNG = "digabung"


class Origin(StrEnum):
    WARGA = "warga"
    KEPALA_DESA = "kepala_desa"
    REMBUK_WARGA = "rembuk_warga"
    OPEN311 = "open311"


class WilayahLevel:
    PROVINSI = 1
    KABKOTA = 2
    KECAMATAN = 3
    DESA = 4


# Limits a resident meets in the intake; the conversation states them in its messages.
MAX_TEXT_CHARS = 1000
MIN_TEXT_CHARS = 10
MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download
