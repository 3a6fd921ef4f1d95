"""The demo region's users (idempotent). Never for production: every password is ``hedui-demo``."""

from __future__ import annotations

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.models import User
from engine.services.users import create_user
from engine.services.users import grant_role

DEMO_PASSWORD = "hedui-demo"

#: username, display name, roles (the organisation tree and units arrive with issue #3)
DEMO_USERS: list[tuple[str, str, list[str]]] = [
    ("hq_street_clerk", "红旗街道民政办 周敏", ["street_clerk"]),
    ("cy_assistance", "朝阳区民政局 陈立", ["assistance_officer"]),
    ("cy_intake", "朝阳区核对中心 李静", ["intake_officer"]),
    ("cy_reviewer", "朝阳区核对中心 王磊", ["review_officer"]),
    ("cy_reporter", "朝阳区核对中心 赵丽", ["report_officer"]),
    ("cy_exchange_1", "朝阳区核对中心 孙强", ["exchange_officer"]),
    ("cy_exchange_2", "朝阳区核对中心 钱红", ["exchange_officer"]),
    ("cy_all", "朝阳区核对中心 吴全", ["intake_officer", "review_officer", "report_officer"]),
    ("ng_intake", "南关区核对中心 郑洁", ["intake_officer"]),
    ("cc_reviewer", "长春市核对中心 冯涛", ["review_officer"]),
    ("cc_reporter", "长春市核对中心 何芳", ["report_officer"]),
    ("jl_reviewer", "吉林省核对中心 许晨", ["review_officer"]),
    ("jl_reporter", "吉林省核对中心 邓宁", ["report_officer"]),
    ("auditor", "审计监督 韩冰", ["auditor"]),
    ("designer", "流程设计 曹宇", ["process_designer"]),
    ("admin", "系统管理员", ["admin"]),
]


def seed_demo(ctx: EngineContext, *, actor: Actor) -> int:
    """Create the demo users that do not exist yet; returns how many were created."""
    existing = set(ctx.session.execute(select(User.username)).scalars())
    created = 0
    for username, name, roles in DEMO_USERS:
        if username in existing:
            continue
        user = create_user(ctx, username, name, DEMO_PASSWORD, actor=actor)
        for role in roles:
            grant_role(ctx, user, role, actor=actor)
        created += 1
    return created
