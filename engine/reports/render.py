"""Lay a report snapshot out as PDF (BJ 附件3 cover, then the annex tables): pure, from the snapshot alone.

Rendering reads nothing but the stored snapshot, so a report printed years later says exactly what
was issued; only the watermark, the header time and "第N次打印" belong to the copy.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from reportlab.platypus import Flowable
from reportlab.platypus import PageBreak
from reportlab.platypus import Spacer

from engine.documents import pdf
from engine.documents.pdf import para
from engine.reports.fields import describe
from engine.reports.levels import level_sentences

NO_ORIGINAL = "原案件未出具核对报告，本复核报告无可比较的原报告。"
NO_DIFFERENCES = "与原报告相比无差异。"
OWN_ITEMS_ONLY = "本次复核实行分级核对，与原报告的比对仅限本中心核对的事项，家庭收入、财产合计以各级复核报告为准。"
ROLE_SHORT = {"member": "家庭成员", "obligor": "赡（扶、抚）养义务人"}


def cn_date(iso: str) -> str:
    day = date.fromisoformat(iso[:10])
    return f"{day.year}年{day.month}月{day.day}日"


def cover_sentences(content: dict[str, Any]) -> list[str]:
    """The cover's body text (shared by the PDF and the browser view)."""
    cover = content["cover"]
    basis = "和".join(cover["legal_basis"])
    auth = cover["authorised"]
    period = cover["income_period"]
    verb = "复核" if content["kind"] == "reverification" else "核对"
    out = [
        f"根据{basis}，我中心于{cn_date(cover['entrusted_on'])}受贵单位委托（委托书编号：{cover['entrustment_no']}），"
        f"经{auth['first_applicant']}等{auth['households']}户{auth['persons']}人书面授权，依照法律法规和有关规定"
        f"对其家庭经济状况进行了{verb}。",
        f"本次经济状况核对内容为该申请人（家庭）{cn_date(period['from'])}至{cn_date(period['to'])}的收入"
        f"和截至{cn_date(cover['property_as_of'])}的财产情况。",
        *level_sentences(content),
        f"本核对报告共{cover['pages']}页，一式{cover['copies']}份，{cover['restriction']}。",
        cover["annex_note"],
    ]
    return out


def story(content: dict[str, Any]) -> list[Flowable]:
    number = f"编号：{content['number']}" + (f"　文号：{content['agency_ref']}" if content.get("agency_ref") else "")
    out: list[Flowable] = [para(content["title"], pdf.TITLE), para(number, pdf.SMALL),
                           Spacer(1, 12), para(f"{content['addressee']['name']}：")]
    out += [para(s, pdf.BODY_INDENT) for s in cover_sentences(content)]
    if content.get("supersedes"):
        old = content["supersedes"]
        out.append(para(f"本报告替代编号为{old['number']}的报告，原报告不再使用。更正原因：{old['reason']}",
                        pdf.BODY_INDENT))
    if content.get("remarks"):
        out.append(para(f"备注：{content['remarks']}", pdf.BODY_INDENT))
    out += _reverification(content)
    out += [Spacer(1, 24), para(f"单位（盖章）：{content['agency']['name']}"),
            para(f"出具日期：{cn_date(content['issued_on'])}"),
            para(f"有效期至：{cn_date(content['valid_until'])}（自出具之日起{content['validity_months']}个月）"),
            para(f"核对业务编号：{content['case_no']}　业务类别：{content['business_type']}", pdf.SMALL),
            PageBreak()]
    out += _persons(content) + _sources(content) + _summary(content) + _spending(content)
    return out


def review_sentences(review: dict[str, Any]) -> list[str]:
    """复核报告 only: the 复核表's trigger and the original report, as sentences (shared by the PDF and the page)."""
    trigger = review.get("trigger") or {}
    reason = f"（{trigger['reason']}）" if trigger.get("reason") else ""
    out = [f"复核事由：{trigger.get('label', '')}{reason}"]
    if trigger.get("recheck_no"):
        out.append(f"复核表编号：{trigger['recheck_no']}；提出复核人：{trigger.get('requester', '')}；"
                   f"申请时间：{cn_date(trigger['requested_on'])}；发起部门：{trigger.get('initiating_unit', '')}")
    original = review.get("original")
    if original:
        by = original.get("agency") or ""
        out.append(f"原核对报告：{original['number']}（{by}{cn_date(original['issued_on'])}出具）")
    else:
        out.append(NO_ORIGINAL)
    if review.get("scope") == "own_items":  # 分级出具报告 (PS-5): other levels report the other items
        out.append(OWN_ITEMS_ONLY)
    return out


def _reverification(content: dict[str, Any]) -> list[Flowable]:
    """复核报告 only: the trigger and the differences from the original report (DO-8, RPT-07)."""
    review = content.get("reverification")
    if not review:
        return []
    out: list[Flowable] = [para(s, pdf.BODY_INDENT) for s in review_sentences(review)]
    rows = [["项目", "原报告", "复核结果"]] + [[d["item"], d["before"], d["after"]] for d in review["differences"]]
    w = pdf.content_width()
    if len(rows) > 1:
        out.append(pdf.grid(rows, [w * 0.5, w * 0.25, w * 0.25]))
    elif review.get("original"):
        out.append(para(NO_DIFFERENCES, pdf.BODY_INDENT))
    return out


def _persons(content: dict[str, Any]) -> list[Flowable]:
    w = pdf.content_width()
    rows = [["序号", "姓名", "居民身份证号", "类别", "与第一申请人关系", "计入家庭人口"]]
    for n, p in enumerate(content["persons"], start=1):
        kind = ROLE_SHORT[p["role"]] + (f"（{p['duty']}）" if p.get("duty") else "")
        counted = "计入" if p["counted"] else "不计入"
        rows.append([str(n), p["name"], p["id_number"] or "（无）", kind, p["relation"], counted])
    return [para("附表一　核对对象", pdf.HEADING),
            pdf.grid(rows, [w * 0.07, w * 0.13, w * 0.24, w * 0.24, w * 0.18, w * 0.14]), Spacer(1, 12)]


def _sources(content: dict[str, Any]) -> list[Flowable]:
    w = pdf.content_width()
    out: list[Flowable] = [para("附表二　各信息共享单位核对结果（按核对对象）", pdf.HEADING)]
    if not content["sources"]:
        out.append(para("本案件未向信息共享单位发出核对请求。"))
    for n, person in enumerate(content["persons"], start=1):
        rows = [["信息共享单位", "数据类别", "反馈状态", "反馈时间", "返回内容"]]
        for s in (s for s in content["sources"] if s["person"] == person["position"]):
            detail = "\n".join(describe(r) for r in s["records"]) or "—"
            rows.append([s["unit"], s["category_name"], s["status_name"],
                         s["responded_at"][:16].replace("T", " ") if s["responded_at"] else "—", detail])
        if len(rows) == 1:
            continue
        mark = "【法定赡养、扶养、抚养义务人】" if person["role"] == "obligor" else ""
        out += [para(f"（{n}）{person['name']}　{person['relation']}{mark}", pdf.BODY),
                pdf.grid(rows, [w * 0.2, w * 0.14, w * 0.12, w * 0.14, w * 0.4]), Spacer(1, 8)]
    return out


def _summary(content: dict[str, Any]) -> list[Flowable]:
    w = pdf.content_width()
    s = content["summary"]
    period = content["cover"]["income_period"]
    income = [["收入类别", f"家庭合计（{cn_date(period['from'])}至{cn_date(period['to'])}，元）"]]
    income += [[label, s["household_income"][code]] for code, label in s["income_categories"]]
    income.append(["合计", s["household_income_total"]])
    prop = [["财产类别", f"家庭合计（截至{cn_date(content['cover']['property_as_of'])}，元）"]]
    prop += [[label, s["household_property"][code]] for code, label in s["property_classes"]]
    names = {p["position"]: p for p in content["persons"]}
    class_names = dict(s["property_classes"])
    persons = [["姓名", "类别", "期间收入合计（元）", "财产（元）"]]
    for row in s["persons"]:
        p = names[row["person"]]
        assets = "；".join(f"{class_names[c]} {v}" for c, v in row["property"].items()) or "—"
        kind = ROLE_SHORT[p["role"]] + ("" if row["counted"] or p["role"] == "obligor" else "（不计入）")
        persons.append([p["name"], kind, row["income_total"], assets])
    lines = [f"计入家庭人口 {s['counted_persons']} 人；收入核算期间 {s['period_months']} 个月。",
             f"家庭期间收入合计 {s['household_income_total']} 元，期间人均收入 {s['per_capita_income'] or '—'} 元，"
             f"月人均收入 {s['per_capita_monthly_income'] or '—'} 元；家庭财产合计 {s['household_assets_total']} 元，"
             f"债务合计 {s['household_debts_total']} 元。",
             "同一人同一收入类别有多个来源反馈的，按较高的来源计，不重复计算；法定赡养、扶养、抚养义务人的收入和财产单列，"
             "不计入家庭合计。"]
    if s["unanswered_sources"]:
        lines.append("以下信息共享单位未反馈或超期未反馈，相应数据未纳入汇总："
                     + "、".join(s["unanswered_sources"]) + "。")
    return [PageBreak(), para("附表三　收入和财产汇总", pdf.HEADING),
            pdf.grid(income, [w * 0.4, w * 0.6]), Spacer(1, 8), pdf.grid(prop, [w * 0.4, w * 0.6]), Spacer(1, 8),
            pdf.grid(persons, [w * 0.16, w * 0.24, w * 0.2, w * 0.4]),
            Spacer(1, 8)] + [para(t, pdf.BODY) for t in lines]


def spending_sentences(spending: dict[str, Any]) -> list[str]:
    """附表四 支出调查 (DO-9): why, what was declared, the finding (shared by the PDF and the page)."""
    declared = spending.get("declared_monthly_income")
    out = [f"依据{spending['legal_basis']}，核对对象的支出与其提供的收入状况明显不符，本中心对相应支出情况进行了调查。",
           f"调查缘由：{spending['basis']}"]
    if declared is not None:
        out.append(f"申报家庭月收入：{declared} 元。")
    out += [f"查实支出 {len(spending['items'])} 项，合计 {spending['total']} 元。",
            f"调查结论：{spending['outcome']}（{cn_date(spending['concluded_on'])}）。{spending['conclusion']}"]
    return out


def _spending(content: dict[str, Any]) -> list[Flowable]:
    spending = content.get("spending")
    if not spending:
        return []
    w = pdf.content_width()
    rows = [["支出类别", "支出情况", "金额（元）", "支出日期", "信息来源"]]
    rows += [[i["category"], i["description"], i["amount"], i["spent_on"] or "—", i["source"]]
             for i in spending["items"]]
    out: list[Flowable] = [Spacer(1, 12), para("附表四　支出调查情况", pdf.HEADING)]
    out += [para(t, pdf.BODY) for t in spending_sentences(spending)]
    if len(rows) > 1:
        out.append(pdf.grid(rows, [w * 0.16, w * 0.4, w * 0.14, w * 0.14, w * 0.16]))
    return out


def report_pdf(content: dict[str, Any], stamp: pdf.Stamp) -> bytes:
    return pdf.render(title=content["title"], header=f"{content['title']} · {content['number']}", story=story(content),
                      stamp=stamp, subject=content["case_no"])
