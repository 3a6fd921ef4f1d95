"""The statistics tables as people read them: Chinese headings, formatted cells, a totals row.

One definition serves the page and the CSV exports, so both always show the same figures.
Percentages have one decimal; "—" means there is nothing to divide (no finished case, no answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.stats.cases import Counts
from engine.stats.report import Group
from engine.stats.report import StatsReport
from engine.stats.report import derived
from engine.stats.report import rate
from engine.stats.report import sharing_derived

VOLUMES = [("received", "受理案件"), ("completed", "核对完成"), ("terminated", "终止核对"),
           ("returned", "退回委托单位"), ("in_progress", "办理中"), ("cancelled", "已撤销"), ("rechecks", "其中：复核"),
           ("from_lower", "其中：下级机构委托"), ("escalated", "上报上级核对"), ("cross_city", "其中：跨地市"),
           ("spending", "开展支出调查")]
TIMELINESS = [("completed", "核对完成"), ("on_time", "按时办结"), ("late", "逾期办结"), ("on_time_rate", "按时办结率"),
              ("overdue_open", "当前逾期未办结"), ("step_late", "步骤超时"),
              ("average_work_days", "平均办结用时（工作日）"), ("median_work_days", "办结用时中位数（工作日）")]
BY_TYPE = [("received", "受理案件"), ("completed", "核对完成"), ("terminated", "终止核对"),
           ("returned", "退回委托单位"), ("in_progress", "办理中"), ("cancelled", "已撤销"), ("late", "逾期办结"),
           ("overdue_open", "当前逾期未办结")]
SHARING = [("requests", "请求"), ("sent", "已发送"), ("answered", "已反馈"), ("answered_in_time", "按时反馈"),
           ("in_time_rate", "按时反馈率"), ("delay_notices", "书面延期说明"), ("overdue", "超期未反馈"),
           ("waiting", "等待反馈"), ("average_answer_work_days", "平均反馈用时（工作日）")]
RATES = {"on_time_rate", "in_time_rate", "share"}
DAYS = {"average_work_days", "median_work_days", "average_answer_work_days"}


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    #: what the figures mean (shown under the title; not exported)
    note: str
    headers: list[str]
    #: how many leading columns are labels (left-aligned); the rest are numbers
    labels: int
    rows: list[list[str]]
    total: list[str]


def cell(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if name in RATES:
        return f"{value:.1f}%"
    if name in DAYS:
        return f"{value:.1f}"
    return str(value)


def _values(counts: Counts) -> dict[str, Any]:
    return {**counts.values, **derived(counts)}


def _case_table(key: str, title: str, note: str, columns: list[tuple[str, str]], groups: list[Group],
                total: Counts, *, label: str, region: bool = False) -> Table:
    def row(g: Group) -> list[str]:
        values = _values(g.counts)
        return [g.name, *([g.region or "—"] if region else []), *[cell(n, values[n]) for n, _ in columns]]

    totals = _values(total)
    return Table(key, title, note, [label, *(["所在地区"] if region else []), *[h for _, h in columns]],
                 2 if region else 1, [row(g) for g in groups],
                 ["合计", *([""] if region else []), *[cell(n, totals[n]) for n, _ in columns]])


def tables(report: StatsReport) -> list[Table]:
    """Every table of the page, in page order."""
    total = report.total
    received = total.values["received"]
    sharing_total = {**report.sharing_total, **sharing_derived(report.sharing_total)}
    return [
        _case_table("volumes", "各核对机构业务量",
                    "按受理日期统计的案件及其当前状态（AU-4）；开展支出调查：核对机构对其开展了支出调查的案件（DO-9）。",
                    VOLUMES, report.agencies, total, label="核对机构", region=True),
        _case_table("levels", "按层级汇总", "省、市、县各级核对机构的业务量合计。", VOLUMES, report.levels, total,
                    label="层级"),
        _case_table("timeliness", "各核对机构办理时效（考评）",
                    "按时办结：在法定核对期限（县级 10 个、委托上级及复核 15 个工作日）内出具核对报告；"
                    "当前逾期未办结：办理中且已过核对期限；步骤超时：另行统计已出具报告、但有环节晚于该环节办理时限办结的案件。"
                    "用时按工作日历计算，自受理次日起至出具报告之日（PS-10，PR-5，AU-4）。",
                    TIMELINESS, report.agencies, total, label="核对机构", region=True),
        _case_table("business_types", "按业务类别", "按委托核对的救助业务类别统计（AN-1）。", BY_TYPE,
                    report.business_types, total, label="业务类别"),
        Table("outcomes", "按核对结果", "案件当前所处的结果状态。", ["核对结果", "案件数", "占比"], 1,
              [[name, str(count), cell("share", rate(count, received))] for _, name, count in report.outcomes],
              ["合计", str(received), cell("share", rate(received, received))]),
        Table("sharing_units", "各信息共享单位反馈情况",
              "按时反馈：在反馈时限内答复，时限含经书面说明延长的工作日（PS-10，DX-5）。", ["信息共享单位",
              *[h for _, h in SHARING]], 1,
              [[row.unit_name, *[cell(n, {**row.values, **sharing_derived(row.values)}[n]) for n, _ in SHARING]]
               for row in report.sharing],
              ["合计", *[cell(n, sharing_total[n]) for n, _ in SHARING]]),
    ]


TABLE_KEYS = ("volumes", "levels", "timeliness", "business_types", "outcomes", "sharing_units")
