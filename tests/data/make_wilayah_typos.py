"""Write the village-search typo set: queries typed the way residents type, with the answer.

Run: .venv/bin/python tests/data/make_wilayah_typos.py            (writes wilayah_typos.csv)
     .venv/bin/python tests/data/make_wilayah_typos.py --seed 7 --out /tmp/tuning.csv

The committed file (seed 14) is held out: search is tuned on sets made with other seeds and
regions, and only measured on this one. Every desa/kelurahan of each region gets a few
queries; each query is one kind of habit (below), sometimes two at once. Deterministic: the
same seed and register give the same file.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
from collections.abc import Callable
from pathlib import Path

from backend.services.wilayah import iter_wilayah_rows

HERE = Path(__file__).resolve().parent
OUT = HERE / "wilayah_typos.csv"
SEED = 14
REGIONS = ("12.71", "12.21")
QUERIES_PER_DESA = 3

# How residents say the register's abbreviations in these regions (the register writes
# "P Berayan" for Pulo Berayan, "P Bulan" for Padang Bulan, "Tegal S" for Tegal Sari).
SPOKEN = (
    (r"^S\. ", "Sei "),
    (r"^PB ", "Pulo Berayan "),
    (r"^P (?=Berayan)", "Pulo "),
    (r"^P (?=Bulan)", "Padang "),
    (r"^PP\. ", "PP "),
    (r"(?<=Tegal )S ", "Sari "),
)
# Words residents shorten, and the other ways they write them.
SHORT = {
    "sei": ("s.", "sungai", "sg"),
    "sungai": ("sei", "s.", "sg"),
    "pasar": ("psr", "ps"),
    "tanjung": ("tj", "tg"),
    "pulo": ("p", "pulau"),
    "padang": ("p", "pdg", "pd"),
    "simpang": ("sp", "spg"),
    "kampung": ("kp", "kpg"),
    "gunung": ("gn", "gng"),
    "lubuk": ("lb", "lbk"),
    "batang": ("btg",),
    "mesjid": ("masjid",),
}
PREFIXES = ("kel. ", "kel ", "kelurahan ", "desa ", "ds ", "ds. ", "Desa ", "Kel. ")
ROMAN = {"I": "1", "II": "2", "III": "3", "IV": "4", "V": "5", "VI": "6"}
DIGITS = {v: k for k, v in ROMAN.items()}
NEAR_KEYS = {
    "a": "qsz", "b": "vgn", "c": "xdv", "d": "sfe", "e": "wrd", "f": "dgr", "g": "fht",
    "h": "gjy", "i": "uok", "j": "hku", "k": "jli", "l": "ko", "m": "nj", "n": "bmh",
    "o": "ipl", "p": "ol", "q": "wa", "r": "eft", "s": "adw", "t": "rgy", "u": "yji",
    "v": "cbf", "w": "qes", "x": "zcs", "y": "tuh", "z": "xa",
}  # fmt: skip


def spoken(name: str) -> str:
    for pattern, replacement in SPOKEN:
        name = re.sub(pattern, replacement, name)
    return name


def slip(word: str, rng: random.Random) -> str:
    """One slip of the thumb in a word of four letters or more; shorter words are kept."""
    if len(word) < 4 or not word.isalpha():
        return word
    chars = list(word)
    at = rng.randrange(1, len(chars))
    kind = rng.choice(("swap", "drop", "double", "near", "vowel"))
    if kind == "swap" and at < len(chars) - 1:
        chars[at], chars[at + 1] = chars[at + 1], chars[at]
    elif kind == "drop":
        del chars[at]
    elif kind == "double":
        chars.insert(at, chars[at])
    elif kind == "near" and chars[at].lower() in NEAR_KEYS:
        chars[at] = rng.choice(NEAR_KEYS[chars[at].lower()])
    else:
        vowels = [i for i, c in enumerate(chars) if c in "aeiou" and i > 0]
        if vowels:
            i = rng.choice(vowels)
            chars[i] = rng.choice([v for v in "aeiou" if v != chars[i]])
    return "".join(chars)


def slip_words(text: str, rng: random.Random, every: bool) -> str:
    words = text.split()
    if every:
        return " ".join(slip(w, rng) for w in words)
    long_ones = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if long_ones:
        i = rng.choice(long_ones)
        words[i] = slip(words[i], rng)
    return " ".join(words)


def swap_numeral(text: str) -> str:
    words = text.split()
    out = [ROMAN.get(w, DIGITS.get(w, w)) for w in words]
    return " ".join(out)


def shorten(text: str, rng: random.Random) -> str:
    words = text.split()
    options = [i for i, w in enumerate(words) if w.lower() in SHORT]
    if not options:
        return text
    i = rng.choice(options)
    words[i] = rng.choice(SHORT[words[i].lower()])
    return " ".join(words)


Habit = Callable[[str, str, str, random.Random], str]

# name: the register's name; said: as people say it; kecamatan: its kecamatan's name.
HABITS: dict[str, Habit] = {
    "said": lambda name, said, kec, rng: said.lower(),
    "register": lambda name, said, kec, rng: name,
    "kecamatan_after": lambda name, said, kec, rng: f"{said} {kec}".lower(),
    "kecamatan_after_slip": lambda name, said, kec, rng: slip_words(f"{said} {kec}", rng, False),
    "run_together": lambda name, said, kec, rng: said.replace(" ", "").lower(),
    "abbreviation": lambda name, said, kec, rng: shorten(said, rng).lower(),
    "slip": lambda name, said, kec, rng: slip_words(said, rng, False).lower(),
    "slip_every_word": lambda name, said, kec, rng: slip_words(said, rng, True).lower(),
    "prefix": lambda name, said, kec, rng: rng.choice(PREFIXES) + said,
    "prefix_slip": lambda name, said, kec, rng: rng.choice(PREFIXES) + slip_words(said, rng, False),
    "numeral": lambda name, said, kec, rng: swap_numeral(said).lower(),
    "numeral_run_together": lambda name, said, kec, rng: swap_numeral(said).replace(" ", ""),
    "abbreviation_slip": lambda name, said, kec, rng: slip_words(shorten(said, rng), rng, False),
}


def queries(region: str, rng: random.Random) -> list[tuple[str, str, str, str]]:
    rows = list(iter_wilayah_rows(region))
    kecamatan = {code: name for code, name in rows if code.count(".") == 2}
    out = []
    for code, name in rows:
        if code.count(".") != 3:
            continue
        said = spoken(name)
        kec = kecamatan[code.rsplit(".", 1)[0]]
        kinds = list(HABITS)
        if not any(w in ROMAN or w in DIGITS for w in said.split()):
            kinds = [k for k in kinds if not k.startswith("numeral")]
        if not any(w.lower() in SHORT for w in said.split()):
            kinds = [k for k in kinds if not k.startswith("abbreviation")]
        if " " not in said:
            kinds.remove("run_together")
        seen = set()
        for kind in rng.sample(kinds, min(QUERIES_PER_DESA, len(kinds))):
            query = HABITS[kind](name, said, kec, rng)
            if query.lower() not in seen:
                seen.add(query.lower())
                out.append((region, code, kind, query))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--region", action="append", help="kabupaten/kota code (repeatable)")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    rows = [row for region in args.region or REGIONS for row in queries(region, rng)]
    with args.out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("region", "code", "kind", "query"))
        writer.writerows(rows)
    print(f"{len(rows)} queries -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
