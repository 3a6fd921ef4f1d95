"""Printable documents (授权书, 委托书, later the 核对报告) rendered as PDF, engine-side (no web imports)."""
