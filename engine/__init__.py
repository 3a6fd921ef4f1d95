"""Hedui engine: models, SpiffWorkflow runtime, persistence and domain services.

Imports ``forms`` but never ``web`` or Flask.
"""
