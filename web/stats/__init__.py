"""统计分析 pages: aggregate statistics and performance assessment (AN-1, AU-4)."""
