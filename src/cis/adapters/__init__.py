"""Adapters: the ports made real (AWS, in-memory, local files and SQLite)."""
