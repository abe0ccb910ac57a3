"""Local stand-in for the WhatsApp Cloud API used by tests and benchmarks."""

from tests.whatsapp.server import Call, CloudApiStandIn, FakeClock, Media, MetaError, WebhookPost

__all__ = ["Call", "CloudApiStandIn", "FakeClock", "Media", "MetaError", "WebhookPost"]
