"""Who is asking, and over what (backend/api/proxies.py): X-Forwarded-For and -Proto are
believed only from a configured proxy, so nobody can pass as another client (and slip past the
per-client limits) or as HTTPS by writing a header."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from backend.api.proxies import client_address, is_https

PROXIES = ["10.0.0.0/8", "192.0.2.1", "2001:db8::/32"]


def request(peer: str | None, scheme: str = "http", **headers: str) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": scheme,
        "path": "/",
        "query_string": b"",
        "server": ("test", 80),
        "client": (peer, 40000) if peer else None,
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope)


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # not a proxy: its header is ignored
        ("10.1.2.3", "198.51.100.1", "198.51.100.1"),  # a proxy in a trusted network
        ("192.0.2.1", "198.51.100.1", "198.51.100.1"),  # a single trusted address
        ("2001:db8::5", "198.51.100.1", "198.51.100.1"),  # an IPv6 proxy
        # A chain: the nearest hop that is not ours is the client; what it wrote is not.
        ("10.1.2.3", "6.6.6.6, 198.51.100.1, 10.9.9.9", "198.51.100.1"),
        ("10.1.2.3", "198.51.100.1,10.9.9.9", "198.51.100.1"),
        ("10.1.2.3", "10.9.9.9, 10.8.8.8", "10.1.2.3"),  # only our own proxies: the peer
        ("10.1.2.3", "", "10.1.2.3"),  # a proxy that named nobody
        ("10.1.2.3", " , ,", "10.1.2.3"),
        ("10.1.2.3", "not-an-address", "not-an-address"),  # garbage counts as one client
        ("10.1.2.3", "x" * 500, "x" * 64),  # ... and is cut to a sane length
        ("192.0.2.2", "198.51.100.1", "192.0.2.2"),  # next door to the trusted address
    ],
)
def test_the_client_address_is_believed_only_from_trusted_proxies(
    peer: str, forwarded_for: str, expected: str
) -> None:
    assert client_address(request(peer, x_forwarded_for=forwarded_for), PROXIES) == expected


def test_no_trusted_proxies_means_the_peer_and_no_peer_means_unknown() -> None:
    assert client_address(request("10.1.2.3", x_forwarded_for="198.51.100.1"), []) == "10.1.2.3"
    assert client_address(request(None, x_forwarded_for="198.51.100.1"), PROXIES) == "unknown"
    garbage = ["not-a-network", "10.0.0.0/99", ""]  # bad settings entries are skipped
    assert client_address(request("10.1.2.3", x_forwarded_for="1.2.3.4"), garbage) == "10.1.2.3"
    assert (
        client_address(request("10.1.2.3", x_forwarded_for="1.2.3.4"), [*garbage, "10.0.0.0/8"])
        == "1.2.3.4"
    )


@pytest.mark.parametrize(
    ("peer", "scheme", "forwarded_proto", "expected"),
    [
        ("203.0.113.9", "http", "https", False),  # forged by a stranger
        ("10.1.2.3", "http", "https", True),  # told by our proxy
        ("10.1.2.3", "http", "HTTPS", True),
        ("10.1.2.3", "http", "https, http", True),  # the first hop's scheme counts
        ("10.1.2.3", "https", "http", False),  # the proxy says its client used plain http
        ("10.1.2.3", "http", "", False),
        ("10.1.2.3", "http", "gopher", False),
        ("10.1.2.3", "https", "", True),  # no header: the connection itself
        ("203.0.113.9", "https", "http", True),  # a stranger cannot downgrade it either
        ("not-an-ip", "http", "https", False),  # a peer that is no address is no proxy
    ],
)
def test_https_is_believed_only_from_trusted_proxies(
    peer: str, scheme: str, forwarded_proto: str, expected: bool
) -> None:
    headers = {"x_forwarded_proto": forwarded_proto} if forwarded_proto else {}
    assert is_https(request(peer, scheme, **headers), PROXIES) is expected
