"""The 委托书 (DO-5, LOC-34 annex 2): "对×××等××户××人开展经济状况核对", handler, phone, date.

One letter covers a whole batch: the subject list attached to it names every household's first
applicant with the full ID number (the letter travels with the 核对名单, LOC-08).
"""

from __future__ import annotations

from reportlab.platypus import Flowable
from reportlab.platypus import Spacer
from sqlalchemy.orm import Session

from engine.documents import pdf
from engine.documents.authorisation import BLANK
from engine.documents.pdf import para
from engine.documents.sources import unit_name
from engine.models.case import Entrustment
from forms.household import BUSINESS_TYPES

TITLE = "居民家庭（个人）经济状况核对委托书"


def sentence(entrustment: Entrustment) -> str:
    """"对×××等××户××人": the first household's applicant names the batch."""
    first = entrustment.households[0].applicant if entrustment.households else None
    who = first.name if first else "×××"
    return (f"根据相关规定，现委托贵中心对{who}等申请人（家庭）共{entrustment.household_count}户"
            f"{entrustment.person_count}人开展经济状况核对，核对结果请及时反馈我单位。")


def story(session: Session, entrustment: Entrustment) -> list[Flowable]:
    agency = unit_name(session, entrustment.agency_unit_id)
    entrusting = unit_name(session, entrustment.entrusting_unit_id)
    on = entrustment.entrusted_on
    out: list[Flowable] = [
        para(TITLE, pdf.TITLE), para(f"编号：{entrustment.number}", pdf.SMALL), Spacer(1, 10),
        para(f"{agency}："), para(sentence(entrustment), pdf.BODY_INDENT), Spacer(1, 14),
        para(f"经办人：{entrustment.contact_name}"), para(f"联系电话：{entrustment.contact_phone or BLANK}"),
        para(f"委托单位（盖章）：{entrusting}"), para(f"委托时间：{on.year}年{on.month}月{on.day}日"),
        Spacer(1, 16), para("附：核对名单", pdf.HEADING),
    ]
    rows = [["序号", "核对业务编号", "第一申请人", "居民身份证号", "业务类别", "核对人数"]]
    for n, household in enumerate(entrustment.households, start=1):
        applicant = household.applicant
        rows.append([str(n), household.case_no, applicant.name if applicant else "",
                     (applicant.id_number or "（无）") if applicant else "",
                     BUSINESS_TYPES.get(household.business_type, household.business_type),
                     str(sum(1 for p in household.persons if p.is_subject))])
    w = pdf.content_width()
    out.append(pdf.grid(rows, [w * 0.07, w * 0.27, w * 0.15, w * 0.25, w * 0.14, w * 0.12]))
    return out
