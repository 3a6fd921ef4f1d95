"""The new-entrustment wizard: business type → persons → scans → letter preview → submit.

Every step posts back to the draft, which is saved (as typed) before anything is
validated, so an error never loses input and a reload shows the last saved state; the
page script also saves while typing (``…/autosave``). Submitting calls
``engine.services.cases.create_entrustment``, which validates everything again.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from datetime import datetime
from typing import Any

from flask import flash
from flask import g
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from engine.calendar import SHANGHAI
from engine.context import Actor
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.models import IntakeDraft
from engine.models import IntakeDraftFile
from engine.models import Unit
from engine.models.case import DOCUMENT_KIND_NAMES
from engine.policy import effective_policy
from engine.services.cases import create_entrustment
from engine.services.packages import MAX_DOCUMENT_BYTES
from engine.services.packages import DocumentIn
from engine.services.packages import check_document
from web.credit.views import warn_new_cases
from web.db import get_ctx
from web.intake import queries
from web.intake import schemas
from web.intake.blueprint import bp
from web.intake.pages import UPLOAD_KINDS
from web.intake.pages import step_context

logger = logging.getLogger(__name__)

FORM_INVALID = "本步骤有填写错误，已保存草稿，请按提示修改"
NO_AUTHORISATION = "请上传授权书扫描件（含全体成员签名和指模）"
NO_AGENCY = "未找到本单位所在县（市、区）的核对机构，无法委托，请联系系统管理员"


def _now() -> datetime:
    return get_ctx().now()


def _draft(draft_id: int) -> IntakeDraft:
    return queries.get_draft(get_ctx().session, draft_id, current_user.id)


def _step(step: str) -> str:
    if step not in schemas.STEP_CODES:
        raise NotFoundError("页面不存在")
    return step


def _save(draft: IntakeDraft, data: dict[str, Any], step: str) -> None:
    draft.data = data
    draft.step = step
    draft.updated_at = _now()
    get_ctx().session.flush()


def _keep_draft() -> None:
    """Commit the draft although the answer is 422: what was typed is saved even when it is invalid."""
    g.hedui_commit_on_error = True


def _neighbour(step: str, offset: int) -> str:
    index = schemas.STEP_CODES.index(step) + offset
    return schemas.STEP_CODES[max(0, min(index, len(schemas.STEP_CODES) - 1))]


def _page(draft: IntakeDraft, step: str, *, errors: dict[str, list[str]] | None = None,
          message: str | None = None, status: int = 200, **extra: Any) -> ResponseReturnValue:
    context = step_context(get_ctx(), draft, step, errors or {}, agency=_agency(draft.unit))
    context.update(extra)
    return render_template(f"intake/{step}.html", message=message, **context), status


def _agency(unit: Unit) -> Unit | None:
    return queries.county_agency(get_ctx().session, unit)


# --- start -------------------------------------------------------------------------------------------------


@bp.get("/new")
def new() -> str:
    return _start_page({})


def _start_page(errors: dict[str, list[str]]) -> str:
    units = g.intake_units
    return render_template("intake/start.html", units=units, unit_choices=[(str(u.id), u.name) for u in units],
                           drafts=queries.list_drafts(get_ctx().session, current_user.id), steps=schemas.STEPS,
                           step_titles=schemas.STEP_TITLES, errors=errors, local=_local)


@bp.post("/new")
def start() -> ResponseReturnValue:
    ctx = get_ctx()
    units = {str(u.id): u for u in g.intake_units}
    unit = units.get(request.form.get("unit_id", "")) if len(units) > 1 else next(iter(units.values()))
    if unit is None:
        return _start_page({"unit_id": ["请选择委托单位"]}), 422
    policy = effective_policy(ctx, ctx.policy_profile)
    now = _now()
    draft = IntakeDraft(user_id=current_user.id, unit_id=unit.id, step="business",
                        data=schemas.new_draft_data(policy.member_inclusion_list), created_at=now, updated_at=now)
    ctx.session.add(draft)
    ctx.session.flush()
    logger.info("Intake draft %s started by %s for %s", draft.id, current_user.username, unit.code)
    return redirect(url_for("intake.step", draft_id=draft.id, step="business"))


def _local(when: datetime) -> str:
    return when.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


@bp.get("/drafts/<int:draft_id>")
def resume(draft_id: int) -> ResponseReturnValue:
    draft = _draft(draft_id)
    return redirect(url_for("intake.step", draft_id=draft.id, step=draft.step))


@bp.post("/drafts/<int:draft_id>/delete")
def delete(draft_id: int) -> ResponseReturnValue:
    draft = _draft(draft_id)
    get_ctx().session.delete(draft)
    flash("草稿已删除", "success")
    return redirect(url_for("intake.new"))


# --- the steps ---------------------------------------------------------------------------------------------


@bp.get("/drafts/<int:draft_id>/<step>")
def step(draft_id: int, step: str) -> ResponseReturnValue:
    draft = _draft(draft_id)
    step = _step(step)
    if draft.step != step:
        draft.step = step  # resuming later opens the page seen last
    return _page(draft, step)


@bp.post("/drafts/<int:draft_id>/<step>")
def save(draft_id: int, step: str) -> ResponseReturnValue:
    draft = _draft(draft_id)
    step = _step(step)
    action = request.form.get("action", "save")
    if step == "letter":
        return _submit(draft) if action == "submit" else redirect(url_for(
            "intake.step", draft_id=draft.id, step=_neighbour(step, -1)))
    data = copy.deepcopy(draft.data)
    if step == "business":
        schemas.read_business(request.form, data)
    elif step == "members":
        schemas.read_persons(request.form, data)
        if schemas.apply_row_action(action, data):
            _save(draft, data, step)
            return redirect(url_for("intake.step", draft_id=draft.id, step=step, _anchor="persons"))
    _save(draft, data, step)
    if step == "documents":
        chosen = request.files.get("file")
        upload_errors = _upload(draft) if chosen and chosen.filename else (
            {"file": ["请选择要上传的文件"]} if action == "upload" else {})
        if upload_errors:
            _keep_draft()
            return _page(draft, step, errors=upload_errors, message="扫描件未能上传，请按提示处理", status=422)
    return _after_save(draft, step, action)


def _after_save(draft: IntakeDraft, step: str, action: str) -> ResponseReturnValue:
    if action == "back":
        return redirect(url_for("intake.step", draft_id=draft.id, step=_neighbour(step, -1)))
    if action != "next":
        flash("草稿已保存", "success")
        return redirect(url_for("intake.step", draft_id=draft.id, step=step))
    errors = _step_errors(draft, step)
    if errors:
        _keep_draft()
        return _page(draft, step, errors=errors, message=FORM_INVALID, status=422)
    return redirect(url_for("intake.step", draft_id=draft.id, step=_neighbour(step, 1)))


def _step_errors(draft: IntakeDraft, step: str) -> dict[str, list[str]]:
    if step == "documents":
        return {} if _has_authorisation(draft) else {"documents": [NO_AUTHORISATION]}
    return schemas.errors_for_step(schemas.validate_draft(draft.data, get_ctx().today()), step)


def _has_authorisation(draft: IntakeDraft) -> bool:
    return any(f.kind == "authorisation" for f in draft.files)


@bp.post("/drafts/<int:draft_id>/<step>/autosave")
def autosave(draft_id: int, step: str) -> ResponseReturnValue:
    """Save what is typed, without validating (the page script calls this while the clerk types)."""
    draft = _draft(draft_id)
    if step not in ("business", "members"):
        raise NotFoundError("页面不存在")
    data = copy.deepcopy(draft.data)
    (schemas.read_business if step == "business" else schemas.read_persons)(request.form, data)
    _save(draft, data, step)
    return jsonify({"saved": True, "saved_at": draft.updated_at.astimezone(SHANGHAI).strftime("%H:%M:%S")})


# --- scans -------------------------------------------------------------------------------------------------


def _upload(draft: IntakeDraft) -> dict[str, list[str]]:
    """Store the posted scan on the draft; the type is sniffed from the content, never the name."""
    upload = request.files["file"]
    kind = request.form.get("kind", "")
    errors: dict[str, list[str]] = {}
    if kind not in UPLOAD_KINDS:
        errors["kind"] = ["请选择材料类别"]
    content = upload.stream.read(MAX_DOCUMENT_BYTES + 1)
    doc = DocumentIn(kind if kind in UPLOAD_KINDS else "other", upload.filename or "scan", content)
    for name, problem in check_document(doc):
        errors.setdefault("file" if name == "file" else name, []).append(problem)
    uids = {p["uid"] for table in schemas.PERSON_FIELDS for p in draft.data["household"].get(table) or []}
    person_uid = request.form.get("person_uid") or None
    if person_uid is not None and person_uid not in uids:
        errors["person_uid"] = ["请从列表中选择对应人员"]
    if errors:
        return errors
    draft.files.append(IntakeDraftFile(
        kind=kind, filename=doc.safe_filename, content_type=doc.content_type or "", size=len(content),
        sha256=hashlib.sha256(content).hexdigest(), person_uid=person_uid, content=content, created_at=_now()))
    get_ctx().session.flush()
    flash(f"已上传{DOCUMENT_KIND_NAMES[kind]}「{doc.safe_filename}」", "success")
    return {}


@bp.post("/drafts/<int:draft_id>/files/<int:file_id>/delete")
def delete_file(draft_id: int, file_id: int) -> ResponseReturnValue:
    draft = _draft(draft_id)
    found = next((f for f in draft.files if f.id == file_id), None)
    if found is None:
        raise NotFoundError("扫描件不存在")
    draft.files.remove(found)
    draft.updated_at = _now()
    flash(f"已删除「{found.filename}」", "success")
    return redirect(url_for("intake.step", draft_id=draft.id, step="documents"))


# --- submit ------------------------------------------------------------------------------------------------


def _submit(draft: IntakeDraft) -> ResponseReturnValue:
    ctx = get_ctx()
    if draft.unit_id not in {u.id for u in g.intake_units}:
        raise PermissionDeniedError("您已不是该委托单位的经办人，不能提交此草稿", code="role_required")
    agency = _agency(draft.unit)
    if agency is None:
        return _page(draft, "letter", errors={"_schema": [NO_AGENCY]}, message=NO_AGENCY, status=422)
    data = draft.data
    household = schemas.household_input(data)
    uid_numbers = {p["uid"]: (p.get("id_number") or "").strip().upper()
                   for table in schemas.PERSON_FIELDS for p in data["household"].get(table) or []}
    documents = [DocumentIn(f.kind, f.filename, f.content, uid_numbers.get(f.person_uid or "") or None)
                 for f in draft.files]
    letter = data.get("entrustment") or {}
    try:
        entrustment = create_entrustment(
            ctx, entrusting_unit=draft.unit, agency_unit=agency, households=[household], documents=[documents],
            contact_name=(letter.get("contact_name") or "").strip(),
            contact_phone=(letter.get("contact_phone") or "").strip(),
            number=(letter.get("number") or "").strip() or None, entrusted_on=ctx.today(),
            actor=Actor(current_user.username, queries.CLERK_ROLE, current_user.id), source="paper")
    except ValidationError as exc:
        errors = schemas.wizard_errors(exc.details.get("fields") or {})
        if not _has_authorisation(draft):
            errors.setdefault("documents", []).append(NO_AUTHORISATION)
        return _page(draft, "letter", errors=errors, message=exc.message, status=422)
    case_nos = [h.case_no for h in entrustment.households]
    ctx.session.delete(draft)
    flash(f"已登记委托书 {entrustment.number}（{entrustment.household_count} 户 {entrustment.person_count} 人），"
          f"核对案件编号 {'、'.join(case_nos)}", "success")
    logger.info("Intake draft %s submitted as %s by %s", draft.id, entrustment.number, current_user.username)
    warn_new_cases(list(entrustment.households))  # AU-3: a subject with a dishonesty record in force
    return redirect(url_for("cases.case", case_no=case_nos[0]))
