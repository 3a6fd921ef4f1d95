"""Entrustments become verification cases (DO-5, PR-2), only with authorisations (PR-1), all or nothing;
the authorisation guard and exchange subjects (DX-4); electronic data packages (DO-6).

Runs on SQLite and, with HEDUI_TEST_DATABASE_URL, on PostgreSQL. Every person is synthetic.
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.history import verify_chain
from engine.models import Authorisation
from engine.models import AuthorisationPerson
from engine.models import Document
from engine.models import DocumentBlob
from engine.models import Entrustment
from engine.models import Event
from engine.models import Household
from engine.models import Person
from engine.models import WorkflowInstance
from engine.persistence import load_workflow
from engine.services.cases import ExchangeSubject
from engine.services.cases import assert_authorised
from engine.services.cases import create_entrustment
from engine.services.cases import end_authorisation
from engine.services.cases import exchange_subjects
from engine.services.demo import seed_demo
from engine.services.deploy import deploy_files
from engine.services.instances import list_open_tasks
from engine.services.org import get_unit_by_code
from engine.services.package_import import import_package
from engine.services.packages import DocumentIn
from tests.engine.package_factory import JPEG
from tests.engine.package_factory import PDF
from tests.engine.package_factory import PNG
from tests.engine.package_factory import SUBJECTS_PER_HOUSEHOLD
from tests.engine.package_factory import synthetic_household
from tests.engine.package_factory import synthetic_package

BPMN = Path(__file__).parents[2] / "bpmn" / "standard_verification.bpmn"
ADMIN = Actor("admin", "admin")
CLERK = Actor("cy_intake", "intake_officer")
TODAY = date(2026, 11, 23)
#: a 朝阳区 agency's default: every active sharing unit at its level and above (city, county, province)
SHARING = ["CC-BANK", "CC-BDC", "CC-GA", "CC-GJJ", "CC-SCJG", "CC-SW", "CY-CLH", "JL-SBJ"]


def seed(ctx: EngineContext) -> None:
    """The demo organisation and the standard verification diagram."""
    seed_demo(ctx, actor=ADMIN)
    deploy_files(ctx, {BPMN.name: BPMN.read_bytes()}, actor=Actor("designer", "process_designer"))


#: seeded once for the module; every test runs in a savepoint on top (concurrency: test_entrustments_commits.py)
SEED_ONCE = seed


@pytest.fixture
def intake(ctx: EngineContext) -> EngineContext:
    """The seeded demo organisation and diagram (a module using it seeds once: ``SEED_ONCE = seed``)."""
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    return ctx


def _scans(household: dict[str, Any]) -> list[DocumentIn]:
    applicant = household["members"][0]["id_number"]
    return [DocumentIn("authorisation", "授权书.pdf", PDF), DocumentIn("id_card", "身份证.png", PNG, applicant)]


def _entrust(ctx: EngineContext, households: list[dict[str, Any]], **kwargs: Any) -> Entrustment:
    kwargs.setdefault("documents", [_scans(h) for h in households])
    kwargs.setdefault("entrusting_unit", "HQ-MZB")
    kwargs.setdefault("agency_unit", "CY-HDZX")
    return create_entrustment(ctx, households=households, contact_name="周敏", contact_phone="0431-88880000",
                              actor=CLERK, **kwargs)


def _count(ctx: EngineContext, model: Any) -> int:
    return ctx.session.execute(select(func.count()).select_from(model)).scalar_one()


def _all_numbers(households: list[dict[str, Any]]) -> list[str]:
    return [p["id_number"] for h in households for p in (*h["members"], *h["obligors"]) if p["id_number"]]


# --- intake ------------------------------------------------------------------------------------


def test_an_entrustment_starts_one_case_per_household_at_intake_check(intake: EngineContext) -> None:
    households = [synthetic_household(0), synthetic_household(1)]
    entrustment = _entrust(intake, households, entrusted_on=date(2026, 11, 22), household_count=2, person_count=10)
    agency, street = get_unit_by_code(intake, "CY-HDZX"), get_unit_by_code(intake, "HQ-MZB")
    assert (entrustment.number, entrustment.household_count, entrustment.person_count) == (
        "WT-CY-HDZX-2026-000001", 2, 10)
    assert entrustment.source.value == "paper" and entrustment.entrusted_on == date(2026, 11, 22)
    cases = entrustment.households
    assert [c.case_no for c in cases] == ["HD-CY-HDZX-2026-000001", "HD-CY-HDZX-2026-000002"]
    for case in cases:
        instance = intake.session.get(WorkflowInstance, case.instance_id)
        assert instance is not None and instance.business_key == case.case_no
        assert (instance.agency_unit_id, instance.entrusting_unit_id, instance.region_code) == (
            agency.id, street.id, "220104001")
        [task] = list_open_tasks(intake, instance_id=instance.id)
        assert (task.bpmn_id, task.unit_id, task.role_code) == ("intake_check", agency.id, "intake_officer")
        data = load_workflow(intake, instance).task_data(task.id)
        subjects = [p.id for p in case.persons if p.is_subject]
        assert len(subjects) == SUBJECTS_PER_HOUSEHOLD and len(case.persons) == 6
        assert (data["case_no"], data["subject_ids"], data["sharing_units"]) == (case.case_no, subjects, SHARING)
        kinds = [e.kind for e in intake.session.execute(
            select(Event).where(Event.instance_id == instance.id).order_by(Event.seq)).scalars()]
        assert kinds[0] == "started" and "entrustment_received" in kinds
    assert verify_chain(intake.session) == []
    # the event log and the workflow state refer to persons by id only
    logged = json.dumps([e.payload for e in intake.session.execute(select(Event)).scalars()], ensure_ascii=False)
    logged += "".join(i.state for i in intake.session.execute(select(WorkflowInstance)).scalars())
    names = [p["name"] for h in households for p in (*h["members"], *h["obligors"])]
    assert not any(value in logged for value in [*_all_numbers(households), *names])


def test_what_is_stored_for_a_case(intake: EngineContext) -> None:
    household = synthetic_household(0)
    [case] = _entrust(intake, [household]).households
    applicant, spouse, child, student, conscript, daughter = case.persons
    assert case.applicant is applicant and applicant.relation == "self"
    assert (conscript.inclusion_rule, conscript.is_included, conscript.is_subject) == ("BJ9-EX-1", False, False)
    assert (daughter.role.value, daughter.is_included, daughter.is_subject, daughter.inclusion_rule) == (
        "obligor", False, True, None)
    assert applicant.id_number == household["members"][0]["id_number"]  # the full number, needed for exchange
    assert household["members"][0]["id_number"] not in repr(applicant)
    [authorisation] = case.authorisations
    assert authorisation.business_types == ["dibao", "medical"] and authorisation.valid_until is None
    assert {p.person_id: p.signature for p in authorisation.persons}[child.id] == "guardian_signed"
    documents = intake.session.execute(select(Document).where(Document.household_id == case.id)
                                       .order_by(Document.id)).scalars().all()
    assert [(d.kind.value, d.content_type, d.authorisation_id, d.person_id) for d in documents] == [
        ("authorisation", "application/pdf", authorisation.id, None), ("id_card", "image/png", None, applicant.id)]
    assert intake.session.get(DocumentBlob, documents[0].id).content == PDF


def test_numbers_continue_per_agency_and_year(intake: EngineContext) -> None:
    _entrust(intake, [synthetic_household(0)])
    second = _entrust(intake, [synthetic_household(1)], number="红民救委〔2026〕19号")
    assert second.number == "红民救委〔2026〕19号"
    assert second.households[0].case_no == "HD-CY-HDZX-2026-000002"
    with pytest.raises(ValidationError) as info:
        _entrust(intake, [synthetic_household(2)], number="红民救委〔2026〕19号")
    assert info.value.details["fields"]["number"] == ["该委托书编号已登记"]


def test_a_lower_agency_entrustment_starts_at_review(intake: EngineContext) -> None:
    entrustment = _entrust(intake, [synthetic_household(0)], entrusting_unit="CY-HDZX", agency_unit="CC-HDZX",
                           source="upward")
    [task] = list_open_tasks(intake, instance_id=entrustment.households[0].instance_id)
    assert task.bpmn_id == "review" and task.unit_id == get_unit_by_code(intake, "CC-HDZX").id


def test_one_bad_household_and_nothing_is_stored(intake: EngineContext, caplog: pytest.LogCaptureFixture) -> None:
    households = [synthetic_household(0), synthetic_household(1), synthetic_household(2)]
    bad_number = households[1]["members"][2]["id_number"][:17] + "0"
    households[1]["members"][2]["id_number"] = bad_number
    households[2]["members"][1]["signature"] = "missing"
    before = {m: _count(intake, m) for m in (Entrustment, Household, Person, WorkflowInstance, Event, Document)}
    with caplog.at_level(logging.DEBUG), pytest.raises(ValidationError) as info:
        _entrust(intake, households)
    fields = info.value.details["fields"]["households"]
    assert set(fields) == {1, 2}
    assert fields[1]["members"][2]["id_number"] == ["身份证号码校验位不正确，请核对后重新填写"]
    assert "先授权，后核对" in fields[2]["members"][1]["signature"][0]
    assert {m: _count(intake, m) for m in before} == before
    text = json.dumps(info.value.to_dict(), ensure_ascii=False, default=str) + caplog.text
    assert not any(n in text for n in [*_all_numbers(households), bad_number])


@pytest.mark.parametrize(("docs", "where", "message"), [
    ([], ("documents", "_schema"), "缺少授权书扫描件"),
    ([DocumentIn("authorisation", "a.gif", b"GIF89a....")], ("documents", 0, "file"), "仅接受 PDF、JPEG、PNG"),
    ([DocumentIn("authorisation", "a.pdf", b"")], ("documents", 0, "file"), "文件为空"),
    ([DocumentIn("authorisation", "a.pdf", PDF + b"0" * (10 * 1024 * 1024))], ("documents", 0, "file"), "超过 10 MB"),
    ([DocumentIn("authorisation", "a.pdf", PDF), DocumentIn("id_card", "id.jpg", JPEG, "110101202311012176")],
     ("documents", 1, "person_id_number"), "不在本户人员中"),
])
def test_scans_are_checked_by_content(intake: EngineContext, docs: list[DocumentIn], where: tuple[Any, ...],
                                      message: str) -> None:
    with pytest.raises(ValidationError) as info:
        _entrust(intake, [synthetic_household(0)], documents=[docs])
    node: Any = info.value.details["fields"]["households"][0]
    for key in where:
        node = node[key]
    assert any(message in m for m in node)
    assert _count(intake, Household) == 0


def test_only_an_assistance_department_or_lower_agency_may_entrust(intake: EngineContext) -> None:
    with pytest.raises(ValidationError) as info:  # PR-2 无委托，不核对
        _entrust(intake, [synthetic_household(0)], entrusting_unit="CC-BANK")
    assert "entrusting_unit" in info.value.details["fields"]
    with pytest.raises(ValidationError) as info:
        _entrust(intake, [synthetic_household(0)], agency_unit="CY-MZJ")
    assert "agency_unit" in info.value.details["fields"]
    with pytest.raises(NotFoundError):
        _entrust(intake, [synthetic_household(0)], entrusting_unit="NO-SUCH-UNIT")


def test_households_outside_the_agency_are_refused(intake: EngineContext) -> None:
    household = synthetic_household(0)
    household["region_code"] = "220102001"  # 南关区, not 朝阳区
    with pytest.raises(ValidationError) as info:
        _entrust(intake, [household])
    assert "辖区" in info.value.details["fields"]["households"][0]["region_code"][0]


def test_declared_counts_must_match_the_households(intake: EngineContext) -> None:
    with pytest.raises(ValidationError) as info:
        _entrust(intake, [synthetic_household(0)], household_count=1, person_count=6)
    assert info.value.details["fields"]["person_count"] == ["委托书所列人数与实际核对人数（5 人）不符"]


def test_explicit_sharing_units_are_checked(intake: EngineContext) -> None:
    entrustment = _entrust(intake, [synthetic_household(0)], sharing_units=["CC-GA", "CC-BANK"])
    instance = intake.session.get(WorkflowInstance, entrustment.households[0].instance_id)
    [task] = list_open_tasks(intake, instance_id=instance.id)
    assert load_workflow(intake, instance).task_data(task.id)["sharing_units"] == ["CC-GA", "CC-BANK"]
    with pytest.raises(ValidationError):
        _entrust(intake, [synthetic_household(1)], sharing_units=["CY-MZJ"])


# --- the authorisation guard (PR-1) and what an exchange may carry (DX-4) ---------------------------


def test_exchange_subjects_carry_only_name_and_id_number_of_authorised_persons(intake: EngineContext) -> None:
    household = synthetic_household(0)
    [case] = _entrust(intake, [household]).households
    subjects = exchange_subjects(intake, case.id, TODAY)
    assert [s.name for s in subjects] == [p.name for p in case.persons if p.is_subject]
    assert list(ExchangeSubject.__dataclass_fields__) == ["person_id", "name", "id_number"]
    assert all(s.id_number not in repr(s) for s in subjects)
    conscript = case.persons[4]
    assert conscript.id not in {s.person_id for s in subjects}
    with pytest.raises(PermissionDeniedError) as info:  # an excluded, unsigned member cannot be asked for
        exchange_subjects(intake, case.id, TODAY, person_ids=[conscript.id])
    assert info.value.code == "authorisation_missing"


def test_no_exchange_after_the_authorisation_ends(intake: EngineContext, caplog: pytest.LogCaptureFixture) -> None:
    household = synthetic_household(0)
    [case] = _entrust(intake, [household]).households
    subject_ids = [p.id for p in case.persons if p.is_subject]
    assert_authorised(intake, subject_ids, TODAY)
    end_authorisation(intake, case.authorisations[0].id, last_day=date(2026, 11, 22), reason="assistance_stopped",
                      actor=CLERK)
    with caplog.at_level(logging.DEBUG), pytest.raises(PermissionDeniedError) as info:
        assert_authorised(intake, subject_ids, TODAY)
    error = info.value
    assert error.code == "authorisation_missing"
    masked = [p.masked_id for p in case.persons if p.is_subject]
    assert [p["id_number"] for p in error.details["persons"]] == masked
    assert all(m in error.message for m in masked) and masked[0].startswith("2201") and "*" * 10 in masked[0]
    text = json.dumps(error.to_dict(), ensure_ascii=False) + caplog.text
    assert not any(n in text for n in _all_numbers([household]))
    assert exchange_subjects(intake, case.id, TODAY) == []
    with pytest.raises(PermissionDeniedError):
        exchange_subjects(intake, case.id, TODAY, person_ids=subject_ids[:1])
    assert_authorised(intake, subject_ids, date(2026, 11, 22))  # the last day itself was covered
    kinds = intake.session.execute(select(Event.kind).where(Event.instance_id == case.instance_id)).scalars().all()
    assert "authorisation_ended" in kinds


def test_the_guard_checks_date_business_type_and_unknown_persons(intake: EngineContext) -> None:
    [case] = _entrust(intake, [synthetic_household(0)]).households
    applicant = case.persons[0]
    with pytest.raises(PermissionDeniedError):  # before the authorisation was signed (2026-11-20)
        assert_authorised(intake, [applicant.id], date(2026, 11, 19))
    case.authorisations[0].business_types = ["medical"]  # the case's own business type no longer ticked
    intake.session.flush()
    with pytest.raises(PermissionDeniedError):
        assert_authorised(intake, [applicant.id], TODAY)
    with pytest.raises(PermissionDeniedError) as info:
        assert_authorised(intake, [999_999], TODAY)
    assert "人员#999999" in info.value.message
    assert_authorised(intake, [], TODAY)


def test_an_authorisation_of_another_household_does_not_count(intake: EngineContext) -> None:
    first, second = synthetic_household(0), synthetic_household(1)
    cases = _entrust(intake, [first, second]).households
    other = intake.session.get(Authorisation, cases[1].authorisations[0].id)
    applicant = cases[0].persons[0]
    end_authorisation(intake, cases[0].authorisations[0].id, last_day=date(2026, 11, 21), reason="revoked",
                      actor=CLERK)
    intake.session.add(AuthorisationPerson(authorisation_id=other.id, person_id=applicant.id, signature="signed"))
    intake.session.flush()
    with pytest.raises(PermissionDeniedError):
        assert_authorised(intake, [applicant.id], TODAY)


# --- electronic data packages (DO-6) -----------------------------------------------------------


def _import(ctx: EngineContext, package: bytes, **kwargs: Any):  # type: ignore[no-untyped-def]
    return import_package(ctx, package, entrusting_unit="HQ-MZB", agency_unit="CY-HDZX", actor=CLERK, **kwargs)


def test_a_valid_package_is_imported(intake: EngineContext) -> None:
    package = synthetic_package(2).to_zip()
    assert package == synthetic_package(2).to_zip()  # the factory is deterministic
    report = _import(intake, package)
    assert report.accepted and report.problems == [] and report.imported == ["H001", "H002"]
    entrustment = report.entrustment
    assert (entrustment.source.value, entrustment.number, entrustment.household_count, entrustment.person_count) == (
        "package", "红民救委〔2026〕18号", 2, 10)
    assert report.case_nos == ["HD-CY-HDZX-2026-000001", "HD-CY-HDZX-2026-000002"]
    types = intake.session.execute(select(Document.content_type).order_by(Document.id)).scalars().all()
    assert types == ["application/pdf", "image/png"] * 2
    assert len(entrustment.package_sha256) == 64
    again = _import(intake, package)
    assert not again.accepted and again.problems[0].message == "该数据包已经导入过"


def test_a_tampered_table_refuses_the_whole_package(intake: EngineContext) -> None:
    spec = synthetic_package(2)
    tables = spec.tables()
    tampered = tables["persons.csv"].replace("李秀兰测试0".encode(), "李秀芝测试0".encode())
    report = _import(intake, spec.to_zip(tamper={"persons.csv": tampered}), accept_valid_rows=True)
    assert not report.accepted and report.entrustment is None
    assert [(p.file, p.message) for p in report.problems] == [
        ("persons.csv", "文件内容与清单中的 sha256 摘要不符（可能已被篡改或损坏）")]
    assert _count(intake, Household) == 0
    refused = intake.session.execute(select(Event).where(Event.kind == "package_refused")).scalars().one()
    assert refused.payload["problems"] == 1


def test_a_tampered_scan_refuses_its_household(intake: EngineContext) -> None:
    spec = synthetic_package(2)
    package = spec.to_zip(tamper={"scans/H002/authorisation.pdf": PDF + b"% altered"})
    report = _import(intake, package)
    assert not report.accepted and _count(intake, Household) == 0
    assert [(p.file, p.row, p.field, p.household) for p in report.problems] == [
        ("documents.csv", 4, "file", "H002"), ("households.csv", 3, None, "H002")]  # digest, then no scan left
    report = _import(intake, package, accept_valid_rows=True)
    assert report.accepted and report.imported == ["H001"] and report.skipped == ["H002"]
    assert report.entrustment.household_count == 1 and _count(intake, Household) == 1


def test_counts_must_match_the_manifest(intake: EngineContext) -> None:
    report = _import(intake, synthetic_package(2).to_zip(counts={"persons": 11}), accept_valid_rows=True)
    assert not report.accepted
    [problem] = report.problems
    assert (problem.file, problem.field) == ("manifest.json", "counts.persons") and "（11）" in problem.message


def test_every_bad_row_is_reported_with_its_row_and_field(intake: EngineContext) -> None:
    spec = synthetic_package(3)
    persons = spec.persons  # 6 rows per household; row numbers count the header as 1
    persons[1]["id_number"] = persons[1]["id_number"][:17] + ("0" if persons[1]["id_number"][17] != "0" else "1")
    persons[2]["relation"] = "nephew"
    persons[8]["rule"] = "BJ9-IN-42"
    persons[9]["id_number"] = persons[8]["id_number"]
    persons[14]["role"] = "lodger"
    report = _import(intake, spec.to_zip())
    assert not report.accepted and _count(intake, Household) == 0
    found = {(p.file, p.row, p.field, p.household) for p in report.problems}
    assert {("persons.csv", 3, "id_number", "H001"), ("persons.csv", 4, "relation", "H001"),
            ("persons.csv", 10, "rule", "H002"), ("persons.csv", 11, "id_number", "H002"),
            ("persons.csv", 16, "role", "H003")} <= found
    assert all(not p.message.isascii() for p in report.problems)
    text = json.dumps([p.to_dict() for p in report.problems], ensure_ascii=False)
    assert persons[8]["id_number"] not in text and persons[1]["id_number"] not in text


def test_accept_valid_rows_imports_exactly_the_valid_households(intake: EngineContext) -> None:
    spec = synthetic_package(3)
    spec.persons[7]["signature"] = "missing"  # H002's spouse did not sign: 先授权，后核对
    report = _import(intake, spec.to_zip(), accept_valid_rows=True)
    assert report.accepted and report.imported == ["H001", "H003"] and report.skipped == ["H002"]
    [problem] = report.problems
    assert (problem.file, problem.row, problem.field, problem.household) == ("persons.csv", 9, "signature", "H002")
    cases = intake.session.execute(select(Household).order_by(Household.id)).scalars().all()
    assert [c.case_no for c in cases] == report.case_nos and len(cases) == 2
    assert report.entrustment.person_count == 2 * SUBJECTS_PER_HOUSEHOLD


def test_a_household_without_an_authorisation_scan_is_refused(intake: EngineContext) -> None:
    spec = synthetic_package(1)
    spec.documents = [d for d in spec.documents if d["kind"] != "authorisation"]
    del spec.scans["scans/H001/authorisation.pdf"]
    report = _import(intake, spec.to_zip())
    assert not report.accepted
    assert [(p.file, p.row, p.message) for p in report.problems] == [
        ("households.csv", 2, "缺少授权书扫描件（含全体签名和指模）")]


@pytest.mark.parametrize(("make", "file", "fragment"), [
    (lambda spec: b"not a zip", "（数据包）", "不是有效的 zip 文件"),
    (lambda spec: spec.to_zip(extra={"scans/H001/stray.pdf": PDF}), "scans/H001/stray.pdf", "未在清单"),
    (lambda spec: _with_manifest(spec, version=2), "manifest.json", "不支持的数据包版本"),
    (lambda spec: _with_manifest(spec, entrusting_unit="CY-MZJ"), "manifest.json", "委托单位"),
    (lambda spec: _with_manifest(spec, entrustment={"contact_name": "周敏", "contact_phone": "1",
                                                    "entrusted_on": "2026-12-01"}),
     "manifest.json", "委托时间不能晚于今天"),
])
def test_package_level_problems_refuse_everything(intake: EngineContext, make: Any, file: str,
                                                  fragment: str) -> None:
    report = _import(intake, make(synthetic_package(1)), accept_valid_rows=True)
    assert not report.accepted and _count(intake, Household) == 0
    assert any(p.file == file and fragment in p.message for p in report.problems), report.problems


def _with_manifest(spec: Any, **changes: Any) -> bytes:
    spec = copy.deepcopy(spec)
    spec.manifest.update(changes)
    return spec.to_zip()


def test_tables_with_unknown_or_missing_columns_are_refused(intake: EngineContext) -> None:
    spec = synthetic_package(1)
    tables = spec.tables()
    broken = tables["households.csv"].replace(b"business_type,", b"business,", 1)
    report = _import(intake, _rezip(spec, {"households.csv": broken}))
    assert {(p.file, p.field, p.message) for p in report.problems} >= {
        ("households.csv", "business", "未知的列"), ("households.csv", "business_type", "缺少必需的列")}


def _rezip(spec: Any, replace: dict[str, bytes]) -> bytes:
    """A package whose digests match the replaced content (a consistent but malformed package)."""
    import hashlib
    import io
    import zipfile

    original = zipfile.ZipFile(io.BytesIO(spec.to_zip()))
    manifest = json.loads(original.read("manifest.json"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in original.namelist():
            if name != "manifest.json":
                content = replace.get(name, original.read(name))
                manifest["files"][name] = hashlib.sha256(content).hexdigest()
                archive.writestr(name, content)
        archive.writestr("manifest.json", json.dumps(manifest))
    return buffer.getvalue()
