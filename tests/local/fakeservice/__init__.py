"""A tiny stand-in service, wired by tests/local/template.yaml like the real ones."""
