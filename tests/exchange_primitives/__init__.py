"""Tests of the database-free exchange building blocks in engine/exchange (signing, media, sender, registry)."""
