"""`musrenbot` as an operator runs it: a real process, its exit code and what it prints.

The command-line tests use a throw-away SQLite file in a temporary working directory; the
terminal chat runs in-process on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.storage.models import User, Usulan
from bot.asgi import ConfigurationError, check_settings
from bot.terminal import run_terminal_chat
from tests.chat import make_jpeg
from tests.conftest import make_settings, start_backend
from tests.e2e_fixtures import ADDRESS, PASAR_BARU, PROBLEM, REQUEST, TRACKING_CODE, t

MUSRENBOT = Path(sys.executable).with_name("musrenbot")
KOTA_MEDAN_KELURAHAN = 151


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without any MUSRENBOT_ setting, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSRENBOT_")}
    env.update(
        MUSRENBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'musrenbot.sqlite3'}",
        MUSRENBOT_MEDIA_DIR=str(tmp_path / "media"),
        NO_COLOR="1",
        COLUMNS="120",
    )
    env.update({f"MUSRENBOT_{k.upper()}": v for k, v in settings.items()})
    return env


def musrenbot(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MUSRENBOT), *args],
        cwd=tmp_path,
        env=_env(tmp_path, **settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_help_lists_the_commands(tmp_path: Path) -> None:
    assert MUSRENBOT.is_file(), "installing the project puts `musrenbot` beside the interpreter"

    result = musrenbot(tmp_path, "--help")

    assert result.returncode == 0, result.stderr
    for command in ("run", "chat", "db", "wilayah"):
        assert f" {command} " in result.stdout, command
    db_help = musrenbot(tmp_path, "db", "--help")
    assert db_help.returncode == 0 and " upgrade " in db_help.stdout
    wilayah_help = musrenbot(tmp_path, "wilayah", "--help")
    assert wilayah_help.returncode == 0 and " load " in wilayah_help.stdout


def test_a_fresh_database_is_migrated_and_gets_the_villages_of_kota_medan(tmp_path: Path) -> None:
    upgraded = musrenbot(tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database at head" in upgraded.stdout
    assert (tmp_path / "musrenbot.sqlite3").is_file()

    loaded = musrenbot(tmp_path, "wilayah", "load", "12.71")
    assert loaded.returncode == 0, loaded.stderr
    assert f"loaded {KOTA_MEDAN_KELURAHAN} desa/kelurahan for 12.71" in loaded.stdout

    again = musrenbot(tmp_path, "wilayah", "load", "12.71")  # a reload replaces, not adds
    assert again.returncode == 0 and f"loaded {KOTA_MEDAN_KELURAHAN} " in again.stdout


def test_an_unknown_region_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    assert musrenbot(tmp_path, "db", "upgrade").returncode == 0

    result = musrenbot(tmp_path, "wilayah", "load", "99.99")

    assert result.returncode == 2
    assert "99.99" in result.stderr and "Traceback" not in result.stderr
    assert "loaded" not in result.stdout


def test_run_without_a_token_serves_the_api_and_says_how_to_enable_the_bot(
    tmp_path: Path,
) -> None:
    port = _free_port()
    log = tmp_path / "service.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(MUSRENBOT), "run", "--port", str(port)],
            cwd=tmp_path,
            env=_env(tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            health = _wait_for_health(f"http://127.0.0.1:{port}/health", process, log)
        finally:
            process.terminate()
            process.wait(timeout=30)

    assert health["status"] == "ok"
    assert health["wilayah"] == KOTA_MEDAN_KELURAHAN  # a fresh database got its villages
    said = [line for line in log.read_text().splitlines() if "MUSRENBOT_TELEGRAM_TOKEN" in line]
    assert len(said) == 1, log.read_text()
    assert "Telegram bot off" in said[0]


def _wait_for_health(url: str, process: subprocess.Popen[str], log: Path) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"service exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body: dict[str, object] = json.load(response)
                return body
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    pytest.fail(f"service did not answer {url}:\n{log.read_text()}")


def test_webhook_mode_without_a_secret_refuses_to_start(tmp_path: Path) -> None:
    result = musrenbot(
        tmp_path,
        "run",
        "--port",
        str(_free_port()),
        telegram_token="123456:TEST-TOKEN",
        telegram_mode="webhook",
        public_url="https://musrenbot.example.go.id",
    )

    assert result.returncode == 2
    assert "MUSRENBOT_TELEGRAM_WEBHOOK_SECRET is required in webhook mode" in result.stderr
    assert "Traceback" not in result.stderr
    # Refused before touching anything: the database was not even created.
    assert not (tmp_path / "musrenbot.sqlite3").exists()


@pytest.mark.parametrize("secret", ["rahasia kami!", "x" * 257, "kunci/rahasia"])
def test_a_webhook_secret_telegram_would_refuse_is_a_configuration_error(
    tmp_path: Path, secret: str
) -> None:
    settings = make_settings(
        "sqlite+aiosqlite:///unused.sqlite3",
        tmp_path,
        telegram_token="123456:TEST-TOKEN",
        telegram_mode="webhook",
        telegram_webhook_secret=secret,
        public_url="https://musrenbot.example.go.id",
    )

    with pytest.raises(ConfigurationError, match="MUSRENBOT_TELEGRAM_WEBHOOK_SECRET"):
        check_settings(settings)


# --- the terminal chat ------------------------------------------------------------------


class Script:
    """What a person types into `musrenbot chat`, one line per prompt; a step may look at
    what the chat printed so far (to find a numbered button)."""

    def __init__(self, *steps: str | Callable[[list[str]], str]) -> None:
        self.steps = list(steps)
        self.printed: list[str] = []

    def read(self) -> str:
        if not self.steps:
            raise EOFError
        step = self.steps.pop(0)
        return step(self.printed) if callable(step) else step

    def write(self, line: str) -> None:
        self.printed.append(line)


def button(label: str) -> Callable[[list[str]], str]:
    """The number of the most recent button labelled `label`."""

    def number(printed: list[str]) -> str:
        for line in reversed(printed):
            head, _, text = line.strip().partition("] ")
            if head.startswith("[") and head[1:].isdigit() and text == label:
                return head[1:]
        raise AssertionError(f"no button {label!r} in {printed[-12:]}")

    return number


async def test_the_terminal_chat_completes_an_intake(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path)
    await (await start_backend(settings)).close()  # the villages of Kota Medan loaded
    photo = tmp_path / "jalan_rusak.jpg"
    photo.write_bytes(make_jpeg((320, 240), gps=True))
    script = Script(
        button(t("button.consent_yes")),
        "pasar baru",
        button("Kelurahan Pasar Baru (Kec. Medan Kota)"),
        ":lokasi 3.583412 98.67223",
        ADDRESS,
        button(t("category.jalan")),
        PROBLEM,
        REQUEST,
        "120 meter",
        f":foto {photo}",
        "selesai",
        "200",
        button(t("button.submit")),
        ":keluar",
        "/start",  # never read: the chat ended at :keluar
    )

    await run_terminal_chat(settings, "id", read=script.read, write=script.write)

    assert script.steps == ["/start"]
    printed = "\n".join(script.printed)
    codes = TRACKING_CODE.findall(printed)
    assert codes, printed[-2000:]
    code = codes[0]
    assert f"🤖 Kode usulan: {code}" in script.printed
    backend = await start_backend(settings)
    try:
        async with backend.sessionmaker() as session:
            row = await session.scalar(select(Usulan).where(Usulan.code == code))
            assert row is not None
            submitter = await session.get(User, row.submitter_id)
    finally:
        await backend.close()
    assert (row.desa_code, row.category, row.permasalahan) == (PASAR_BARU, "jalan", PROBLEM)
    assert submitter is not None and submitter.channel == "terminal"
    assert len(list((tmp_path / "media").rglob("*.jpg"))) == 1
