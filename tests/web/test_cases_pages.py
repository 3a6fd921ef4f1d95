"""Case page, search and batch import: jurisdiction (404 outside it), masked ID numbers, every view,
unmasking and ID-number search recorded without the number, and the package report → choice → import."""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from engine.context import Actor
from engine.models import Event
from engine.models import ImportJob
from engine.models import WorkflowInstance
from engine.services.cases import create_entrustment
from engine.services.packages import DocumentIn
from tests.engine.package_factory import PDF
from tests.engine.package_factory import make_id
from tests.engine.package_factory import synthetic_household
from tests.engine.package_factory import synthetic_package
from tests.web.test_intake import post
from tests.web.test_intake import seed_deployed
from tests.web.test_login import assert_valid_html
from tests.web.test_login import login
from tests.web.test_login import logout

APPLICANT_ID = make_id(date(1970, 1, 5), 0, male=True)
CLERK = Actor("hq_street_clerk", "street_clerk")
#: the demo organisation and the diagrams, seeded once for the module (cases are made per test)
SEED_ONCE = seed_deployed


def make_case(app, index: int = 0) -> str:  # type: ignore[no-untyped-def]
    """One 朝阳区 case (红旗街道 → 朝阳区核对中心), committed; returns its case number."""
    ctx = app.extensions["hedui"].new_context()
    entrustment = create_entrustment(
        ctx, entrusting_unit="HQ-MZB", agency_unit="CY-HDZX", households=[synthetic_household(index)],
        documents=[[DocumentIn("authorisation", "授权书.pdf", PDF)]], contact_name="周敏",
        contact_phone="0431-88886666", actor=CLERK)
    case_no = entrustment.households[0].case_no
    ctx.session.commit()
    ctx.session.close()
    return case_no


@pytest.fixture
def case_no(app) -> str:  # type: ignore[no-untyped-def]
    """A new case (a module using it seeds once: ``SEED_ONCE = seed_deployed``)."""
    return make_case(app)


def events(app, kind: str) -> list[Event]:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        rows = list(session.execute(select(Event).where(Event.kind == kind).order_by(Event.seq)).scalars())
        for row in rows:
            session.expunge(row)
        return rows


# --- the case page --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["cy_intake", "hq_street_clerk", "cc_reviewer", "auditor"])
def test_the_case_page_shows_masked_ids_to_the_jurisdiction(app, client, case_no: str,  # type: ignore[no-untyped-def]
                                                             username: str) -> None:
    login(client, username)
    response = client.get(f"/cases/{case_no}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert_valid_html(html)
    assert "张三丰测试" in html and APPLICANT_ID not in html and "2201**********0017"[:6] in html
    assert "红旗街道民政办" in html and "朝阳区社会救助家庭经济状况核对中心" in html
    assert "授权书.pdf" in html and "城乡低保、医疗救助" in html and "入伍通知书" not in html
    viewed = events(app, "personal_data_viewed")
    assert [(e.actor, e.payload["business_key"], e.payload["page"]) for e in viewed] == [(username, case_no, "case")]


def test_a_case_outside_the_jurisdiction_is_404(app, client, case_no: str) -> None:  # type: ignore[no-untyped-def]
    login(client, "ng_intake")
    response = client.get(f"/cases/{case_no}")
    assert response.status_code == 404 and "张三丰测试" not in response.get_data(as_text=True)
    assert post(client, f"/cases/{case_no}/unmask", {"purpose": "paper_check"}).status_code == 404
    assert client.get("/cases/HD-NONE-2026-000001").status_code == 404
    assert events(app, "personal_data_viewed") == [] and events(app, "personal_data_unmasked") == []


def test_the_case_page_links_to_the_current_task(app, client, case_no: str) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    html = client.get(f"/cases/{case_no}").get_data(as_text=True)
    with app.extensions["hedui"].session_factory() as session:
        from engine.models import HumanTask

        task = session.execute(select(HumanTask).join(WorkflowInstance)
                               .where(WorkflowInstance.business_key == case_no)).scalar_one()
    assert f'href="/tasks/{task.id}">{task.name}</a>' in html and "待认领" in html


def test_unmasking_needs_a_duty_and_a_purpose_and_is_recorded(app, client, case_no: str) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    assert "显示完整证件号" in client.get(f"/cases/{case_no}").get_data(as_text=True)
    response = post(client, f"/cases/{case_no}/unmask", {"purpose": ""})
    assert response.status_code == 422 and "请从列表中选择查看用途" in response.get_data(as_text=True)
    response = post(client, f"/cases/{case_no}/unmask", {"purpose": "other", "note": ""})
    assert response.status_code == 422 and "选择「其他」时请说明用途" in response.get_data(as_text=True)
    assert events(app, "personal_data_unmasked") == []
    response = post(client, f"/cases/{case_no}/unmask", {"purpose": "paper_check", "note": "与纸质授权书比对"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and APPLICANT_ID in html and "此次查看已记录" in html
    assert_valid_html(html)
    [unmasked] = events(app, "personal_data_unmasked")
    assert unmasked.actor == "cy_intake" and unmasked.payload["purpose"] == "paper_check"
    assert unmasked.payload["business_key"] == case_no and len(unmasked.payload["person_ids"]) == 6
    assert APPLICANT_ID not in json.dumps(unmasked.payload)
    # a reload is masked again
    assert APPLICANT_ID not in client.get(f"/cases/{case_no}").get_data(as_text=True)


def test_one_person_can_be_unmasked_alone(app, client, case_no: str) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    with app.extensions["hedui"].session_factory() as session:
        from engine.models import Person

        spouse = session.execute(select(Person).where(Person.relation == "spouse")).scalar_one()
    html = post(client, f"/cases/{case_no}/unmask", {"purpose": "exchange", "person_id": str(spouse.id)}
                ).get_data(as_text=True)
    assert spouse.id_number in html and APPLICANT_ID not in html
    assert events(app, "personal_data_unmasked")[0].payload["person_ids"] == [spouse.id]


def test_staff_without_a_duty_on_the_case_cannot_unmask(app, client, case_no: str) -> None:  # type: ignore[no-untyped-def]
    login(client, "cc_reviewer")  # the city agency: jurisdiction over the county, no role in the case's units
    assert "显示完整证件号" not in client.get(f"/cases/{case_no}").get_data(as_text=True)
    response = post(client, f"/cases/{case_no}/unmask", {"purpose": "paper_check"})
    assert response.status_code == 403 and APPLICANT_ID not in response.get_data(as_text=True)
    assert events(app, "personal_data_unmasked") == []


# --- search ---------------------------------------------------------------------------------------------------


def test_the_search_page_is_valid_html_and_linked(app, client, case_no: str) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    assert 'href="/cases/search"' in client.get("/").get_data(as_text=True)
    response = client.get("/cases/search")
    assert response.status_code == 200 and 'method="post"' in response.get_data(as_text=True)
    assert_valid_html(response.get_data(as_text=True))


def test_search_by_case_number_opens_the_case(client, case_no: str) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    response = post(client, "/cases/search", {"q": case_no})
    assert response.status_code == 302 and response.headers["Location"] == f"/cases/{case_no}"
    html = post(client, "/cases/search", {"q": case_no[:-1]}).get_data(as_text=True)  # exact match only
    assert "未找到该编号的案件" in html


def test_search_by_id_number_is_recorded_with_a_hash_never_the_number(app, client, case_no: str) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    response = post(client, "/cases/search", {"q": APPLICANT_ID.lower(), "purpose": "duplicate_check"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert_valid_html(html)
    assert f'href="/cases/{case_no}"' in html and APPLICANT_ID not in html and "共同生活家庭成员" in html
    [searched] = events(app, "personal_data_searched")
    payload = json.dumps(searched.payload, ensure_ascii=False)
    assert searched.actor == "cy_intake" and searched.payload["purpose"] == "duplicate_check"
    assert searched.payload["id_hash"].startswith("hmac-sha256:") and searched.payload["case_nos"] == [case_no]
    assert APPLICANT_ID not in payload and APPLICANT_ID[:14] not in payload
    # the same number gives the same hash (an auditor can find every search for one person)
    post(client, "/cases/search", {"q": APPLICANT_ID, "purpose": "enquiry"})
    first, second = events(app, "personal_data_searched")
    assert first.payload["id_hash"] == second.payload["id_hash"]


def test_an_id_search_needs_a_purpose_and_a_valid_number(app, client, case_no: str) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    response = post(client, "/cases/search", {"q": APPLICANT_ID})
    assert response.status_code == 422 and "按身份证号码查询须选择查询用途" in response.get_data(as_text=True)
    wrong = APPLICANT_ID[:-1] + ("0" if APPLICANT_ID[-1] != "0" else "1")
    response = post(client, "/cases/search", {"q": wrong, "purpose": "duplicate_check"})
    assert response.status_code == 422 and "校验位不正确" in response.get_data(as_text=True)
    assert events(app, "personal_data_searched") == []


def test_an_id_search_only_finds_cases_in_the_jurisdiction(app, client, case_no: str) -> None:  # type: ignore[no-untyped-def]
    login(client, "ng_intake")
    html = post(client, "/cases/search", {"q": APPLICANT_ID, "purpose": "duplicate_check"}).get_data(as_text=True)
    assert case_no not in html and "您辖区内没有登记身份证号码" in html
    [searched] = events(app, "personal_data_searched")
    assert searched.actor == "ng_intake" and searched.payload["results"] == 0


# --- batch import ---------------------------------------------------------------------------------------------


class RecordingQueue:
    """Holds enqueued jobs until the test runs them (the page can be seen while the job is pending)."""

    def __init__(self, state: Any) -> None:
        self.state, self.jobs = state, []

    def enqueue(self, name: str, **kwargs: Any) -> None:
        self.jobs.append((name, kwargs))

    def run_all(self) -> list[Any]:
        from web.jobs import execute

        done, self.jobs = self.jobs, []
        return [execute(self.state, name, kwargs) for name, kwargs in done]


@pytest.fixture
def importer(app, client):  # type: ignore[no-untyped-def]
    login(client, "hq_street_clerk")
    return client


def upload_zip(client, content: bytes, name: str = "package.zip"):  # type: ignore[no-untyped-def]
    return post(client, "/cases/import", {"package": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def job_id(response) -> int:  # type: ignore[no-untyped-def]
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def import_job(app, job: int) -> ImportJob:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        row = session.get(ImportJob, job)
        assert row is not None
        session.expunge(row)
        return row


def test_only_entrusting_staff_import(app, client) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    assert client.get("/cases/import").status_code == 403
    assert "批量导入" not in client.get("/").get_data(as_text=True)


def test_a_valid_package_is_checked_then_imported(app, importer) -> None:  # type: ignore[no-untyped-def]
    page = importer.get("/cases/import")
    assert page.status_code == 200
    assert_valid_html(page.get_data(as_text=True))
    job = job_id(upload_zip(importer, synthetic_package(2).to_zip()))
    html = importer.get(f"/cases/import/{job}").get_data(as_text=True)
    assert_valid_html(html)
    assert "校验完成，请确认是否导入" in html and "可导入：<strong>2</strong> 户" in html and "确认导入" in html
    assert "accept_valid_rows" not in html  # nothing to skip
    checked = import_job(app, job)
    assert checked.status.value == "validated" and checked.report["valid"] == ["H001", "H002"]
    with app.extensions["hedui"].session_factory() as session:  # the check imported nothing
        assert session.execute(select(WorkflowInstance)).first() is None
    assert events(app, "package_imported") == [] and events(app, "package_refused") == []
    response = post(importer, f"/cases/import/{job}/run", {})
    assert response.status_code == 302
    html = importer.get(f"/cases/import/{job}").get_data(as_text=True)
    assert "已导入" in html and "HD-CY-HDZX-2026-000001" in html and "HD-CY-HDZX-2026-000002" in html
    done = import_job(app, job)
    assert done.status.value == "imported" and done.progress == 100 and done.finished_at is not None
    assert len(events(app, "package_imported")) == 1
    with app.extensions["hedui"].session_factory() as session:
        assert session.get(ImportJob, job).package is None  # the scans now live with their cases


def test_problems_are_reported_row_by_row_and_valid_rows_only_on_request(app, importer) -> None:  # type: ignore[no-untyped-def]
    spec = synthetic_package(2)
    spec.persons[7]["id_number"] = "110101199001011233"  # H002's spouse: wrong check digit
    job = job_id(upload_zip(importer, spec.to_zip()))
    html = importer.get(f"/cases/import/{job}").get_data(as_text=True)
    assert "可导入：<strong>1</strong> 户" in html and "有问题：<strong>1</strong> 户" in html
    assert "<td>persons.csv</td><td>9</td><td>id_number</td>" in html and "身份证号码校验位不正确" in html
    assert "110101199001011233" not in html
    # without ticking "only the valid households", nothing is imported
    response = post(importer, f"/cases/import/{job}/run", {})
    assert response.status_code == 302 and import_job(app, job).status.value == "validated"
    assert "数据包存在问题" in importer.get(f"/cases/import/{job}").get_data(as_text=True)
    post(importer, f"/cases/import/{job}/run", {"accept_valid_rows": "yes"})
    done = import_job(app, job)
    assert done.status.value == "imported" and done.accept_valid_rows is True
    assert done.report["imported"] == ["H001"] and done.report["skipped"] == ["H002"]
    assert post(importer, f"/cases/import/{job}/run", {"accept_valid_rows": "yes"}).status_code == 409


def test_a_broken_package_is_refused_whole(app, importer) -> None:  # type: ignore[no-untyped-def]
    job = job_id(upload_zip(importer, b"PK\x03\x04 not really a zip"))
    html = importer.get(f"/cases/import/{job}").get_data(as_text=True)
    assert "不是有效的 zip 文件" in html and "未导入（存在问题）" in html and "确认导入</button>" not in html
    assert post(importer, f"/cases/import/{job}/run", {"accept_valid_rows": "yes"}).status_code == 409
    refused = import_job(app, job)
    assert refused.status.value == "refused" and refused.finished_at is not None
    response = upload_zip(importer, b"", "empty.zip")
    assert response.status_code == 422 and "请选择要上传的数据包" in response.get_data(as_text=True)


def test_a_package_can_be_discarded(app, importer) -> None:  # type: ignore[no-untyped-def]
    job = job_id(upload_zip(importer, synthetic_package(1).to_zip()))
    assert post(importer, f"/cases/import/{job}/discard", {}).status_code == 302
    with app.extensions["hedui"].session_factory() as session:
        row = session.get(ImportJob, job)
        assert row.status.value == "discarded" and row.package is None


def test_someone_elses_import_is_404(app, importer) -> None:  # type: ignore[no-untyped-def]
    job = job_id(upload_zip(importer, synthetic_package(1).to_zip()))
    logout(importer)
    login(importer, "cy_assistance")
    assert importer.get(f"/cases/import/{job}").status_code == 404
    assert importer.get(f"/cases/import/{job}/status").status_code == 404


def test_large_packages_run_in_the_background_with_a_progress_endpoint(app, importer,  # type: ignore[no-untyped-def]
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import web.cases.imports as imports

    monkeypatch.setattr(imports, "BACKGROUND_BYTES", 0)
    state = app.extensions["hedui"]
    queue = RecordingQueue(state)
    monkeypatch.setattr(state, "jobs", queue)
    job = job_id(upload_zip(importer, synthetic_package(2).to_zip()))
    assert queue.jobs == [("cases.check_package", {"import_job_id": job})]
    status = importer.get(f"/cases/import/{job}/status").json
    assert status["status"] == "validating" and status["finished"] is False and status["progress"] == 0
    html = importer.get(f"/cases/import/{job}").get_data(as_text=True)
    assert f'data-poll="/cases/import/{job}/status"' in html and "import.js" in html
    assert_valid_html(html)
    assert queue.run_all() == ["validated"]
    status = importer.get(f"/cases/import/{job}/status").json
    assert status == {"id": job, "status": "validated", "status_name": "校验完成，请确认是否导入", "progress": 100,
                      "finished": True, "problems": 0, "case_nos": [], "url": f"/cases/import/{job}"}
    post(importer, f"/cases/import/{job}/run", {})
    assert importer.get(f"/cases/import/{job}/status").json["status"] == "importing"
    assert queue.run_all() == ["imported"]
    status = importer.get(f"/cases/import/{job}/status").json
    assert status["finished"] is True and status["case_nos"] == ["HD-CY-HDZX-2026-000001", "HD-CY-HDZX-2026-000002"]
    assert queue.run_all() == [] and len(events(app, "package_imported")) == 1


def test_a_job_delivered_twice_does_nothing_the_second_time(app, importer,  # type: ignore[no-untyped-def]
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import web.cases.imports as imports
    from web.jobs import execute

    monkeypatch.setattr(imports, "BACKGROUND_BYTES", 0)
    state = app.extensions["hedui"]
    monkeypatch.setattr(state, "jobs", RecordingQueue(state))
    job = job_id(upload_zip(importer, synthetic_package(1).to_zip()))
    assert execute(state, "cases.check_package", {"import_job_id": job}) == "validated"
    assert execute(state, "cases.check_package", {"import_job_id": job}) == "skipped"


def test_templates_download(importer) -> None:  # type: ignore[no-untyped-def]
    response = importer.get("/cases/import/template/persons.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.startswith("\ufeffhousehold,role,name,id_number,relation".encode())
    manifest = json.loads(importer.get("/cases/import/template/manifest.json").data)
    assert manifest["format"] == "hedui-household-package" and manifest["version"] == 1
    assert importer.get("/cases/import/template/secrets.txt").status_code == 404


def test_the_xlsx_template_has_one_sheet_per_table(importer) -> None:  # type: ignore[no-untyped-def]
    openpyxl = pytest.importorskip("openpyxl")
    response = importer.get("/cases/import/template/template.xlsx")
    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    assert workbook.sheetnames == ["说明", "households", "persons", "documents"]
    assert [c.value for c in workbook["documents"][1]] == ["household", "kind", "file", "id_number"]


@pytest.mark.parametrize(("username", "papers", "archive"), [
    ("cy_intake", True, True),  # agency staff of the case: print, and the archive (once sealed)
    ("cy_assistance", False, False),  # the county department sees the case, but neither prints nor reads the archive
    ("auditor", False, True),
])
def test_papers_section_offers_only_what_the_user_may_do(client, case_no, username, papers,  # type: ignore[no-untyped-def]
                                                         archive) -> None:
    login(client, username)
    html = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert ('id="download-authorisation"' in html) is papers
    assert ('id="archive-link"' in html) is archive
    assert ('id="papers-none"' in html) is (not papers and not archive)
