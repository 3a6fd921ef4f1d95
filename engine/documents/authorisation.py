"""The 授权书 in the Ver 3.0 layout of the Baoji annex 1 (DO-4, LOC-34), pre-filled with the household.

Full ID numbers appear here because the form is the legal authorisation the family signs; the
caller records every download and print (SEC-12). Signature and fingerprint spaces stay empty:
the paper copy is signed by hand, and the signed scan is what the archive keeps.
"""

from __future__ import annotations

from reportlab.platypus import Flowable
from reportlab.platypus import PageBreak
from reportlab.platypus import Spacer
from sqlalchemy.orm import Session

from engine.documents import pdf
from engine.documents.pdf import para
from engine.documents.sources import latest_authorisation
from engine.documents.sources import places
from engine.models.case import Household
from engine.models.case import PersonRole
from forms.household import BUSINESS_TYPES
from forms.member_rules import RELATIONS

CONFIRMATION = ("本人保证所提供的家庭全体成员信息资料真实、有效，并已详细阅读上述授权书内容，本人及家庭全体成员"
                "特此授权各地核对机构开展本家庭经济状况核对工作。")
INSTRUCTIONS = [
    "一、本授权书是居民家庭（个人）在申请居民家庭经济状况核对时，应向有关单位提交申请人（第一申请人，下同）及其家庭成员"
    "（包括法定赡养人、抚养人、扶养人，下同）同意经济状况核对的授权书。",
    "二、本授权书需用蓝色或黑色钢笔、签字笔填写，要求字迹工整、不得随意涂改，需保持书面整洁。",
    "三、本授权书需由申请人和家庭成员亲笔填写并签名、按本人指模确认。表格不足时，可另行复印。",
    "四、填写时，镇（街）社会救助经办人员负责审查所有签名和指模是否清晰、完整，申请人有义务确保所有签名和指模的真实性、有效性。",
    "五、家庭成员因故不能到场的，可带回由未到场的家庭成员本人签名并按本人指模后再提交。家庭成员为无民事行为能力、"
    "限制民事行为能力人的，可由监护人代其签名和按指模。",
    "六、家庭成员中有在外上学、务工等特殊情形，短期内无法到场签字授权的，由申请人在通知其本人授权事宜后，"
    "申请人或户主代为签名并按指模。",
    "七、家庭成员发生变化或再次申请核对，需重新填报本授权书。",
    "八、本表一式三份，由镇（街）、县级核对机构、县级社会救助部门各留存一份，并装入相对应的业务档案妥善保管。",
]
DECLARATIONS = [
    "一、本人及家庭全体成员愿意遵守居民家庭经济状况核对的相关政策、规定，承诺所提供的有关材料和赡、抚（扶）养人信息全部"
    "真实有效，如有虚报或隐瞒，自愿承担一切责任和有关部门对失信行为的处理。",
    "二、本人及家庭全体成员自愿接受核对机构开展的经济状况核对，授权并配合各地各级核对机构对本人及家庭全体成员的所有收入、"
    "支出和各地各类家庭财产（包括金融财产）等信息进行核对和入户调查，授权并同意所有掌握本人及家庭全体成员经济状况信息数据的"
    "各地各级各类部门、单位（包括各类金融机构）将所掌握的资料、信息和数据提供给各地各级核对机构。",
    "三、授权期限：自本授权书签字之日起至停止社会救助之日止（其他另行规定的核对业务除外）。",
]
BLANK = "＿＿＿＿＿＿"


def title(session: Session, household: Household) -> str:
    city = places(session, household.region_code).city
    return f"{city}居民家庭（个人）经济状况核对授权书"


def story(session: Session, household: Household) -> list[Flowable]:
    """The cover with 填写说明, then the form: business types, the two tables, declarations, signatures."""
    where = places(session, household.region_code)
    auth = latest_authorisation(household)
    ticked = set(auth.business_types if auth else [household.business_type])
    other = (auth.business_other if auth else household.business_other) or ""
    applicant = household.applicant
    signed = auth.signed_on if auth else None
    doc_title = title(session, household)
    out: list[Flowable] = [
        para("Ver:3.0", pdf.SMALL), para(doc_title, pdf.TITLE), Spacer(1, 4),
        para(_ticks(ticked, other)), Spacer(1, 6),
        para(f"市（县、区）：{where.county or where.city or BLANK}　镇（街）：{where.town or BLANK}　"
             f"村（居）委会：{where.village or BLANK}"),
        para(f"申请人（户主）姓名：{applicant.name if applicant else BLANK}"),
        para(f"身份证号码：{(applicant.id_number or '') if applicant else BLANK}"),
        para(f"移动电话：{household.applicant_phone or BLANK}"),
        para(f"镇（街）经办人：{(auth.handler_name if auth else None) or BLANK}"),
        para(f"（{signed.year}年{signed.month}月{signed.day}日）" if signed else "（20＿＿年＿＿月＿＿日）"),
        Spacer(1, 8), para("填写说明", pdf.HEADING), *[para(t, pdf.SMALL) for t in INSTRUCTIONS],
        PageBreak(),
        para(doc_title, pdf.TITLE),
        para(f"县（区）：{where.county or BLANK}　镇（街）：{where.town or BLANK}"),
        para("1. 申请核对的业务类别", pdf.HEADING), para(_ticks(ticked, other)),
        para("2. 核对对象（个人）基本情况", pdf.HEADING), para("共同生活的家庭成员基本信息"),
        _people(household, PersonRole.MEMBER, "成员关系"), Spacer(1, 6),
        para("法定赡养、扶养、抚养义务人基本信息"),
        _people(household, PersonRole.OBLIGOR, "与第一申请人关系"),
        para("3. 授权书", pdf.HEADING),
        para("本人（第一申请人，下同）具有完全民事行为能力，是全家共同推举的申请人，本人已向家庭全体成员（包括法定赡养人、"
             "抚养人、扶养人，下同）告知了本《授权书》的内容，本人的申请行为代表家庭全体成员意愿，现申请（"
             + _ticks(ticked, other, sep="；")
             + "），本人及家庭全体成员一致同意并作出如下声明、承诺和经济状况核对法律授权：",
             pdf.BODY_INDENT),
        *[para(t, pdf.BODY_INDENT) for t in DECLARATIONS],
        para("四、第一申请人抄写、确认以下内容：", pdf.HEADING), para(CONFIRMATION, pdf.BODY_INDENT),
        para("（请第一申请人在下方横线处亲笔抄写上述内容）", pdf.SMALL),
        *[para("＿" * 40) for _ in range(3)], Spacer(1, 4),
        *_signatures(household),
    ]
    return out


def _ticks(ticked: set[str], other: str, sep: str = "　") -> str:
    boxes = []
    for code, name in BUSINESS_TYPES.items():
        mark = "■" if code in ticked else "□"
        label = f"{name}{other or BLANK}" if code == "other" else name
        boxes.append(f"{mark}{label}")
    return sep.join(boxes)


def _people(household: Household, role: PersonRole, relation_header: str) -> Flowable:
    rows = [["姓 名", relation_header, "居民身份证号", "家庭居住地址（门牌号）", "户籍所在地"]]
    for p in household.persons:
        if p.role is role:
            relation = RELATIONS.get(p.relation, (p.relation, None))[0]
            if p.relation == "self":
                relation = "第一申请人（户主）"
            rows.append([p.name, relation, p.id_number or "（无）", p.residence_address, p.hukou_location])
    if len(rows) == 1:
        rows.append(["（无）", "", "", "", ""])
    w = pdf.content_width()
    return pdf.grid(rows, [w * 0.13, w * 0.15, w * 0.24, w * 0.25, w * 0.23])


def _signatures(household: Household) -> list[Flowable]:
    """1 = the first applicant; 2... = every other member and support-duty person, name printed below the line."""
    applicant = household.applicant
    others = [p for p in household.persons if p is not applicant]
    out: list[Flowable] = [para(f"1. 第一申请人签名及指模：＿＿＿＿＿＿（指模＿＿＿＿）"
                                f"  {applicant.name if applicant else ''}", pdf.BODY),
                           para("五、家庭其他全体成员签名及指模：", pdf.HEADING)]
    for n, p in enumerate(others, start=2):
        out.append(para(f"{n}. ＿＿＿＿＿＿（指模＿＿＿＿）  {p.name}"))
    return out
