"""Local stand-in for the Telegram Bot API used by tests and benchmarks."""

from tests.standin.server import BotApiStandIn, Call, Upload

__all__ = ["BotApiStandIn", "Call", "Upload"]
