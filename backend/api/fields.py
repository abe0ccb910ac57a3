"""Pydantic fields built from the one table of limits (backend.domain.LIMITS).

The API states in its OpenAPI document what the database can hold, and refuses the rest
with 422 before a service runs: text is text (no numbers or objects in disguise), no longer
than its column, without control characters; numbers are finite and in range.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from backend.domain import number_limit, text_limit

# No control characters but tab and line breaks: PostgreSQL refuses NUL in text, and the rest
# only garble pages and exports. Stated as a pattern, so the OpenAPI document says it too.
PRINTABLE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def limited(name: str, default: Any = ..., **extra: Any) -> Any:
    """A strict text field with the length limit of `name` in the limits table."""
    limit = text_limit(name)
    return Field(default, strict=True, min_length=limit.min_chars or None,
                 max_length=limit.max_chars, pattern=PRINTABLE, **extra)  # fmt: skip


def bounded(name: str, default: Any = ..., **extra: Any) -> Any:
    """A strict number field (no strings or booleans) with the range of `name`."""
    limit = number_limit(name)
    if limit.scale:
        extra["allow_inf_nan"] = False
        return Field(default, strict=True, ge=float(limit.low), le=float(limit.high), **extra)
    return Field(default, strict=True, ge=int(limit.low), le=int(limit.high), **extra)
