"""The organisation tree as decision tables (OR-1, OR-2): regions province → city → county → town →
village with GB/T 2260-style codes, and which kind of unit may sit at which level.

OR-1: every region but the province has a parent one level up whose code it extends; every unit
belongs to one region. OR-2: verification agencies at province, city and county; entrusting units
(social-assistance departments, 镇街民政办) down to the town; sharing units and supervisors at
province, city and county; village/residents' committees (OR-4) only in villages.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import ValidationError
from engine.models import Event
from engine.models import Region
from engine.services.org import create_region
from engine.services.org import create_unit

ADMIN = Actor("admin", "admin")
TREE = [("220000", "吉林省", "province", None), ("220100", "长春市", "city", "220000"),
        ("220104", "朝阳区", "county", "220100"), ("220104001", "红旗街道", "town", "220104"),
        ("220104001001", "红旗社区", "village", "220104001")]
LEVEL_REGION = {level: code for code, _, level, _ in TREE}


@pytest.fixture
def tree(ctx: EngineContext) -> EngineContext:
    for code, name, level, parent in TREE:
        create_region(ctx, code, name, level, parent, actor=ADMIN)
    return ctx


def test_the_tree_records_paths_and_events(tree: EngineContext) -> None:
    """OR-1: the path of a village runs through every level above it (jurisdiction reads it, OR-3)."""
    village = tree.session.get(Region, "220104001001")
    assert village is not None and village.path == "220000/220100/220104/220104001/220104001001/"
    created = tree.session.execute(select(Event.payload).where(Event.kind == "region_created")).scalars().all()
    assert [p["code"] for p in created] == [code for code, *_ in TREE]


@pytest.mark.parametrize(("code", "level", "parent", "field", "message"), [
    ("2201", "county", "220100", "code", "区划代码格式不正确"),             # a county code has 6 digits
    ("22010A", "county", "220100", "code", "区划代码格式不正确"),           # digits only
    ("220104", "county", "220100", "code", "区划代码已存在"),
    ("230000", "province", "220000", "parent_code", "省级区划没有上级"),
    ("220105", "county", "220000", "parent_code", "上级区划不存在或层级不符"),  # a county under the province
    ("220105", "county", "229900", "parent_code", "上级区划不存在或层级不符"),  # an unknown parent
    ("220105", "county", None, "parent_code", "上级区划不存在或层级不符"),
    ("220205", "county", "220100", "code", "区划代码前 4 位应与上级区划 220100 相同"),
    ("230100", "city", "220000", "code", "区划代码前 2 位应与上级区划 220000 相同"),
    ("220102001", "town", "220104", "code", "区划代码前 6 位应与上级区划 220104 相同"),
    ("220104002001", "village", "220104001", "code", "区划代码前 9 位应与上级区划 220104001 相同"),
])
def test_region_rules(tree: EngineContext, code: str, level: str, parent: str | None, field: str,
                      message: str) -> None:
    """OR-1: each refusal names the field, and nothing is written."""
    with pytest.raises(ValidationError) as refused:
        create_region(tree, code, "某区", level, parent, actor=ADMIN)
    assert refused.value.details["fields"] == {field: [message]}
    if code == "2201":
        assert refused.value.message == "县（市、区）级区划代码应为 6 位数字"  # the level in Chinese
    assert tree.session.execute(select(Region).where(Region.name == "某区")).first() is None


ALLOWED = {
    "verification_agency": {"province", "city", "county"},
    "entrusting_department": {"province", "city", "county", "town"},
    "sharing_unit": {"province", "city", "county"},
    "supervisor": {"province", "city", "county"},
    "village_committee": {"village"},
}


@pytest.mark.parametrize("kind", sorted(ALLOWED))
@pytest.mark.parametrize("level", ["province", "city", "county", "town", "village"])
def test_unit_kinds_by_level(tree: EngineContext, kind: str, level: str) -> None:
    """OR-2 (and OR-4's committees): a unit of each kind at each level, allowed or refused at ``kind``."""
    code = f"T-{kind[:4]}-{level[:3]}".upper()
    if level in ALLOWED[kind]:
        unit = create_unit(tree, code, "测试单位", kind, LEVEL_REGION[level], actor=ADMIN)
        assert unit.region_code == LEVEL_REGION[level]  # every unit belongs to exactly one region (OR-1)
    else:
        with pytest.raises(ValidationError) as refused:
            create_unit(tree, code, "测试单位", kind, LEVEL_REGION[level], actor=ADMIN)
        assert refused.value.details["fields"] == {"kind": ["该类单位不能设在此级区划"]}


def test_a_unit_needs_an_existing_region_and_a_unique_code(tree: EngineContext) -> None:
    with pytest.raises(ValidationError) as missing:
        create_unit(tree, "X-HDZX", "某核对中心", "verification_agency", "229999", actor=ADMIN)
    assert missing.value.details["fields"] == {"region_code": ["所属区划不存在"]}
    create_unit(tree, "X-HDZX", "某核对中心", "verification_agency", "220104", actor=ADMIN)
    with pytest.raises(ValidationError) as twice:
        create_unit(tree, "X-HDZX", "另一中心", "verification_agency", "220100", actor=ADMIN)
    assert twice.value.details["fields"] == {"code": ["单位代码已存在"]}
