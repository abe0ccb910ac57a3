"""Who is asking, and over what: the client's address and scheme behind trusted proxies.

`X-Forwarded-For` and `X-Forwarded-Proto` are believed only when the request came straight
from one of `MUSRENBOT_TRUSTED_PROXIES`; anyone else could write them to pass as another
client (and so slip past per-client limits) or to fake HTTPS.
"""

from __future__ import annotations

from ipaddress import ip_address, ip_network

from starlette.requests import HTTPConnection


def _trusted(peer: str | None, proxies: list[str]) -> bool:
    if not peer or not proxies:
        return False
    try:
        address = ip_address(peer)
    except ValueError:
        return False
    for entry in proxies:
        try:
            if address in ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_address(request: HTTPConnection, proxies: list[str]) -> str:
    """The address limits are counted by: the peer, or the nearest untrusted hop it names."""
    peer = request.client.host if request.client else None
    if _trusted(peer, proxies):
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
        # Walk back from the hop nearest to us; the first address that is not one of our
        # own proxies is the client.
        for hop in reversed([h for h in hops if h]):
            if not _trusted(hop, proxies):
                return hop[:64]
    return peer or "unknown"


def is_https(request: HTTPConnection, proxies: list[str]) -> bool:
    """Did the request reach us over HTTPS (directly, or through a trusted proxy)?"""
    peer = request.client.host if request.client else None
    if _trusted(peer, proxies):
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        if forwarded:
            return forwarded == "https"
    return request.url.scheme == "https"
