"""The exchange officers' page: prepare → confirm → export → upload answer → confirm import (SD-2, SD-3, DX-2)."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import select

from engine.exchange.batches import batch_lines
from engine.exchange.media import MediaKey
from engine.exchange.media import write_package
from engine.exchange.media_mode import agency_code
from engine.exchange.requests import collect_requests
from engine.exchange.simulate import DEMO_REGISTRY
from engine.exchange.simulate import answer_package
from engine.exchange.simulate import answer_records
from engine.exchange.system_mode import unit_key
from engine.models import Event
from engine.models.exchange import ExchangeBatch
from engine.models.exchange import ExchangeDelayNotice
from engine.models.exchange import ExchangeImport
from engine.models.exchange import ExchangeRequest
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


def _package_from(app: Any, batch_id: int, officer_name: str) -> bytes:
    """The unit's answer package, naming ``officer_name`` as the releasing officer."""
    ctx = app.extensions["hedui"].new_context()
    batch = ctx.session.get(ExchangeBatch, batch_id)
    key = unit_key(ctx, batch.unit)
    out = io.BytesIO()
    write_package(out, answer_records(DEMO_REGISTRY, batch.unit.code, batch_lines(ctx, batch)),
                  key=MediaKey(key.unit_code, key.key_id, key.secret), kind="result", batch_id=batch.batch_no,
                  sender_unit=batch.unit.code, receiver_unit=agency_code(batch), created_at=ctx.now(),
                  extra={"officer": officer_name})
    ctx.session.close()
    return out.getvalue()


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
    # the filed officers of both sides (SD-3), read-only
    assert 'data-officer="cc_bdc_officer"' in page and 'data-officer="cy_exchange_2"' in page and "共享单位" in page
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
    # a written delay notice names the unit-side officer who signed it (SD-3)
    request_id = session.execute(select(ExchangeRequest.id)).scalar_one()
    notice = {"request_id": str(request_id), "days": "2", "reason": "数据量大"}
    post(client, "/exchange/delays", dict(notice, officer="nobody_at_all", document=(io.BytesIO(b"%PDF"), "a.pdf")),
         content_type="multipart/form-data")
    assert "反馈注明的交换人员「nobody_at_all」不存在" in _flashes(client)
    assert session.execute(select(ExchangeDelayNotice)).first() is None
    post(client, "/exchange/delays", dict(notice, officer="cc_bdc_officer", document=(io.BytesIO(b"%PDF"), "a.pdf")),
         content_type="multipart/form-data")
    assert "已登记书面延期说明" in _flashes(client)
    assert session.execute(select(ExchangeDelayNotice.days)).scalar_one() == 2
    ctx = app.extensions["hedui"].new_context()
    answer = answer_package(ctx, ctx.session.get(ExchangeBatch, batch.id))
    ctx.session.close()
    unfiled = _package_from(app, batch.id, "cc_bank_officer")  # filed, but for the bank, not the land registry
    post(client, "/exchange/imports", {"package": (io.BytesIO(unfiled), "answer.hdpkg")},
         content_type="multipart/form-data")
    assert "不是「长春市不动产登记中心」备案的交换人员" in _flashes(client)
    assert session.execute(select(ExchangeImport)).first() is None
    refusals = session.execute(select(Event.payload).where(Event.kind == "exchange_answer_refused")
                               .order_by(Event.id)).scalars().all()
    # both refusals are kept although the actions were refused (the delay notice's, then the package's)
    assert [r["error"] for r in refusals] == ["unit_officer_unknown", "unit_officer_unregistered"]
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
