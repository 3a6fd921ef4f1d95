"""Statistics and performance assessment (AN-1, AU-4): aggregate figures in SQL, never per case in Python.

:func:`engine.stats.report.compute` answers one :class:`~engine.stats.scope.StatsQuery` with every
table the statistics page, its CSV exports and ``GET /api/v1/stats`` show. The number of SQL
statements is fixed (one per table), whatever the number of cases.
"""

from __future__ import annotations
