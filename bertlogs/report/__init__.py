"""Rendering a Summary: terminal table, CSV, JSON, Markdown, HTML page, per-run plots."""
