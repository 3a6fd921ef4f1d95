"""Printable documents (授权书, 委托书) rendered as PDF, engine-side (no web imports).

The 核对报告 is in engine/reports/.
"""
