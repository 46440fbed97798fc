"""Benchmark of the Sheets ⇄ Trello sync service (``python bench/run.py``; see bench/README.md)."""
