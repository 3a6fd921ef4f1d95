"""Archive collectors for the data exchange and the reports of a case (AR-1: 一户一次一档).

* ``exchange_records``: one JSON item with every exchange request of the case (unit, batch, times,
  time limit, delay notice) and every result per person × category (status, records as returned,
  normalised items). Persons appear by position and name only: the ID numbers are on the archived
  授权书 already, so this item carries no more personal data than the exchange needs to be traced.
* ``report_pdfs``: every issued report of the case (superseded ones too) rendered from its stored
  snapshot at sealing time, with the snapshot's SHA-256 as business id, and the snapshot itself.
* ``recheck_documents``: in the verification case of an individual recheck, the 复核表 and the
  复核委托书 (DO-8) rendered at sealing time (re-verification records, AR-1).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from engine.archives.kinds import ItemDraft
from engine.archives.kinds import collector
from engine.archives.kinds import register_kind
from engine.context import EngineContext
from engine.documents import pdf
from engine.documents.render import recheck_entrustment_pdf
from engine.documents.render import recheck_form_pdf
from engine.models import Unit
from engine.models.case import Household
from engine.models.exchange import ExchangeBatch
from engine.models.exchange import ExchangeDelayNotice
from engine.models.exchange import ExchangeRequest
from engine.models.exchange import ExchangeResult
from engine.models.recheck import Recheck
from engine.models.report import Report
from engine.reports.content import KIND_NAMES
from engine.reports.render import report_pdf

EXCHANGE_RECORDS = register_kind("exchange_records", "数据交换请求与反馈记录", "exchange")
REPORT_PDF = register_kind("report_pdf", "核对报告（PDF）", "report")
REPORT_SNAPSHOT = register_kind("report_snapshot", "核对报告内容（JSON，含摘要值）", "report")
RECHECK_FORM_PDF = register_kind("recheck_form_pdf", "复核表（归档生成）", "review")
RECHECK_ENTRUSTMENT_PDF = register_kind("recheck_entrustment_pdf", "复核委托书（归档生成）", "review")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@collector(40)
def exchange_records(ctx: EngineContext, household: Household, stamp: pdf.Stamp) -> list[ItemDraft]:
    requests = ctx.session.execute(select(ExchangeRequest).where(ExchangeRequest.instance_id == household.instance_id)
                                   .order_by(ExchangeRequest.id)).scalars().all()
    if not requests:
        return []
    positions = {p.id: (p.position, p.name) for p in household.persons}
    ids = [r.id for r in requests]
    results = ctx.session.execute(select(ExchangeResult).where(ExchangeResult.request_id.in_(ids))
                                  .order_by(ExchangeResult.request_id, ExchangeResult.person_id,
                                            ExchangeResult.category)).scalars().all()
    notices = {n.request_id: n for n in ctx.session.execute(
        select(ExchangeDelayNotice).where(ExchangeDelayNotice.request_id.in_(ids))).scalars()}
    batches = {b.id: b.batch_no for b in ctx.session.execute(
        select(ExchangeBatch).where(ExchangeBatch.id.in_([r.batch_id for r in requests if r.batch_id]))).scalars()}
    units = {u.id: u for u in ctx.session.execute(select(Unit).where(
        Unit.id.in_({r.unit_id for r in requests}))).scalars()}
    body = {"format": "hedui-exchange-records/1", "case_no": household.case_no, "requests": [{
        "id": r.id, "unit_code": units[r.unit_id].code, "unit_name": units[r.unit_id].name,
        "batch_no": batches.get(r.batch_id) if r.batch_id else None, "status": r.status.value,
        "created_at": _iso(r.created_at), "sent_at": _iso(r.sent_at), "reply_due": _iso(r.reply_due),
        "answered_at": _iso(r.answered_at), "extended_days": r.extended_days,
        "delay_notice": ({"days": notices[r.id].days, "reason": notices[r.id].reason,
                          "document_sha256": notices[r.id].document_sha256,
                          "received_at": _iso(notices[r.id].received_at)} if r.id in notices else None),
        "subjects": [{"person": positions.get(line.person_id, (None, line.name))[0], "name": line.name,
                      "categories": line.categories} for line in r.lines],
        "results": [{"person": positions.get(x.person_id, (None, ""))[0], "category": x.category,
                     "status": x.status.value, "updated_at": _iso(x.updated_at),
                     "records": (x.raw or {}).get("records", []), "normalised": x.normalised or []}
                    for x in results if x.request_id == r.id],
    } for r in requests]}
    content = json.dumps(body, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
    return [ItemDraft(EXCHANGE_RECORDS.code, "数据交换请求与反馈记录", f"数据交换-{household.case_no}.json",
                      "application/json", content, f"case:{household.case_no}", stamp.at, stamp.viewer)]


@collector(30)
def recheck_documents(ctx: EngineContext, household: Household, stamp: pdf.Stamp) -> list[ItemDraft]:
    recheck = ctx.session.execute(select(Recheck).where(Recheck.verification_household_id == household.id)
                                  ).scalar_one_or_none()
    if recheck is None or recheck.entrustment is None:
        return []
    letter = recheck.entrustment
    return [
        ItemDraft(RECHECK_FORM_PDF.code, "复核表", f"复核表-{recheck.number}.pdf", "application/pdf",
                  recheck_form_pdf(ctx.session, recheck, stamp), f"recheck:{recheck.number}", recheck.created_at,
                  recheck.created_by),
        ItemDraft(RECHECK_ENTRUSTMENT_PDF.code, "复核委托书", f"复核委托书-{letter.number}.pdf", "application/pdf",
                  recheck_entrustment_pdf(ctx.session, recheck, stamp), f"entrustment:{letter.id}", letter.created_at,
                  letter.created_by),
    ]


@collector(50)
def report_pdfs(ctx: EngineContext, household: Household, stamp: pdf.Stamp) -> list[ItemDraft]:
    reports = ctx.session.execute(select(Report).where(Report.household_id == household.id)
                                  .order_by(Report.issued_at, Report.id)).scalars().all()
    out = []
    for report in reports:
        snapshot = json.loads(report.content)
        name = KIND_NAMES[report.kind.value]
        out.append(ItemDraft(REPORT_PDF.code, f"{name} {report.number}", f"{name}-{report.number}.pdf",
                             "application/pdf", report_pdf(snapshot, stamp), f"report:{report.id}", report.issued_at,
                             report.issued_by))
        out.append(ItemDraft(REPORT_SNAPSHOT.code, f"{name}内容 {report.number}", f"{name}-{report.number}.json",
                             "application/json", report.content.encode("utf-8"), f"report:{report.id}",
                             report.issued_at, report.issued_by))
    return out
