"""Downloading a case's scans (web/cases/documents.py): duty needed (PR-4), jurisdiction enforced (404
outside, OR-3), the sniffed type and an attachment disposition, every download recorded (PR-4, AU-1)."""

from __future__ import annotations

import re
from urllib.parse import quote

from sqlalchemy import select

from engine.models import Document
from engine.models import Household
from tests.engine.package_factory import PDF
from tests.web.test_cases_pages import case_no  # noqa: F401  (fixture)
from tests.web.test_cases_pages import events
from tests.web.test_cases_pages import make_case
from tests.web.test_intake import seed_deployed
from tests.web.test_login import login
from tests.web.test_login import logout

#: the demo organisation and the diagrams, seeded once for the module
SEED_ONCE = seed_deployed


def _document(app, case_no: str) -> Document:  # type: ignore[no-untyped-def]  # noqa: F811
    with app.extensions["hedui"].session_factory() as session:
        document = session.execute(select(Document).join(Household, Household.id == Document.household_id)
                                   .where(Household.case_no == case_no)).scalars().first()
        assert document is not None
        session.expunge(document)
        return document


def test_a_duty_holder_downloads_the_scan_and_it_is_recorded(app, client, case_no: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    document = _document(app, case_no)
    login(client, "cy_intake")
    page = client.get(f"/cases/{case_no}").get_data(as_text=True)
    url = f"/cases/{case_no}/documents/{document.id}"
    assert f'href="{url}"' in page
    response = client.get(url)
    assert response.status_code == 200
    assert response.data == PDF
    assert response.mimetype == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('授权书.pdf')}" in disposition
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    [downloaded] = events(app, "document_downloaded")
    assert downloaded.actor == "cy_intake" and downloaded.stream == "system"
    assert downloaded.payload["business_key"] == case_no
    assert downloaded.payload["document_kind"] == "authorisation"
    assert downloaded.payload["document_id"] == document.id and downloaded.payload["sha256"] == document.sha256
    client.get(url)
    assert len(events(app, "document_downloaded")) == 2  # every download, not the first one


def test_staff_without_a_duty_see_no_link_and_are_refused(app, client, case_no: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    document = _document(app, case_no)
    login(client, "cc_reviewer")  # jurisdiction over the county, no role in the case's units
    page = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert "授权书.pdf" in page and not re.search(r"/documents/\d+", page)
    response = client.get(f"/cases/{case_no}/documents/{document.id}", headers={"Accept": "text/html"})
    assert response.status_code == 403 and response.data != PDF
    assert "没有需要查看原始材料的职责" in response.get_data(as_text=True)
    assert events(app, "document_downloaded") == []


def test_outside_the_jurisdiction_or_another_cases_document_is_404(app, client, case_no: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    document = _document(app, case_no)
    other = make_case(app, 1)
    login(client, "ng_intake")
    assert client.get(f"/cases/{case_no}/documents/{document.id}").status_code == 404
    logout(client)
    login(client, "cy_intake")
    assert client.get(f"/cases/{other}/documents/{document.id}").status_code == 404  # not that case's scan
    assert client.get(f"/cases/{case_no}/documents/999999").status_code == 404
    assert events(app, "document_downloaded") == []
