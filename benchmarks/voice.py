"""Voice notes: real-time factor and peak memory of hearing a 10 s, 30 s and 120 s note.

Run: .venv/bin/python benchmarks/voice.py [--threads N]

The notes are Indonesian speech from the committed clips (tests/data/voice, espeak-ng's voice)
joined with short pauses to the length wanted, as Ogg/Opus. Each note is heard in a child
process of its own, the way the bot hears one (decode, re-encode the copy kept, transcribe
with the pinned multilingual base model, int8 on the CPU), so its peak RSS (VmHWM) is that
note's alone. "rtf" is the time to hear the note over its length: 0.25 means a 120 s note is
heard in 30 s. The model load (once per process) is shown apart.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (HERE, ROOT)]

from benchmarks.common import print_table  # noqa: E402

LENGTHS = (10, 30, 120)
CLIPS = ROOT / "tests" / "data" / "voice"


def build_note(seconds: int, path: Path) -> None:
    import numpy as np

    from backend.services import audio

    pause = np.zeros(int(0.6 * audio.SAMPLE_RATE), dtype=np.float32)
    clips = [audio.decode(p.read_bytes()) for p in sorted(CLIPS.glob("*.ogg"))]
    parts: list[np.ndarray] = []
    total = 0
    while total < seconds * audio.SAMPLE_RATE:
        clip = clips[len(parts) // 2 % len(clips)]
        parts += [clip, pause]
        total += clip.size + pause.size
    samples = np.concatenate(parts)[: seconds * audio.SAMPLE_RATE - 1]
    path.write_bytes(audio.encode_opus(samples))


def child(note: Path, threads: int) -> None:
    from backend.services.media import MediaStore
    from backend.services.transcription import Transcriber

    transcriber = Transcriber("base", model_dir=ROOT / "data" / "models", threads=threads)
    started = time.perf_counter()
    transcriber.model()
    loaded = time.perf_counter() - started
    import asyncio

    with tempfile.TemporaryDirectory() as media:
        started = time.perf_counter()
        heard = asyncio.run(transcriber.listen(note.read_bytes(), MediaStore(Path(media))))
        took = time.perf_counter() - started
    status = Path("/proc/self/status").read_text()
    peak_kb = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
    print(
        json.dumps(
            {
                "seconds": heard.audio.seconds,
                "took": took,
                "load": loaded,
                "peak_mb": peak_kb / 1024,
                "words": len(heard.text.split()),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of one transcription")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child), args.threads)
        return
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for seconds in LENGTHS:
            note = Path(folder) / f"note_{seconds}.ogg"
            build_note(seconds, note)
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(note), "--threads", str(args.threads)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            result = json.loads(out.strip().splitlines()[-1])
            rows.append(
                [
                    f"{seconds} s ({note.stat().st_size // 1024} KB Opus)",
                    f"{result['took']:.1f} s",
                    f"{result['took'] / result['seconds']:.2f}",
                    f"{result['peak_mb']:.0f} MB",
                    f"{result['load']:.1f} s",
                    str(result["words"]),
                ]
            )
    print_table([["note", "heard in", "rtf", "peak RSS", "model load", "words"], *rows])


if __name__ == "__main__":
    main()
