"""Voice notes become text: offline Whisper (faster-whisper, CTranslate2 int8 on the CPU).

The model is a setting: `base` (the default) is the multilingual base model, taken from the
pinned packages of the `voice` extra when they are installed, else downloaded once from the
model hub; either way its files are checked against `backend/data/whisper_base.json` before
they are loaded. Another faster-whisper model name downloads that model; a directory loads
the model in it; `off` turns voice notes off (residents are asked to type, as without the
extra).

Everything costly (decode, re-encode, transcribe) runs in a small pool of threads of its own,
never on the event loop and never inside a database transaction; at most `queue` notes wait
for it, more are refused as `busy` rather than kept waiting for minutes.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.resources
import importlib.util
import json
import logging
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.errors import AudioRejected
from backend.services import audio
from backend.services.media import MediaStore, StoredAudio

log = logging.getLogger(__name__)

OFF = "off"
BUNDLED = "base"
MANIFEST = Path(__file__).resolve().parent.parent / "data" / "whisper_base.json"
LANGUAGE = "id"  # forced: detection mislabels short Indonesian notes (as Malay, Javanese...)
# Words residents use, in a sentence: Whisper takes a prompt as earlier speech, and a bare
# list of words makes it repeat the list instead of listening.
INITIAL_PROMPT = (
    "Usulan warga untuk Musrenbang kelurahan, tentang jalan, parit, lampu jalan, posyandu, "
    "RT dan RW."
)


# Loaded models, shared by every Transcriber of the process: a model is a few hundred MB.
_models: dict[tuple[str, int, int], Any] = {}
_loading = threading.Lock()


class ModelMismatch(RuntimeError):
    """The model files on disk are not the ones the manifest names: not loaded."""


@dataclass(frozen=True)
class Heard:
    audio: StoredAudio
    text: str


def voice_installed() -> bool:
    return importlib.util.find_spec("faster_whisper") is not None


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return data


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(folder: Path, expected: dict[str, Any] | None = None) -> None:
    """Every file the manifest names, with its size and SHA-256, or ModelMismatch."""
    for name, want in (expected or manifest())["files"].items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != want["size"]:
            raise ModelMismatch(f"{path}: missing or of the wrong size")
        if sha256_of(path) != want["sha256"]:
            raise ModelMismatch(f"{path}: SHA-256 differs from {MANIFEST.name}")


def bundled_installed(spec: dict[str, Any] | None = None) -> bool:
    spec = spec or manifest()
    return all(importlib.util.find_spec(p["module"]) is not None for p in spec["packages"])


def assemble_bundled(model_dir: Path) -> Path:
    """The base model joined from the pinned packages' parts into `model_dir` (once), checked
    against the manifest."""
    spec = manifest()
    target = model_dir / f"whisper-base-{spec['upstream_revision'][:12]}"
    try:
        verify(target, spec)
        return target
    except ModelMismatch:
        pass  # not there yet, or damaged: join it again
    target.mkdir(parents=True, exist_ok=True)
    for name, parts in spec["assemble"].items():
        fd, tmp = tempfile.mkstemp(dir=target, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    module, _, inner = part.partition("/")
                    with importlib.resources.files(module).joinpath(inner).open("rb") as src:
                        while block := src.read(1 << 20):
                            out.write(block)
            os.replace(tmp, target / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    verify(target, spec)
    return target


def resolve_model(setting: str, model_dir: Path) -> str:
    """Where faster-whisper should load the model from (a directory), for the setting."""
    if Path(setting).expanduser().is_dir():
        return str(Path(setting).expanduser())
    if setting == BUNDLED and bundled_installed():
        return str(assemble_bundled(model_dir))
    from faster_whisper.utils import download_model

    if setting == BUNDLED:  # the same files, from the hub, at the revision the manifest names
        spec = manifest()
        folder = Path(download_model(setting, revision=spec["upstream_revision"]))
        verify(folder, spec)
        return str(folder)
    return str(download_model(setting))


class Transcriber:
    def __init__(
        self,
        model: str,
        *,
        model_dir: Path,
        workers: int = 1,
        threads: int = 2,
        queue: int = 4,
    ) -> None:
        self.setting = model.strip()
        self.model_dir = model_dir
        self.workers = workers
        self.threads = threads
        self.queue = queue
        self.available = self.setting.lower() != OFF and voice_installed()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="transcribe")
        self._waiting = 0  # notes handed to the pool and not done yet (event loop only)

    async def listen(self, data: bytes, media: MediaStore) -> Heard:
        """Decode, keep a clean copy, transcribe; or AudioRejected. Call it outside any
        database transaction: a note takes seconds."""
        if self._waiting >= self.workers + self.queue:
            raise AudioRejected("busy")
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, self._listen, data, media)
        finally:
            self._waiting -= 1

    def _listen(self, data: bytes, media: MediaStore) -> Heard:
        samples = audio.decode(data)
        text = self.transcribe(samples)
        if not text:
            raise AudioRejected("silent")
        stored = media.store_audio_sync(audio.encode_opus(samples), audio.seconds_of(samples))
        return Heard(audio=stored, text=text)

    def transcribe(self, samples: Any) -> str:
        """The text of 16 kHz mono samples (blocking: for the pool and the command line)."""
        segments, _info = self.model().transcribe(
            samples,
            language=LANGUAGE,
            initial_prompt=INITIAL_PROMPT,
            beam_size=5,
            condition_on_previous_text=False,  # one misheard phrase is not carried on
            vad_filter=True,  # silence gives no text instead of invented words
        )
        return " ".join(s.text.strip() for s in segments).strip()

    def model(self) -> Any:
        key = (self.setting, self.threads, self.workers)
        with _loading:
            if key not in _models:
                from faster_whisper import WhisperModel

                path = resolve_model(self.setting, self.model_dir)
                _models[key] = WhisperModel(
                    path,
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=self.threads,
                    num_workers=self.workers,
                )
                log.info("speech model loaded from %s", path)
            return _models[key]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
