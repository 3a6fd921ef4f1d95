"""The policy catalogue (PS-10, PS-11): the two profiles, every setting with its type, range, unit and
source clause, and the checks a value must pass before it is stored as an override.

Pure data and checks: the effective policy and the overrides' storage are in :mod:`engine.policy`, which
re-exports these names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from engine.errors import ValidationError
from forms.member_rules import RULE_SETS

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_PROFILE = "jilin"
PROFILE_NAMES = {"jilin": "吉林省（吉民发〔2017〕58号）", "baoji": "宝鸡市（宝民发〔2020〕200号）"}

#: the legal basis the 核对报告 cover cites (DO-7, BJ 附件3; JL 第一条), per profile
LEGAL_BASIS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "jilin": ("《社会救助暂行办法》", "《吉林省社会救助家庭经济状况核对工作管理办法（暂行）》（吉民发〔2017〕58号）"),
    "baoji": ("《陕西省社会救助办法》", "《陕西省居民家庭经济状况核对暂行办法》"),
})
#: the Jilin monthly windows (JL 规程 四): what may be done on which days of the month
WINDOW_KINDS = {
    "accept": "受理核对委托",
    "decision_feedback": "接收委托单位反馈上月救助审批情况",
    "exchange": "与信息共享单位进行数据交换",
    "results": "反馈核对结果",
}
#: which list of co-resident family members applies (DO-2, FAM-01): the rule sets of the household forms
MEMBER_LISTS = {code: rule_set.name for code, rule_set in RULE_SETS.items()}
#: who checks which items (JL 规程 三 上下分级核对; PS-5): see engine/services/tiering.py
TIERING_MODES = {
    "single": "本级核对本级及以上全部信息共享单位",
    "tiered": "上下分级核对：上级信息共享单位由上级核对机构核对并出具报告",
    "province": "省级全联通：全部事项由省级核对机构核对并出具报告",
}


@dataclass(frozen=True)
class Setting:
    """One policy key: its type, range, unit and the clause it comes from."""

    key: str
    label: str
    kind: str  # "int" | "windows" | "choice"
    unit: str = ""
    minimum: int = 1
    maximum: int = 366
    nullable: bool = False
    source: str = ""
    #: kind "choice": value -> Chinese name
    choices: Mapping[str, str] = field(default_factory=dict)


SETTINGS: dict[str, Setting] = {s.key: s for s in (
    Setting("county_check_days", "县级核对机构完成信息核对", "int", "工作日", source="BJ 第十六条（四）；PS-10"),
    Setting("city_check_days", "委托市级核对机构完成信息核对", "int", "工作日", source="BJ 第十六条（四）；PS-10"),
    Setting("reverification_days", "个案复核完成", "int", "工作日", source="BJ 第十七条（二）；PS-9"),
    Setting("sharing_reply_days", "信息共享单位反馈", "int", "工作日", source="JL 第十二条；DX-5"),
    Setting("sharing_delay_max_days", "信息共享单位书面说明后最多延长", "int", "工作日", minimum=0,
            source="JL 第十二条；DX-5"),
    Setting("material_completion_days", "申请材料限期补齐", "int", "工作日",
            source="BJ 第十六条（二）（未明定期限，默认 5 个工作日，可配置）"),
    Setting("objection_window_days", "核对对象提出书面复核申请", "int", "日", maximum=365,
            source="BJ 第十七条（二）(1)"),
    Setting("report_validity_months", "核对报告有效期", "int", "月", maximum=60, source="BJ 第十六条（五）；DO-10"),
    Setting("report_income_months", "核对报告收入核算期间（委托月份之前的整月数）", "int", "月", maximum=36,
            source="DO-7；BJ 附件3「××××年××月××日至××××年××月××日的收入」（期间长度未明定，默认 12 个月，可配置）"),
    Setting("decision_feedback_day", "救助审批情况反馈截止日（次月几日）", "int", "日", maximum=31, nullable=True,
            source="JL 规程 四；PS-12"),
    Setting("decision_feedback_days", "救助审批情况反馈期限（核对报告送达后）", "int", "工作日", nullable=True,
            source="PS-12（宝鸡未明定期限，默认 10 个工作日，可配置）"),
    Setting("monthly_windows", "每月业务时段", "windows", nullable=True, source="JL 规程 四；PS-11"),
    Setting("member_inclusion_list", "共同生活家庭成员认定依据", "choice", source="DO-2；FAM-01",
            choices=MEMBER_LISTS),
    Setting("verification_tiering", "核对事项分级", "choice", choices=TIERING_MODES,
            source="JL 规程 三（上下分级核对，分级出具报告）；BJ 第十六条（四）、第十八条；PS-5、PS-6"),
)}

_COMMON: dict[str, Any] = {
    "county_check_days": 10, "city_check_days": 15, "reverification_days": 15, "sharing_reply_days": 7,
    "sharing_delay_max_days": 5, "material_completion_days": 5, "objection_window_days": 30,
    "report_validity_months": 12, "report_income_months": 12,
    # today's behaviour in both profiles; "tiered" / "province" are the administrator's choice
    "verification_tiering": "single",
}
#: the two profiles; values are JSON (what an override stores)
PROFILES: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "jilin": MappingProxyType({
        **_COMMON, "decision_feedback_day": 10, "decision_feedback_days": None,
        "monthly_windows": {"accept": [1, 10], "decision_feedback": [1, 10], "exchange": [11, 20], "results": [1, 26]},
        "member_inclusion_list": "national_2021",
    }),
    "baoji": MappingProxyType({
        **_COMMON, "decision_feedback_day": None, "decision_feedback_days": 10, "monthly_windows": None,
        "member_inclusion_list": "baoji_2020",
    }),
})



# --- values ---------------------------------------------------------------------------------------------


def validate_value(key: str, value: Any) -> Any:
    """Return ``value`` normalised for ``key``; raise ``ValidationError`` with the field's Chinese message."""
    setting = SETTINGS.get(key)
    if setting is None:
        raise ValidationError(f"未知的政策参数「{key}」", code="unknown_policy_key", fields={"key": ["未知的政策参数"]})
    if value is None:
        if setting.nullable:
            return None
        raise ValidationError(fields={key: ["此项不能为空"]})
    if setting.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not setting.minimum <= value <= setting.maximum:
            raise ValidationError(fields={key: [f"须为 {setting.minimum}–{setting.maximum} 的整数（{setting.unit}）"]})
        return value
    if setting.kind == "choice":
        if value not in setting.choices:
            raise ValidationError(fields={key: [f"须为以下之一：{'、'.join(setting.choices)}"]})
        return value
    return _validate_windows(key, value)


def _validate_windows(key: str, value: Any) -> dict[str, list[int]]:
    if not isinstance(value, dict) or not value:
        raise ValidationError(fields={key: ["须为 {时段: [起始日, 截止日]} 的对象"]})
    out = {}
    for kind, bounds in sorted(value.items()):
        if kind not in WINDOW_KINDS:
            raise ValidationError(fields={key: [f"未知的时段「{kind}」；允许：{'、'.join(WINDOW_KINDS)}"]})
        ok = (isinstance(bounds, list | tuple) and len(bounds) == 2
              and all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
              and 1 <= bounds[0] <= bounds[1] <= 31)
        if not ok:
            raise ValidationError(fields={key: [f"时段「{kind}」须为 [起始日, 截止日]，1 ≤ 起始日 ≤ 截止日 ≤ 31"]})
        out[kind] = [bounds[0], bounds[1]]
    return out


def combined_problems(values: Mapping[str, Any]) -> list[str]:
    """What is wrong with a whole set of values together (each value already valid on its own)."""
    if values.get("decision_feedback_day") is None and values.get("decision_feedback_days") is None:
        return ["decision_feedback_day 与 decision_feedback_days 不能同时为空（须规定救助审批情况的反馈期限）"]
    return []
