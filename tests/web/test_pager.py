"""One pager macro (web/templates/macros/pager.html) for the numbered lists: 我的待办, 本单位任务, 审计查询, 核对报告.

The macro takes the current page, the page count and a callable giving a page's URL; each list passes a
macro of its own building the URL with its filters kept. (The access log's newer/older pager is another kind.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import render_template_string

WEB = Path(__file__).parents[2] / "web"
USERS = ("inbox/templates/inbox/index.html", "supervise/templates/supervise/index.html",
         "audit/templates/audit/index.html", "report_list/templates/report_list/index.html")


def _pager(app: Any, current: int, pages: int) -> str:
    with app.test_request_context():
        return render_template_string('{% import "macros/pager.html" as p %}{{ p.pager(current, pages, url) }}',
                                      current=current, pages=pages, url=lambda n: f"/list?q=a&page={n}")


def test_the_pager_links_previous_and_next_with_the_callers_urls(app) -> None:  # type: ignore[no-untyped-def]
    middle = _pager(app, 2, 3)
    assert middle == (
        '\n<nav class="pager" aria-label="分页">\n'
        '  <a href="/list?q=a&amp;page=1" rel="prev">上一页</a>\n'
        '  <span>第 2 / 3 页</span>\n'
        '  <a href="/list?q=a&amp;page=3" rel="next">下一页</a>\n'
        '</nav>\n')
    first, last = _pager(app, 1, 3), _pager(app, 3, 3)
    assert 'rel="prev"' not in first and 'href="/list?q=a&amp;page=2" rel="next"' in first
    assert 'rel="next"' not in last and 'href="/list?q=a&amp;page=2" rel="prev"' in last
    assert _pager(app, 1, 1).strip() == ""  # one page: no pager


def test_the_numbered_lists_use_the_macro_and_no_markup_of_their_own() -> None:
    for name in USERS:
        source = (WEB / name).read_text(encoding="utf-8")
        assert '{% import "macros/pager.html" as p %}' in source and "p.pager(" in source, name
        assert 'class="pager"' not in source, name
