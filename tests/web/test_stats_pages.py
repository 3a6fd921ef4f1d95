"""统计分析 in the browser and ``GET /api/v1/stats`` (AN-1, AU-4, OR-3, SEC-12).

Figures come from tests/engine/stats_factory.py (cases in known states through the real services);
the engine tests check every figure, these check what people and clients see: the roles, the
jurisdiction, the tables, the CSV files, the JSON, the 422s and the record of every look.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.models import Event
from engine.services.org import get_unit_by_code
from engine.services.org import grant_role
from engine.services.users import create_user
from tests.engine.exchange_factory import SHANGHAI
from tests.engine.stats_factory import build
from tests.web.test_api_tasks import _token
from tests.web.test_login import assert_valid_html
from tests.web.test_login import login
from tests.web.test_login import logout
from web.stats.schemas import preset

DECEMBER = "period=custom&from=2026-12-01&to=2026-12-31"


#: where :func:`~tests.engine.stats_factory.build` leaves the clock (Monday 28 December 2026)
END = datetime(2026, 12, 28, 9, 0, tzinfo=SHANGHAI)


def seed(ctx: EngineContext) -> None:
    """The six cases, and a supervisor of the 南关区 agency (``ng_supervisor``): the module's ``SEED_ONCE``."""
    build(ctx, ctx.clock)
    assert ctx.now() == END
    admin = Actor("admin", "admin")
    user = create_user(ctx, "ng_supervisor", "南关区科长（测试）", "hedui-demo", actor=admin)
    grant_role(ctx, user, get_unit_by_code(ctx, "NG-HDZX"), "supervisor", actor=admin)


SEED_ONCE = seed


@pytest.fixture
def built(clock) -> None:  # type: ignore[no-untyped-def]
    """The test's clock where the seed left it (the cases are the module's seed)."""
    clock.set(END)


def _events(app, kind: str) -> list[Event]:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        return list(session.execute(select(Event).where(Event.kind == kind).order_by(Event.id)).scalars())


def _rows(html: str, table: str) -> str:
    start = html.index(f'data-table="{table}"')
    return html[start:html.index("</table>", start)]


def test_the_page_shows_the_tables_with_totals(app, client, built) -> None:  # type: ignore[no-untyped-def]
    login(client, "admin")
    home = client.get("/").get_data(as_text=True)
    assert 'href="/stats/"' in home and "统计分析" in home
    response = client.get("/stats/")  # this month: the clock is in December 2026
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert_valid_html(html)
    for title in ("各核对机构业务量", "按层级汇总", "各核对机构办理时效（考评）", "按业务类别", "按核对结果",
                  "各信息共享单位反馈情况"):
        assert title in html, title
    timeliness = _rows(html, "timeliness")
    assert '<td class="num">50.0%</td>' in timeliness and '<td class="num">6.0</td>' in timeliness
    assert "<tfoot>" in timeliness and '<th scope="row">合计</th>' in timeliness
    assert '<th scope="row">城乡低保</th>' in _rows(html, "business_types")
    assert '<td class="num">33.3%</td>' in _rows(html, "outcomes")
    sharing = _rows(html, "sharing_units")
    assert "国家税务总局长春市税务局" in sharing and "长春市公安局" in sharing
    assert "测试" not in html  # no names of the (synthetic) people anywhere
    # the export names the period shown, as dates (an export after midnight on the 1st still matches)
    assert 'href="/stats/export/volumes.csv?period=custom&amp;from=2026-12-01&amp;to=2026-12-31"' in html
    [viewed] = _events(app, "stats_viewed")
    assert viewed.actor == "admin" and viewed.payload["period"] == {"from": "2026-12-01", "to": "2026-12-31"}


def test_an_empty_period_says_so(app, client, built) -> None:  # type: ignore[no-untyped-def]
    login(client, "admin")
    html = client.get("/stats/?period=custom&from=2026-11-01&to=2026-11-30").get_data(as_text=True)
    assert_valid_html(html)
    assert "本期间内没有符合条件的数据。" in html and 'data-table="volumes"' not in html


def test_invalid_filters_are_shown_at_the_field_and_kept(app, client, built) -> None:  # type: ignore[no-untyped-def]
    login(client, "admin")
    response = client.get("/stats/?period=custom&from=2026-12-31&to=2026-12-01&business_type=dibao")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert_valid_html(html)
    assert 'id="f-to-error">结束日期不能早于开始日期' in html
    assert 'value="2026-12-31"' in html and '<option value="dibao" selected>' in html
    response = client.get("/stats/?period=custom&from=2026-13-01&utm=x")
    assert response.status_code == 422 and 'id="f-from-error">请输入有效日期' in response.get_data(as_text=True)
    response = client.get("/stats/?period=custom&from=2026-12-01")
    assert response.status_code == 422
    assert 'id="f-to-error">自定义期间须填写开始日期和结束日期' in response.get_data(as_text=True)
    assert _events(app, "stats_viewed") == []


def test_jurisdiction(app, client, built) -> None:  # type: ignore[no-untyped-def]
    """OR-3: the 南关区 supervisor sees 南关区 only and cannot ask for 朝阳区."""
    login(client, "ng_supervisor")
    html = client.get(f"/stats/?{DECEMBER}").get_data(as_text=True)
    volumes = _rows(html, "volumes")
    assert "南关区社会救助家庭经济状况核对中心" in volumes and "朝阳区" not in volumes
    assert "朝阳区" not in html.split('name="region"')[1].split("</select>")[0]  # not offered either
    response = client.get(f"/stats/?{DECEMBER}&region=220104")
    assert response.status_code == 422 and "所选地区不在您的管辖范围内" in response.get_data(as_text=True)
    logout(client)
    login(client, "cy_supervisor")
    volumes = _rows(client.get(f"/stats/?{DECEMBER}").get_data(as_text=True), "volumes")
    assert "朝阳区社会救助家庭经济状况核对中心" in volumes and "南关区" not in volumes


def test_other_roles_are_refused(app, client, built) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    assert 'href="/stats/"' not in client.get("/").get_data(as_text=True)
    response = client.get("/stats/", headers={"Accept": "text/html"})
    assert response.status_code == 403 and "统计分析" in response.get_data(as_text=True)
    assert client.get("/stats/export/volumes.csv").status_code == 403
    response = client.get("/api/v1/stats", headers=_token(client, "cy_intake"))
    assert response.status_code == 403 and response.json["error"] == "stats_role_required"


def test_csv_exports_with_bom_and_period_in_the_name(app, client, built) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_supervisor")
    response = client.get(f"/stats/export/timeliness.csv?{DECEMBER}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.startswith("\ufeff".encode())
    disposition = response.headers["Content-Disposition"]
    assert "attachment" in disposition and "2026-12-01_2026-12-31.csv" in disposition
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["核对机构", "所在地区", "核对完成", "按时办结"]
    assert rows[1][:6] == ["朝阳区社会救助家庭经济状况核对中心", "朝阳区", "2", "1", "1", "50.0%"]
    assert rows[-1][0] == "合计" and len(rows) == 3
    sharing = list(csv.reader(io.StringIO(client.get(f"/stats/export/sharing_units.csv?{DECEMBER}")
                                          .data.decode("utf-8-sig"))))
    assert sharing[-1][:8] == ["合计", "3", "3", "2", "2", "100.0%", "1", "1"]
    assert client.get(f"/stats/export/people.csv?{DECEMBER}").status_code == 404
    assert [e.payload["table"] for e in _events(app, "stats_exported")] == ["timeliness", "sharing_units"]


def test_api_answers_json_and_422(app, client, built) -> None:  # type: ignore[no-untyped-def]
    headers = _token(client, "auditor")
    response = client.get(f"/api/v1/stats?{DECEMBER}&business_type=tekun", headers=headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.json
    assert body["period"] == {"from": "2026-12-01", "to": "2026-12-31"}
    assert body["total"]["received"] == 2 and body["total"]["late"] == 1
    assert [row["key"] for row in body["business_types"]] == ["tekun"]
    bad = client.get("/api/v1/stats?period=custom&from=2026-12-31&to=2026-12-01&business_type=nope", headers=headers)
    assert bad.status_code == 422 and bad.json["error"] == "validation_error"
    assert set(bad.json["details"]["fields"]) == {"business_type"}
    bad = client.get("/api/v1/stats?period=custom&from=2026-12-31&to=2026-12-01", headers=headers)
    assert bad.status_code == 422 and bad.json["details"]["fields"] == {"to": ["结束日期不能早于开始日期"]}
    assert [e.payload["via"] for e in _events(app, "stats_viewed")] == ["api"]
    assert client.get("/api/v1/stats").status_code == 401


def test_openapi_lists_the_stats_operation(client) -> None:  # type: ignore[no-untyped-def]
    doc = client.get("/api/v1/openapi.json").json
    operation = doc["paths"]["/stats"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"period", "from", "to", "region", "agency", "business_type"}
    assert "422" in operation["responses"]


def test_the_access_log_names_statistics_readings(app, client, built) -> None:  # type: ignore[no-untyped-def]
    login(client, "admin")
    client.get(f"/stats/?{DECEMBER}")
    logout(client)
    login(client, "auditor")
    html = client.get("/audit/access").get_data(as_text=True)
    assert "查阅统计分析" in html


@pytest.mark.parametrize(("period", "first", "last"), [
    ("month", date(2026, 2, 1), date(2026, 2, 28)), ("quarter", date(2026, 1, 1), date(2026, 3, 31)),
    ("year", date(2026, 1, 1), date(2026, 12, 31))])
def test_period_presets_are_whole_periods(period: str, first: date, last: date) -> None:
    assert preset(period, date(2026, 2, 14)) == (first, last)
    assert preset("quarter", date(2026, 12, 31)) == (date(2026, 10, 1), date(2026, 12, 31))
