"""Rendering: tables and figures from results DataFrames. Never imports torch."""
