"""`musrenbot chat`: the same conversations in a terminal, through the same handlers.

Type answers as in Telegram. Buttons are numbered: type the number to press one.
`:lokasi LAT LON` shares a location, `:foto PATH` sends a photo, `:suara PATH` a voice note,
`:keluar` quits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import locales
from backend.services.media import StoredPhoto
from backend.services.transcription import Heard
from backend.services.wiring import Backend
from backend.settings import Settings
from bot.telegram.render import label, text_of
from handlers.dispatch import handle
from handlers.events import (
    Audio,
    ButtonPress,
    Command,
    Document,
    Event,
    Incoming,
    Location,
    Notice,
    Photo,
    Photos,
    Reply,
    Say,
    Sender,
    Text,
    Unsupported,
    prepared,
)

CHANNEL = "terminal"
HELP = (
    "(:lokasi LAT LON = share location, :foto PATH = send a photo, "
    ":suara PATH = send a voice note, :keluar = quit)"
)


class TerminalChat:
    def __init__(self, backend: Backend, language: str, write: Callable[[str], None]) -> None:
        self.backend = backend
        self.write = write
        self.sender = Sender(CHANNEL, "local", "local", "Terminal", language)
        self.buttons: list[str] = []
        self.skip_label: str | None = None

    def parse(self, line: str) -> Event | None:
        line = line.strip()
        if not line:
            return None
        if line.isdigit() and 1 <= int(line) <= len(self.buttons):
            return ButtonPress(self.buttons[int(line) - 1])
        if line.startswith(":"):
            head, _, rest = line[1:].partition(" ")
            if head in {"lokasi", "location"}:
                try:
                    lat, lon = (float(x) for x in rest.replace(",", " ").split())
                except ValueError:
                    self.write("  usage: :lokasi -6.2 106.8")
                    return None
                return Location(lat, lon)
            if head in {"foto", "photo"}:
                path = Path(rest.strip()).expanduser()
                if not path.is_file():
                    self.write(f"  no such file: {path}")
                    return None

                async def load() -> StoredPhoto:
                    return await self.backend.media.store_photo(path.read_bytes())

                return Photo(load=load, file_size=path.stat().st_size)
            if head in {"suara", "voice"}:
                return self._voice(Path(rest.strip()).expanduser())
            self.write(f"  {HELP}")
            return None
        if line.startswith("/"):
            name, _, args = line[1:].partition(" ")
            return Command(name.lower(), args.strip())
        return Text(line)

    def _voice(self, path: Path) -> Event | None:
        if not path.is_file():
            self.write(f"  no such file: {path}")
            return None
        transcriber = self.backend.transcriber
        if not transcriber.available:
            return Unsupported("voice")  # answered as a channel that cannot listen

        data = path.read_bytes()

        async def load() -> Heard:
            self.write(f"🤖 {locales.t(self.sender.language_code or 'id', 'voice.listening')}")
            return await transcriber.listen(data, self.backend.media)

        return Audio(load=load)

    async def send(self, event: Event) -> None:
        incoming = await prepared(Incoming(self.sender, event))  # a photo is stored first
        async with self.backend.unit() as services:
            outcome = await handle(incoming, services)
        self.show(outcome.replies, outcome.language)

    def show(self, replies: list[Reply], language: str) -> None:
        for reply in replies:
            if isinstance(reply, Notice):
                self.write(f"  ({locales.t(language, reply.text.key, reply.text.params)})")
                continue
            if isinstance(reply, Photos):
                for sha in reply.hashes:
                    self.write(f"   [foto: {self.backend.media.path_of(sha)}]")
                continue
            if isinstance(reply, Document):
                self.write(f"   [berkas: {self._keep(reply)}]")
                continue
            assert isinstance(reply, Say)
            self.write("")
            for line in text_of(language, reply).splitlines():
                self.write(f"🤖 {line}")
            if reply.buttons:
                self.buttons = [b.payload for row in reply.buttons for b in row]
                labels = [label(language, b.label) for row in reply.buttons for b in row]
                for number, text in enumerate(labels, 1):
                    self.write(f"   [{number}] {text}")
            elif reply.request_location is not None:
                self.buttons = []
                skip = label(language, reply.skip) if reply.skip else ""
                self.write(f"   [:lokasi LAT LON] {label(language, reply.request_location)}")
                if skip:
                    self.write(f"   [{skip}]")


    def _keep(self, document: Document) -> Path:
        """A file sent to the person lands beside the media folder, as a download would."""
        folder = self.backend.settings.media_dir.parent
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / Path(document.filename).name
        path.write_bytes(document.data)
        return path


async def run_terminal_chat(
    settings: Settings,
    language: str = "id",
    read: Callable[[], str] = input,
    write: Callable[[str], None] = print,
) -> None:
    backend = Backend(settings)
    await backend.start()
    chat = TerminalChat(backend, language, write)
    write(f"musrenbot, region {settings.region}. {HELP}")
    try:
        await chat.send(Command("start"))
        while True:
            try:
                line = await asyncio.to_thread(read)
            except EOFError:
                break
            if line.strip() in {":keluar", ":quit", ":exit"}:
                break
            event = chat.parse(line)
            if event is not None:
                await chat.send(event)
    finally:
        await backend.close()
