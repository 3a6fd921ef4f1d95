"""Audit: the auditors' pages (case list with verification, timeline, step-by-step replay, access log)."""
