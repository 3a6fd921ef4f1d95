"""What each step page of the intake wizard shows, besides the draft itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.context import EngineContext
from engine.models import IntakeDraft
from engine.models import Unit
from engine.models.case import DOCUMENT_KIND_NAMES
from engine.services.packages import MAX_DOCUMENT_BYTES
from forms.household import BUSINESS_TYPES
from forms.household import SIGNATURES
from forms.member_rules import DEFAULT_RULE_SET
from forms.member_rules import DUTIES
from forms.member_rules import RELATIONS
from forms.member_rules import RULE_SETS
from web.intake import queries
from web.intake import schemas
from web.intake.letter import letter_of

#: document kinds a clerk uploads in the wizard (the 委托书 itself is generated)
UPLOAD_KINDS = ("authorisation", "id_card", "hukou", "evidence", "other")


@dataclass(frozen=True)
class Problem:
    """One error on the letter page, with a link to the step that shows the field."""

    step: str
    step_no: int
    step_title: str
    where: str
    messages: list[str]


def step_context(ctx: EngineContext, draft: IntakeDraft, step: str, errors: dict[str, list[str]],
                 *, agency: Unit | None) -> dict[str, Any]:
    data = draft.data
    household = data.get("household") or {}
    context: dict[str, Any] = {
        "draft": draft, "data": data, "household": household, "entrustment": data.get("entrustment") or {},
        "authorisation": household.get("authorisation") or {}, "step": step, "steps": schemas.STEPS,
        "step_titles": schemas.STEP_TITLES, "errors": errors, "unit": draft.unit, "agency": agency,
        "autosave": step in ("business", "members"),
    }
    context.update(_EXTRA[step](ctx, draft, errors, agency))
    return context


def _business(ctx: EngineContext, draft: IntakeDraft, errors: dict[str, list[str]],
              agency: Unit | None) -> dict[str, Any]:
    return {"business_types": list(BUSINESS_TYPES.items()),
            "rule_sets": [(code, rs.name) for code, rs in RULE_SETS.items()],
            "regions": queries.region_choices(ctx.session, draft.unit), "today": ctx.today().isoformat()}


def _members(ctx: EngineContext, draft: IntakeDraft, errors: dict[str, list[str]],
             agency: Unit | None) -> dict[str, Any]:
    code = (draft.data.get("household") or {}).get("rule_set") or DEFAULT_RULE_SET
    rules = RULE_SETS.get(code) or RULE_SETS[DEFAULT_RULE_SET]
    rule_groups = [("计入共同生活家庭成员", [(r.code, f"{r.label}（{r.source}）") for r in rules.rules if r.included]),
                   ("不计入共同生活家庭成员", [(r.code, f"{r.label}（{r.source}）") for r in rules.rules
                                      if not r.included])]
    relations = [(k, v[0]) for k, v in RELATIONS.items()]
    return {"relations": {"members": relations, "obligors": [r for r in relations if r[0] != "self"]},
            "rule_groups": rule_groups, "rule_set_name": rules.name, "signatures": list(SIGNATURES.items()),
            "duties": list(DUTIES.items()), "table_names": schemas.TABLE_NAMES, "max_persons": schemas.MAX_PERSONS}


def persons_of(draft: IntakeDraft) -> list[tuple[str, str]]:
    """``(uid, label)`` of every person row, for linking a scan to its person."""
    household = draft.data.get("household") or {}
    out = []
    for table in ("members", "obligors"):
        for index, person in enumerate(household.get(table) or []):
            name = (person.get("name") or "").strip() or "（未填写姓名）"
            out.append((person["uid"], f"{schemas.TABLE_NAMES[table]} {index + 1}：{name}"))
    return out


def _documents(ctx: EngineContext, draft: IntakeDraft, errors: dict[str, list[str]],
               agency: Unit | None) -> dict[str, Any]:
    persons = persons_of(draft)
    return {"files": draft.files, "kinds": [(k, DOCUMENT_KIND_NAMES[k]) for k in UPLOAD_KINDS],
            "kind_names": DOCUMENT_KIND_NAMES, "persons": persons, "person_names": dict(persons),
            "max_bytes": MAX_DOCUMENT_BYTES, "max_mb": MAX_DOCUMENT_BYTES // (1024 * 1024)}


def _letter(ctx: EngineContext, draft: IntakeDraft, errors: dict[str, list[str]],
            agency: Unit | None) -> dict[str, Any]:
    today = ctx.today()
    problems = dict(errors) or schemas.validate_draft(draft.data, today)
    if not any(f.kind == "authorisation" for f in draft.files):
        problems.setdefault("documents", ["请上传授权书扫描件（含全体成员签名和指模）"])
    listed = []
    for name, messages in problems.items():
        step = schemas.step_of(name)
        listed.append(Problem(step, schemas.STEP_CODES.index(step) + 1, schemas.STEP_TITLES[step],
                              schemas.field_label(name, draft.data), messages))
    listed.sort(key=lambda p: p.step_no)
    return {"letter": letter_of(draft, agency, today), "problems": listed, "files": draft.files,
            "kind_names": DOCUMENT_KIND_NAMES}


_EXTRA = {"business": _business, "members": _members, "documents": _documents, "letter": _letter}
