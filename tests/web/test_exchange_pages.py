"""The exchange officers' page: prepare → confirm → export → upload answer → confirm import (SD-2, DX-2)."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import select

from engine.exchange.requests import collect_requests
from engine.exchange.simulate import answer_package
from engine.models.exchange import ExchangeBatch
from engine.models.exchange import ExchangeImport
from tests.engine.exchange_factory import IN_WINDOW
from tests.engine.exchange_factory import case_in_exchange
from tests.engine.exchange_factory import case_no
from tests.engine.exchange_factory import setup_exchange
from tests.web.test_intake import post
from tests.web.test_login import assert_valid_html
from tests.web.test_login import login
from tests.web.test_login import logout


def _seed(app: Any, clock: Any) -> str:
    ctx = app.extensions["hedui"].new_context()
    setup_exchange(ctx, clock)
    number = case_no(ctx, case_in_exchange(ctx, ["CC-BDC"]))
    clock.set(IN_WINDOW)
    collect_requests(ctx)  # what the exchange sweep (ticker / beat) does
    ctx.session.commit()
    return number


def _as(client: Any, username: str) -> None:
    if client.get("/").status_code == 200:
        logout(client)
    assert login(client, username).status_code == 302


def _flashes(client: Any) -> str:
    return client.get("/exchange/").get_data(as_text=True)


def test_media_exchange_through_the_pages(app: Any, client: Any, clock: Any) -> None:
    number = _seed(app, clock)
    _as(client, "cy_intake")
    assert client.get("/exchange/").status_code == 403
    _as(client, "cy_exchange_1")
    page = client.get("/exchange/").get_data(as_text=True)
    assert_valid_html(page)
    assert "长春市不动产登记中心" in page and 'href="/exchange/"' in page
    assert post(client, "/exchange/batches", {"unit": "CC-BDC"}).status_code == 302
    session = app.extensions["hedui"].new_context().session
    batch = session.execute(select(ExchangeBatch)).scalar_one()
    post(client, f"/exchange/batches/{batch.id}/confirm", {})
    assert "须由另一名交换人员确认" in _flashes(client)
    _as(client, "cy_exchange_2")
    post(client, f"/exchange/batches/{batch.id}/confirm", {})
    download = post(client, f"/exchange/batches/{batch.id}/export", {})
    assert download.status_code == 200 and download.data.startswith(b"HEDUIPKG")
    assert batch.batch_no in download.headers["Content-Disposition"]
    ctx = app.extensions["hedui"].new_context()
    answer = answer_package(ctx, ctx.session.get(ExchangeBatch, batch.id))
    ctx.session.close()
    tampered = answer[:-5] + bytes([answer[-5] ^ 1]) + answer[-4:]
    post(client, "/exchange/imports", {"package": (io.BytesIO(tampered), "answer.hdpkg")},
         content_type="multipart/form-data")
    assert "已拒绝导入" in _flashes(client)
    assert session.execute(select(ExchangeImport)).first() is None
    post(client, "/exchange/imports", {"package": (io.BytesIO(answer), "answer.hdpkg")},
         content_type="multipart/form-data")
    assert "另一名交换人员确认" in _flashes(client)
    staged = app.extensions["hedui"].new_context().session.execute(select(ExchangeImport)).scalar_one()
    _as(client, "cy_exchange_1")
    post(client, f"/exchange/imports/{staged.id}/confirm", {})
    assert "已确认导入" in _flashes(client)
    case_page = client.get(f"/cases/{number}").get_data(as_text=True)
    assert "数据交换结果" in case_page and "不动产登记" in case_page
    assert "未反馈" not in case_page and ("有数据" in case_page or "无记录" in case_page)
