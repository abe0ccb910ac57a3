"""The Telegram channel: translates Bot API updates to neutral events and replies back."""
