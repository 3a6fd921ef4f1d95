"""The 委托书 as it will be registered: "对×××等×户×人开展经济状况核对" (DO-5), built from a draft."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import date
from typing import Any

from engine.models import IntakeDraft
from engine.models import Unit
from forms.household import is_subject
from forms.ids import mask_id
from forms.member_rules import RELATIONS
from web.intake.schemas import household_input

#: stands for a name not yet typed, as on the printed form
BLANK = "×××"


@dataclass(frozen=True)
class Subject:
    """One person the entrustment asks to verify (counted members and support-duty persons)."""

    name: str
    relation: str
    masked_id: str
    kind: str


@dataclass
class Letter:
    entrusting_unit: str
    agency_unit: str
    number: str
    contact_name: str
    contact_phone: str
    dated: str
    applicant: str
    households: int
    persons: int
    subjects: list[Subject] = field(default_factory=list)

    @property
    def text(self) -> str:
        return f"对{self.applicant}等{self.households}户{self.persons}人开展经济状况核对"


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def letter_of(draft: IntakeDraft, agency: Unit | None, today: date) -> Letter:
    data = draft.data
    household = household_input(data)
    entrustment = data.get("entrustment") or {}
    subjects = [_subject(p, table) for table in ("members", "obligors") for p in household[table]
                if is_subject(p, "member" if table == "members" else "obligor")]
    applicant = next((p.get("name") for p in household["members"] if p.get("relation") == "self"), None)
    return Letter(
        entrusting_unit=draft.unit.name, agency_unit=agency.name if agency else "（未找到县级核对机构）",
        number=(entrustment.get("number") or "").strip() or "（提交后由系统编号）",
        contact_name=(entrustment.get("contact_name") or "").strip() or BLANK,
        contact_phone=(entrustment.get("contact_phone") or "").strip() or BLANK, dated=chinese_date(today),
        applicant=applicant or BLANK, households=1, persons=len(subjects), subjects=subjects)


def _subject(person: dict[str, Any], table: str) -> Subject:
    relation = RELATIONS.get(person.get("relation") or "", ("—", None))[0]
    kind = "共同生活家庭成员" if table == "members" else "法定赡养、扶养、抚养义务人"
    return Subject(person.get("name") or BLANK, relation, mask_id(person.get("id_number")), kind)
