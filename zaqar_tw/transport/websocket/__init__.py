"""The WebSocket transport of API v2 (spec section 2): one request per message, JSON in text
messages and MessagePack in binary ones, every action answered in the same envelope."""
