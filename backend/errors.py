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
    """A photo that cannot be kept; `reason` is `not_image`, `too_large` (the file),
    `too_many_pixels` (the resolution) or `download_failed`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AudioRejected(DomainError):
    """A voice note that cannot be heard; `reason` is `not_audio`, `too_long` (the duration),
    `too_large` (the file), `download_failed` or `busy` (too many notes waiting)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Forbidden(DomainError):
    """The actor may not do this here: wrong role, or outside their wilayah or OPD."""


class Conflict(DomainError):
    """The action does not fit the current state: decided already, wrong stage, claimed."""


class Unauthenticated(DomainError):
    """No valid credentials were given."""


class TooManyAttempts(DomainError):
    """Refused before any work: this client (or account) tried too often lately.

    `retry_after` is in whole seconds, for a `Retry-After` header or "try again in N minutes".
    """

    def __init__(self, retry_after: int, message: str = "too many attempts") -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class Unavailable(Exception):
    """The database (or the disk under it) did not answer: nothing was stored.

    Not a DomainError: the request was fine and may be repeated as it is, so edges answer
    "try again" (HTTP 503, a webhook that Telegram redelivers), never "done" or "wrong".
    """
