"""Make the Indonesian voice notes the voice tests listen to: espeak-ng speaks each sentence,
and PyAV encodes it as phones send a voice note (Ogg/Opus, 48 kHz mono).

    apt-get install espeak-ng
    .venv/bin/python tests/data/voice/make_clips.py

The clips are committed, so the tests need neither espeak-ng nor this script.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import av
import numpy as np

HERE = Path(__file__).resolve().parent
RATE = 48_000
CLIPS = {
    "jalan_rusak": "Jalan di depan sekolah rusak berlubang, parit tersumbat sehingga banjir "
    "saat hujan.",
    "lampu_jalan": "Lampu penerangan jalan di gang kami mati sudah tiga bulan, mohon diganti.",
    "posyandu": "Kami mengusulkan pembangunan posyandu baru di RW lima karena yang lama sudah "
    "sempit.",
}


def speak(text: str) -> np.ndarray:
    """Mono int16 samples at 48 kHz of espeak-ng's Indonesian voice saying `text`."""
    wav = subprocess.run(
        ["espeak-ng", "-v", "id", "-s", "140", "--stdout", text], check=True, capture_output=True
    ).stdout
    chunks = []
    with av.open(io.BytesIO(wav)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks)


def ogg_opus(samples: np.ndarray, tags: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with av.open(out, mode="w", format="ogg") as container:
        container.metadata.update(tags or {})
        stream = container.add_stream("libopus", rate=RATE)
        stream.layout = "mono"
        stream.bit_rate = 32_000
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return out.getvalue()


def main() -> None:
    for name, text in CLIPS.items():
        (HERE / f"{name}.ogg").write_bytes(ogg_opus(speak(text)))
        print(name, text)


if __name__ == "__main__":
    main()
