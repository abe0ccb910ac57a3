"""Domain errors. They know nothing of HTTP or Telegram; each edge maps them once."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every expected business failure."""


class NotFound(DomainError):
    pass


class InvalidInput(DomainError):
    """Input that a person can correct; `field` names what to correct."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class PhotoRejected(DomainError):
    """A photo that cannot be kept; `reason` is `not_image` or `too_large`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Forbidden(DomainError):
    """The actor may not do this here: wrong role, or outside their wilayah or OPD."""


class Conflict(DomainError):
    """The action does not fit the current state: decided already, wrong stage, claimed."""


class Unauthenticated(DomainError):
    """No valid credentials were given."""
