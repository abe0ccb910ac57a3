"""WhatsApp's rendering of neutral replies within Meta's limits, and commands typed as words."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.whatsapp.limits import WHATSAPP
from bot.whatsapp.render import OutButtons, OutList, OutLocationRequest, OutText, render, shorten
from bot.whatsapp.translate import command_of
from handlers.events import Button, Command, Msg, Notice, Say

NO_MEDIA = Path("/nonexistent").joinpath


def choices(n: int, label: str = "Pilihan") -> Say:
    buttons = tuple((Button(f"{label} {i}", f"c:{i}"),) for i in range(n))
    return Say(parts=(Msg("intake.ask_category"),), buttons=buttons)


def test_up_to_three_short_choices_are_reply_buttons() -> None:
    (out,) = render([choices(3)], "id", NO_MEDIA)
    assert isinstance(out, OutButtons) and [i for i, _ in out.buttons] == ["c:0", "c:1", "c:2"]


@pytest.mark.parametrize("n", [4, 10])
def test_four_to_ten_choices_are_one_list(n: int) -> None:
    (out,) = render([choices(n)], "id", NO_MEDIA)
    assert isinstance(out, OutList) and len(out.rows) == n and out.button == "Pilih"


def test_more_than_ten_choices_page_on_and_every_choice_is_reachable() -> None:
    seen: list[str] = []
    page = 0
    while True:
        (out,) = render([choices(23)], "id", NO_MEDIA, page=page)
        assert isinstance(out, OutList) and len(out.rows) <= WHATSAPP.list_rows
        seen += [i for i, _, _ in out.rows if not i.startswith("more:")]
        more = [i for i, _, _ in out.rows if i.startswith("more:")]
        if not more:
            break
        assert out.rows[-1][1] == "Lainnya"
        page = int(more[0].removeprefix("more:"))
    assert seen == [f"c:{i}" for i in range(23)]
    # A page past the end (a stale "Lainnya") shows the first page again.
    (out,) = render([choices(23)], "id", NO_MEDIA, page=7)
    assert isinstance(out, OutList) and out.rows[0][0] == "c:0"


def test_long_titles_are_cut_on_a_word_with_the_whole_text_kept() -> None:
    name = "Kelurahan Sei Sikambing C II (Kec. Medan Helvetia)"
    (out,) = render([Say(parts=(Msg("intake.desa_pick"),), buttons=((Button(name, "desa:1"),),))],
                    "id", NO_MEDIA)  # fmt: skip
    assert isinstance(out, OutList)  # a button's title would lose too much
    (row,) = out.rows
    assert row[1] == "Kelurahan Sei Sikambing…" and len(row[1]) <= WHATSAPP.row_title
    assert row[2] == name
    very_long = "Desa " + "Sangat Panjang " * 8
    (out,) = render([choices(1, very_long)], "id", NO_MEDIA)
    assert isinstance(out, OutList)
    assert len(out.rows[0][2] or "") <= WHATSAPP.row_description
    assert " ".join(very_long.split()) in out.body  # the whole name, in the body


def test_shorten_never_passes_the_limit() -> None:
    for limit in (20, 24, 72):
        for text in ("a" * 100, "kata " * 30, "x", "🛣️ Jalan & jembatan lingkungan"):
            assert len(shorten(text, limit)) <= limit


def test_a_long_text_is_split_and_an_interactive_body_stays_within_1024() -> None:
    long = "Baris panjang sekali. " * 300  # about 6,600 characters
    say = Say(parts=(Msg("web.start_track"),), buttons=((Button("Ya", "y"),),))
    out = render([say], "id", NO_MEDIA)
    assert all(len(o.body) <= WHATSAPP.text for o in out if isinstance(o, OutText))
    plain = render([Say(parts=(Msg(long),))], "id", NO_MEDIA)
    assert len(plain) == 2 and all(len(o.body) <= WHATSAPP.text for o in plain)  # type: ignore[union-attr]


def test_a_location_request_comes_with_a_skip_button_and_a_notice_is_dropped() -> None:
    say = Say(parts=(Msg("intake.ask_location"),), request_location=Msg("button.share_location"),
              skip=Msg("button.skip"))  # fmt: skip
    out = render([say, Notice(Msg("common.stale_button"))], "id", NO_MEDIA)
    assert [type(o) for o in out] == [OutLocationRequest, OutButtons]
    assert out[1].buttons == (("typed:Lewati", "Lewati"),)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("status K7QM-4RXT", Command("status", "K7QM-4RXT")),
        ("Status k7qm 4rxt", Command("status", "k7qm 4rxt")),
        ("dukung K7QM-4RXT", Command("dukung", "K7QM-4RXT")),
        ("batal", Command("batal")),
        ("Bantuan", Command("bantuan")),
        ("mulai", Command("mulai")),
        ("/status K7QM-4RXT", Command("status", "K7QM-4RXT")),
        ("bantuan sosial untuk lansia", None),
        ("desa kami butuh jalan", None),
        ("status jalan rusak", None),
        ("jalan rusak", None),
    ],
)
def test_commands_are_words_only_when_they_look_like_commands(
    typed: str, command: Command | None
) -> None:
    assert command_of(typed) == command
