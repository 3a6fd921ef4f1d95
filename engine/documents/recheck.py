"""The 复核委托书 and the 复核表 (DO-8; Baoji annexes 4 and 6), from a recheck's data.

The 复核委托书 (附件4) is the letter the county social-assistance department sends with its
decision to re-verify: "×县（区）申请人×× 身份证号 ×× 对其申请的××核对结果有异议，本人已书面提出
复核申请，现委托贵中心对其经济状况进行复核". The annex words it for an objection; a recheck
started by a complaint, a home visit or another reason states that trigger and its reason instead.

The 复核表 (附件6) is what the initiating department filed: 委托部门, 提出复核人, 申请时间, the
household's members (户主 first) with ID numbers, 救助类型, 户籍所在地, 申请复核事由, and the
复核结果反馈 ("复核结果详见《复核报告》", with the 复核报告's number once it is issued).

Full ID numbers appear on both (they are official documents); the caller records every download
and print (SEC-12).
"""

from __future__ import annotations

from datetime import date

from reportlab.platypus import Flowable
from reportlab.platypus import Spacer
from sqlalchemy.orm import Session

from engine.calendar import SHANGHAI
from engine.documents import pdf
from engine.documents.pdf import para
from engine.documents.sources import places
from engine.documents.sources import unit_name
from engine.models.case import Household
from engine.models.case import PersonRole
from engine.models.recheck import TRIGGER_NAMES
from engine.models.recheck import Recheck
from engine.models.recheck import RecheckTrigger
from forms.household import BUSINESS_TYPES
from forms.member_rules import RELATIONS

ENTRUSTMENT_TITLE = "居民家庭（个人）经济状况复核委托书"
FORM_TITLE = "居民家庭（个人）经济状况核对复核表"
BLANK = "＿＿＿＿＿＿"


def cn_date(day: date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else "　　年　　月　　日"


def business_name(household: Household) -> str:
    name = BUSINESS_TYPES.get(household.business_type, household.business_type)
    return f"{name}（{household.business_other}）" if household.business_other else name


def entrustment_sentences(session: Session, recheck: Recheck) -> list[str]:
    """The letter's body: who is re-verified and why (附件4's sentence for an objection)."""
    household = recheck.original_household
    applicant = household.applicant
    name = applicant.name if applicant else BLANK
    id_number = (applicant.id_number or "（无）") if applicant else BLANK
    county = places(session, household.region_code).county or BLANK
    who = f"{county}申请人{name}（身份证号：{id_number}）"
    business = business_name(household)
    if recheck.trigger is RecheckTrigger.OBJECTION:
        why = (f"{who}对其申请的{business}核对结果（原核对业务编号：{household.case_no}）有异议，"
               f"本人已于{cn_date(recheck.requested_on)}书面提出复核申请")
    else:
        why = (f"因{TRIGGER_NAMES[recheck.trigger.value]}（{recheck.reason}），需对{who}申请{business}的核对结果"
               f"（原核对业务编号：{household.case_no}）进行复核")
    return [f"{why}，现委托贵中心对其经济状况进行复核。", "复核结果请及时反馈我单位。"]


def entrustment_story(session: Session, recheck: Recheck) -> list[Flowable]:
    letter = recheck.entrustment
    assert letter is not None
    on = letter.entrusted_on
    out: list[Flowable] = [
        para(ENTRUSTMENT_TITLE, pdf.TITLE), para(f"编号：{letter.number}　复核编号：{recheck.number}", pdf.SMALL),
        Spacer(1, 10), para(f"{unit_name(session, letter.agency_unit_id)}："),
        *[para(s, pdf.BODY_INDENT) for s in entrustment_sentences(session, recheck)], Spacer(1, 14),
        para(f"经办人：{letter.contact_name}"), para(f"联系电话：{letter.contact_phone or BLANK}"),
        para(f"委托单位（盖章）：{unit_name(session, letter.entrusting_unit_id)}"),
        para(f"委托时间：{on.year}年{on.month}月{on.day}日"),
    ]
    if recheck.verification_household is not None:
        out += [Spacer(1, 10), para(f"复核核对业务编号：{recheck.verification_household.case_no}", pdf.SMALL)]
    return out


def _members(household: Household) -> list[list[str]]:
    """家庭关系 / 姓名 / 身份证号码: the first applicant as 户主 first, then the members, then support-duty persons."""
    rows = [["家庭关系", "姓 名", "身份证号码"]]
    ordered = sorted(household.persons, key=lambda p: (p.relation != "self", p.role is PersonRole.OBLIGOR, p.position))
    for p in ordered:
        relation = "户主" if p.relation == "self" else RELATIONS.get(p.relation, (p.relation, None))[0]
        if p.role is PersonRole.OBLIGOR:
            relation += "（赡养、扶养、抚养义务人）"
        rows.append([relation, p.name, p.id_number or "（无）"])
    return rows


def _hukou(session: Session, household: Household) -> str:
    applicant = household.applicant
    if applicant is not None and applicant.hukou_location:
        return applicant.hukou_location
    where = places(session, household.region_code)
    return f"{where.county or BLANK}县（区）{where.town or BLANK}镇（街）{where.village or BLANK}村"


def reason_text(recheck: Recheck) -> str:
    text = f"{TRIGGER_NAMES[recheck.trigger.value]}：{recheck.reason}"
    if recheck.notified_on is not None and recheck.objection_deadline is not None:
        text += (f"（告知核对结果日期：{cn_date(recheck.notified_on)}，"
                 f"提出异议期限至{cn_date(recheck.objection_deadline)}）")
    return text


def feedback_text(session: Session, recheck: Recheck) -> str:
    """复核结果反馈: the annex's sentence, the 复核报告 once linked, the recorded result, the agency and date."""
    report = f"（编号：{recheck.report_no}）" if recheck.report_no else ""
    lines = [f"复核结果详见《复核报告》{report}。"]
    if recheck.result:
        lines.append(f"复核结果登记：{recheck.result}")
    agency = unit_name(session, recheck.agency_unit_id) if recheck.agency_unit_id else BLANK
    finished = recheck.finished_at.astimezone(SHANGHAI).date() if recheck.finished_at and recheck.report_no else None
    lines.append(f"复核单位（盖章）：{agency}　{cn_date(finished)}")
    return "\n".join(lines)


def form_story(session: Session, recheck: Recheck) -> list[Flowable]:
    household = recheck.original_household
    w = pdf.content_width()
    head = [["委托部门（盖章）", recheck.initiating_unit.name], ["提出复核人", recheck.requester_name],
            ["申请时间", cn_date(recheck.requested_on)]]
    tail = [["救助类型", business_name(household)], ["户籍所在地", _hukou(session, household)],
            ["申请复核事由", reason_text(recheck)], ["复核结果反馈", feedback_text(session, recheck)]]
    return [
        para(FORM_TITLE, pdf.TITLE),
        para(f"复核编号：{recheck.number}　原核对业务编号：{household.case_no}", pdf.SMALL), Spacer(1, 8),
        pdf.grid(head, [w * 0.25, w * 0.75], header_rows=0), Spacer(1, 6),
        para("申请复核家庭人员信息", pdf.HEADING),
        pdf.grid(_members(household), [w * 0.3, w * 0.3, w * 0.4]), Spacer(1, 6),
        pdf.grid(tail, [w * 0.25, w * 0.75], header_rows=0), Spacer(1, 10),
        para(f"决定部门：{recheck.deciding_unit.name}", pdf.SMALL),
    ]
