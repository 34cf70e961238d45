"""Persistence: tables, engine and repository functions (they flush, never commit)."""
