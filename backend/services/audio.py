"""Voice notes as sound: decode what a phone sent, refuse what is too long, keep a clean copy.

PyAV (FFmpeg's libraries in a wheel) comes with the `voice` extra; it is imported only when a
note arrives, so the rest of the service runs without it. Decoding stops as soon as the
limit is passed: a small file that claims minutes of sound costs no more than the limit.
The copy kept is re-encoded from the decoded samples, so nothing of the original file (tags,
title, device, encoder) survives.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import numpy as np

from backend.domain import MAX_AUDIO_BYTES, MAX_AUDIO_SECONDS
from backend.errors import AudioRejected

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # what Whisper listens at; plenty for speech
OPUS_BITRATE = 32_000  # what a phone sends a voice note at; lower rates lose words


def decode(data: bytes, max_seconds: float = MAX_AUDIO_SECONDS) -> np.ndarray[Any, Any]:
    """Mono float32 samples at 16 kHz, or AudioRejected (`not_audio`, `too_long`,
    `too_large`)."""
    import av

    if len(data) > MAX_AUDIO_BYTES:
        raise AudioRejected("too_large")
    limit = int(max_seconds * SAMPLE_RATE)
    chunks: list[np.ndarray[Any, Any]] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioRejected("not_audio")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    total += chunk.size
                if total > limit:
                    raise AudioRejected("too_long")
            for out in resampler.resample(None):  # what the resampler still holds
                chunks.append(out.to_ndarray().reshape(-1))
    except AudioRejected:
        raise
    except Exception as exc:  # noqa: BLE001 - a hostile file can make a decoder raise anything
        log.debug("audio refused: %s", type(exc).__name__)
        raise AudioRejected("not_audio") from None
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    if samples.size == 0:
        raise AudioRejected("not_audio")
    if samples.size > limit:
        raise AudioRejected("too_long")
    return samples.astype(np.float32) / 32768.0


def encode_opus(samples: np.ndarray[Any, Any]) -> bytes:
    """Ogg/Opus, as phones send voice notes, carrying the sound and nothing else: the
    `bitexact` flags keep FFmpeg from writing its own name and version into the tags."""
    import av
    from av.codec.context import Flags

    pcm = np.clip(samples * 32768.0, -32768, 32767).astype(np.int16).reshape(1, -1)
    out = io.BytesIO()
    with av.open(
        out, mode="w", format="ogg", container_options={"fflags": "+bitexact"}
    ) as container:
        stream: Any = container.add_stream("libopus", rate=SAMPLE_RATE)
        stream.layout = "mono"
        stream.bit_rate = OPUS_BITRATE
        stream.codec_context.flags |= Flags.bitexact
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def seconds_of(samples: np.ndarray[Any, Any]) -> float:
    return round(samples.size / SAMPLE_RATE, 2)
