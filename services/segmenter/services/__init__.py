"""Segmenter use cases (ingest, customers, segments), wired once by `segmenter.bootstrap`
and called by thin routes and handlers."""
