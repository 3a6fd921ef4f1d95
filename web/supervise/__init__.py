"""本单位任务: a supervisor's open tasks of their units, reassign and release."""
