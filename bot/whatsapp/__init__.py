"""The WhatsApp channel (Cloud API): webhook in, neutral events in, replies out."""
