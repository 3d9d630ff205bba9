"""Feedback use cases (surveys, restock), called by thin routes and event handlers."""
