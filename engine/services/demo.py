"""The demo region (idempotent). Never for production: every password is ``hedui-demo``.

吉林省 (220000) → 长春市 (220100) → 朝阳区 (220104) → 红旗街道, plus 南关区 (220102)
to show jurisdiction and a second city 吉林市 (220200) for cross-city verification (PS-7),
with verification agencies at every level, entrusting departments, information-sharing
units at province, city and county level (上下分级核对, PS-5) with registered exchange
officers, and a user for every role at the county, the city and the province agency.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.exchange.registry import DEMO_UNIT_OFFICERS
from engine.models import ExchangeRegistration
from engine.models import Region
from engine.models import Unit
from engine.models import User
from engine.services.org import create_region
from engine.services.org import create_unit
from engine.services.org import grant_role
from engine.services.org import register_exchange_officer
from engine.services.org import set_unit_phone
from engine.services.users import create_user

DEMO_PASSWORD = "hedui-demo"  # noqa: S105 -- the synthetic demo accounts' published password (README)

REGIONS = [
    ("220000", "吉林省", "province", None),
    ("220100", "长春市", "city", "220000"),
    ("220104", "朝阳区", "county", "220100"),
    ("220102", "南关区", "county", "220100"),
    ("220200", "吉林市", "city", "220000"),
    ("220104001", "红旗街道", "town", "220104"),
    ("220102001", "自由大路街道", "town", "220102"),
]

#: code, name, kind, region, categories (sharing units, DX-8)
UNITS = [
    ("JL-MZT", "吉林省民政厅", "supervisor", "220000", None),
    ("JL-HDZX", "吉林省社会救助家庭经济状况核对中心", "verification_agency", "220000", None),
    ("CC-HDZX", "长春市社会救助家庭经济状况核对中心", "verification_agency", "220100", None),
    ("CY-HDZX", "朝阳区社会救助家庭经济状况核对中心", "verification_agency", "220104", None),
    ("NG-HDZX", "南关区社会救助家庭经济状况核对中心", "verification_agency", "220102", None),
    ("JLS-HDZX", "吉林市社会救助家庭经济状况核对中心", "verification_agency", "220200", None),
    ("CY-MZJ", "朝阳区民政局", "entrusting_department", "220104", None),
    ("NG-MZJ", "南关区民政局", "entrusting_department", "220102", None),
    ("HQ-MZB", "红旗街道民政办", "entrusting_department", "220104001", None),
    ("CC-GA", "长春市公安局", "sharing_unit", "220100", ["household_registration", "vehicles", "exit_entry"]),
    ("CC-BDC", "长春市不动产登记中心", "sharing_unit", "220100", ["real_estate"]),
    ("CC-GJJ", "长春市住房公积金管理中心", "sharing_unit", "220100", ["housing_fund"]),
    ("CC-SW", "国家税务总局长春市税务局", "sharing_unit", "220100", ["tax"]),
    ("CC-SCJG", "长春市市场监督管理局", "sharing_unit", "220100", ["business_registration", "shareholdings"]),
    ("CC-BANK", "长春示范商业银行", "sharing_unit", "220100", ["deposits", "loans", "wealth_products"]),
    ("CY-CLH", "朝阳区残疾人联合会", "sharing_unit", "220104", ["disability"]),
    ("JL-SBJ", "吉林省社会保险事业管理局", "sharing_unit", "220000", ["social_insurance", "pensions"]),
    ("JLS-BDC", "吉林市不动产登记中心", "sharing_unit", "220200", ["real_estate"]),
]
#: the agencies' contact phones (fictional), printed on the upward 委托书 they issue (DO-5)
AGENCY_PHONES = {"JL-HDZX": "0431-80000001", "CC-HDZX": "0431-80000002", "CY-HDZX": "0431-80000003",
                 "NG-HDZX": "0431-80000004", "JLS-HDZX": "0432-80000005"}

#: username, display name, [(unit, role)]
USERS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("hq_street_clerk", "周敏（红旗街道民政办）", [("HQ-MZB", "street_clerk"), ("HQ-MZB", "assistance_officer")]),
    ("cy_assistance", "陈立（朝阳区民政局）", [("CY-MZJ", "assistance_officer")]),
    # the department's head: a second person who may approve a 失信登记 陈立 proposes (AU-3, SD-CR)
    ("cy_mzj_head", "刘洋（朝阳区民政局科长）", [("CY-MZJ", "supervisor")]),
    ("cy_intake", "李静（朝阳区核对中心）", [("CY-HDZX", "intake_officer")]),
    ("cy_reviewer", "王磊（朝阳区核对中心）", [("CY-HDZX", "review_officer")]),
    ("cy_reporter", "赵丽（朝阳区核对中心）", [("CY-HDZX", "report_officer")]),
    ("cy_exchange_1", "孙强（朝阳区核对中心）", [("CY-HDZX", "exchange_officer")]),
    ("cy_exchange_2", "钱红（朝阳区核对中心）", [("CY-HDZX", "exchange_officer")]),
    ("cy_all", "吴全（朝阳区核对中心）",
     [("CY-HDZX", "intake_officer"), ("CY-HDZX", "review_officer"), ("CY-HDZX", "report_officer")]),
    ("cy_supervisor", "郭平（朝阳区核对中心科长）", [("CY-HDZX", "supervisor")]),
    ("ng_intake", "郑洁（南关区核对中心）", [("NG-HDZX", "intake_officer")]),
    ("ng_reviewer", "林涛（南关区核对中心）", [("NG-HDZX", "review_officer")]),
    ("cc_intake", "马骏（长春市核对中心）", [("CC-HDZX", "intake_officer")]),
    ("cc_reviewer", "冯涛（长春市核对中心）", [("CC-HDZX", "review_officer")]),
    ("cc_reporter", "何芳（长春市核对中心）", [("CC-HDZX", "report_officer")]),
    ("cc_exchange_1", "宋宇（长春市核对中心）", [("CC-HDZX", "exchange_officer")]),
    ("cc_exchange_2", "唐敏（长春市核对中心）", [("CC-HDZX", "exchange_officer")]),
    ("jl_intake", "曾毅（吉林省核对中心）", [("JL-HDZX", "intake_officer")]),
    ("jl_reviewer", "许晨（吉林省核对中心）", [("JL-HDZX", "review_officer")]),
    ("jl_reporter", "邓宁（吉林省核对中心）", [("JL-HDZX", "report_officer")]),
    ("jl_exchange_1", "彭程（吉林省核对中心）", [("JL-HDZX", "exchange_officer")]),
    ("jl_exchange_2", "夏雨（吉林省核对中心）", [("JL-HDZX", "exchange_officer")]),
    *[(username, name, [(unit, "sharing_officer")]) for unit, (username, name) in DEMO_UNIT_OFFICERS.items()],
    ("auditor", "韩冰（吉林省民政厅审计）", [("JL-MZT", "auditor")]),
    ("designer", "曹宇（流程设计）", [("JL-MZT", "process_designer")]),
    ("admin", "系统管理员", [("JL-MZT", "admin")]),
]

#: exchange officers registered (备案) with every demo sharing unit
EXCHANGE_OFFICERS = [("cy_exchange_1", "CY-HDZX"), ("cy_exchange_2", "CY-HDZX"), ("cc_exchange_1", "CC-HDZX"),
                     ("cc_exchange_2", "CC-HDZX"), ("jl_exchange_1", "JL-HDZX"), ("jl_exchange_2", "JL-HDZX")]
#: unit-side officers (SD-3): each demo sharing unit's answers are released by its own filed officer
SHARING_OFFICERS = [(username, unit) for unit, (username, _name) in DEMO_UNIT_OFFICERS.items()]
REGISTERED_FROM = date(2025, 1, 1)


def seed_demo(ctx: EngineContext, *, actor: Actor) -> int:
    """Create whatever of the demo region is missing; returns how many users were created."""
    for code, name, level, parent in REGIONS:
        if ctx.session.get(Region, code) is None:
            create_region(ctx, code, name, level, parent, actor=actor)
    units = {u.code: u for u in ctx.session.execute(select(Unit)).scalars()}
    for code, name, kind, region, categories in UNITS:
        if code not in units:
            units[code] = create_unit(ctx, code, name, kind, region, actor=actor, categories=categories,
                                      contact_phone=AGENCY_PHONES.get(code))
        elif code in AGENCY_PHONES and units[code].contact_phone is None:  # a region seeded before phones
            set_unit_phone(ctx, units[code], AGENCY_PHONES[code], actor=actor)
    created = _seed_users(ctx, units, actor)
    _seed_registrations(ctx, units, actor)
    return created


def _seed_users(ctx: EngineContext, units: dict[str, Unit], actor: Actor) -> int:
    users = {u.username: u for u in ctx.session.execute(select(User)).scalars()}
    created = 0
    for username, name, grants in USERS:
        if username not in users:
            users[username] = create_user(ctx, username, name, DEMO_PASSWORD, actor=actor)
            created += 1
        for unit_code, role in grants:
            grant_role(ctx, users[username], units[unit_code], role, actor=actor)
    return created


def _seed_registrations(ctx: EngineContext, units: dict[str, Unit], actor: Actor) -> None:
    existing = {(r.user_id, r.sharing_unit_id) for r in ctx.session.execute(select(ExchangeRegistration)).scalars()}
    users = {u.username: u for u in ctx.session.execute(select(User)).scalars()}
    sharing = [u for u in units.values() if u.kind.value == "sharing_unit"]
    pairs = [(users[name], su, units[unit]) for name, unit in EXCHANGE_OFFICERS for su in sharing]
    pairs += [(users[name], units[unit], units[unit]) for name, unit in SHARING_OFFICERS]
    for user, sharing_unit, unit in pairs:
        if (user.id, sharing_unit.id) not in existing:
            register_exchange_officer(ctx, user, sharing_unit, unit, valid_from=REGISTERED_FROM, valid_to=None,
                                      actor=actor)
