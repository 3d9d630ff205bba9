"""Entrypoints of the fake service: an HTTP API and an event handler, as in the real services."""
