"""Verification reports (核对报告; DO-7, DO-10, PR-3, RPT-01…RPT-06).

``content`` builds the immutable snapshot from the case, the exchange results and the policy;
``service`` issues, numbers, supersedes and lists reports and says whether one is expired;
``render`` lays a snapshot out as PDF; ``printing`` hands a watermarked copy to a person and
records it. The 复核报告 (DO-8) is the same snapshot with ``kind = reverification`` plus its
trigger and the differences from the original report.
"""
