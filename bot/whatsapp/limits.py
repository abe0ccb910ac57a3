"""What WhatsApp allows in one message: data the renderer reads, not branches in conversations.

Figures from Meta's Cloud API documentation (messages beyond them are refused, mostly with
error 131009).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    text: int = 4096  # a text message's body
    interactive_body: int = 1024  # the body of a button, list or location request message
    caption: int = 1024
    reply_buttons: int = 3
    button_title: int = 20
    button_id: int = 256
    list_rows: int = 10
    row_title: int = 24
    row_description: int = 72
    row_id: int = 200
    list_button: int = 20  # the text of the button that opens a list
    section_title: int = 24


WHATSAPP = Limits()
