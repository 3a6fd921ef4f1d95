"""The auditors' timeline and replay of a cross-city batch (PS-7, AU-1): every event kind has its Chinese
label, and the batch's own process replays like any case."""

from __future__ import annotations

from typing import Any

from engine.audit import KIND_NAMES
from engine.context import Actor
from engine.services.cross_city import gather_requests
from engine.services.instances import complete_task
from tests.engine.cross_city_factory import open_task
from tests.engine.cross_city_factory import raise_request
from tests.engine.recheck_factory import as_user
from tests.engine.recheck_factory import enrol
from tests.engine.recheck_factory import prepare
from tests.web.test_audit_pages import _html
from tests.web.test_login import login

#: the kinds the escalation, cross-city, re-verification and batch services append (grep append_event)
NEW_KINDS = ("escalation_step", "upper_items_dropped", "cross_city_gathered", "recheck_filed", "recheck_refused",
             "recheck_declined", "recheck_entrusted", "recheck_completed", "recheck_batch_created",
             "recheck_batch_paused", "recheck_batch_resumed", "recheck_batch_completed")


def test_every_escalation_and_recheck_event_kind_has_a_chinese_label() -> None:
    for kind in NEW_KINDS:
        assert kind in KIND_NAMES and not KIND_NAMES[kind].isascii(), kind


def _refused_batch(app: Any) -> tuple[int, int, str, str]:
    """A batch of one 朝阳区 request, refused at 市级审核: (batch instance id, county case id, batch, request)."""
    ctx = app.extensions["hedui"].new_context()
    prepare(ctx)
    [household] = enrol(ctx)
    request = raise_request(ctx, household).number
    [batch] = gather_requests(ctx, actor=Actor.system("job:cross_city_gather"))
    complete_task(ctx, open_task(ctx, batch, "city_review").id, {"refused": [f"{request} 线索不足"]},
                  actor=as_user(ctx, "cc_reviewer", "review_officer"))
    out = (batch.instance_id, household.instance_id, batch.number, request)
    ctx.session.commit()
    return out


def test_the_timeline_and_replay_of_a_cross_city_batch(app: Any, client: Any) -> None:
    batch_id, county_id, number, request = _refused_batch(app)
    assert login(client, "auditor").status_code == 302
    html = _html(client.get(f"/audit/cases/{batch_id}"))
    assert "核验结果：一致，未发现篡改" in html
    assert f"汇总跨地市核对请求为批次 {number}：{request}" in html and "<td>汇总跨地市核对请求</td>" in html
    assert "办结任务「市级审核」" in html
    replay = _html(client.get(f"/audit/cases/{batch_id}/replay?step=99"))
    assert "核验结果：一致，未发现篡改" in replay and "本步：办结任务「市级审核」" in replay
    county = _html(client.get(f"/audit/cases/{county_id}"))
    assert "<td>上级核对进展</td>" in county
    assert f"{request} 已撤销（CY-HDZX）：市级审核不同意：线索不足" in county
    assert f"{request} 市级审核中（CC-HDZX）：汇总入批次 {number}" in county
