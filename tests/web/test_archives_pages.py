"""The archive viewer and the printable documents in the browser-facing UI (AR-4, DO-4, DO-5, SEC-12).

Read-only, jurisdiction first (404 outside it, 403 inside for anyone but the case's staff and
auditors), every opening, download and print recorded, prints counted; no edit or delete route.
"""

from __future__ import annotations

import io
import json

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy import text

from engine.models import Event
from engine.models.archive import Archive
from engine.models.archive import ArchiveItem
from engine.models.archive import ArchiveItemBlob
from tests.engine.archive_factory import households
from tests.engine.archive_factory import seed
from tests.engine.archive_factory import seeded
from tests.web.test_intake import post
from tests.web.test_login import assert_valid_html
from tests.web.test_login import login
from tests.web.test_login import logout

#: the demo region, the diagrams and the four demo cases, seeded once for the module
SEED_ONCE = seed


@pytest.fixture
def cases(app) -> list[str]:  # type: ignore[no-untyped-def]
    """The four demo case numbers; the last one is closed and sealed."""
    ctx = app.extensions["hedui"].new_context()
    numbers = [h.case_no for h in seeded(ctx)]
    ctx.session.commit()
    ctx.session.close()
    return numbers


def _events(app, *kinds: str) -> list[Event]:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        rows = list(session.execute(select(Event).where(Event.kind.in_(kinds)).order_by(Event.seq)).scalars())
        for row in rows:
            session.expunge(row)
        return rows


def _text(content: bytes) -> str:
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages).replace("\n", "")


def test_the_archive_lists_items_with_digests_and_status(app, client, cases) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    case_page = client.get(f"/cases/{cases[3]}").get_data(as_text=True)
    assert f'href="/cases/{cases[3]}/archive"' in case_page
    response = client.get(f"/cases/{cases[3]}/archive")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert_valid_html(html)
    with app.extensions["hedui"].session_factory() as session:
        archive = session.execute(select(Archive)).scalar_one()
        items = session.execute(select(ArchiveItem).order_by(ArchiveItem.position)).scalars().all()
    assert "核验通过：全部 7 个项目" in html and archive.manifest_sha256 in html
    assert "朝阳区社会救助家庭经济状况核对中心" in html and "授权材料 5 年" in html
    for item in items:
        assert item.sha256[:16] in html and item.filename in html
    assert [(e.actor, e.payload["business_key"]) for e in _events(app, "archive_viewed")] == [("cy_intake", cases[3])]


def test_an_open_case_has_no_archive_yet(client, cases) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    assert "尚未归档" in client.get(f"/cases/{cases[0]}/archive").get_data(as_text=True)


def test_opening_downloading_and_printing_items_are_recorded(app, client, cases) -> None:  # type: ignore[no-untyped-def]
    login(client, "auditor")
    with app.extensions["hedui"].session_factory() as session:
        item = session.execute(select(ArchiveItem).where(ArchiveItem.kind == "authorisation_pdf")).scalar_one()
        stored = session.execute(select(ArchiveItemBlob.content).where(ArchiveItemBlob.item_id == item.id)).scalar()
    base = f"/cases/{cases[3]}/archive/items/{item.position}"
    opened = client.get(base)
    downloaded = client.get(f"{base}?download=1")
    assert opened.data == downloaded.data == stored
    assert opened.headers["Content-Disposition"].startswith("inline")
    assert downloaded.headers["Content-Disposition"].startswith("attachment")
    printed = [post(client, f"{base}/print", {}) for _ in range(2)]
    assert [p.headers["X-Hedui-Print-No"] for p in printed] == ["1", "2"] and printed[0].data == stored
    recorded = _events(app, "archive_item_opened", "archive_item_downloaded", "archive_item_printed")
    assert [(e.kind, e.actor, e.actor_role, e.payload["position"], e.payload.get("print_no")) for e in recorded] == [
        ("archive_item_opened", "auditor", "auditor", item.position, None),
        ("archive_item_downloaded", "auditor", "auditor", item.position, None),
        ("archive_item_printed", "auditor", "auditor", item.position, 1),
        ("archive_item_printed", "auditor", "auditor", item.position, 2)]
    assert all(e.payload["sha256"] == item.sha256 and e.payload["business_key"] == cases[3] for e in recorded)
    assert "（已打印 2 次）" in client.get(f"/cases/{cases[3]}/archive").get_data(as_text=True)


def test_outside_the_jurisdiction_404_inside_but_not_staff_403(app, client, cases) -> None:  # type: ignore[no-untyped-def]
    login(client, "ng_intake")
    assert client.get(f"/cases/{cases[3]}/archive").status_code == 404
    assert client.get(f"/cases/{cases[3]}/archive/items/1").status_code == 404
    assert client.get(f"/cases/{cases[3]}/documents/authorisation.pdf").status_code == 404
    logout(client)
    login(client, "cc_reviewer")  # the city agency sees the case but is not its archive's reader
    assert client.get(f"/cases/{cases[3]}/archive").status_code == 403
    assert client.get(f"/cases/{cases[3]}/archive/items/1").status_code == 403
    assert _events(app, "archive_item_opened", "archive_viewed") == []


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_there_is_no_edit_or_delete_route(client, cases, method: str) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    for path in (f"/cases/{cases[3]}/archive", f"/cases/{cases[3]}/archive/items/1"):
        assert getattr(client, method)(path).status_code in (400, 405)


def test_a_changed_item_shows_as_not_verified(app, client, cases, connection) -> None:  # type: ignore[no-untyped-def]
    if connection.dialect.name == "postgresql":
        connection.execute(text("ALTER TABLE archive_item_blobs DISABLE TRIGGER archive_item_blobs_immutable"))
    else:
        connection.execute(text("DROP TRIGGER archive_item_blobs_no_update"))
    connection.execute(text("UPDATE archive_item_blobs SET content = :c WHERE item_id = "
                            "(SELECT id FROM archive_items WHERE position = 1)"), {"c": b"%PDF-1.4 forged"})
    login(client, "cy_intake")
    html = client.get(f"/cases/{cases[3]}/archive").get_data(as_text=True)
    assert "核验未通过：1 个项目与清单不符" in html and "内容已被修改" in html


def test_the_official_documents_download_and_print_with_a_counter(app, client, cases) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    ctx = app.extensions["hedui"].new_context()
    household = next(h for h in households(ctx) if h.case_no == cases[0])
    numbers = [p.id_number for p in household.persons]
    ctx.session.close()
    downloaded = client.get(f"/cases/{cases[0]}/documents/authorisation.pdf")
    assert downloaded.status_code == 200 and downloaded.mimetype == "application/pdf"
    content = _text(downloaded.data)
    assert all(n in content for n in numbers) and "朝阳区社会救助家庭经济状况核对中心 李静" in content
    first, second = (post(client, f"/cases/{cases[0]}/documents/entrustment/print", {}) for _ in range(2))
    assert "第1次打印" in _text(first.data) and "第2次打印" in _text(second.data)
    recorded = _events(app, "document_downloaded", "document_printed")
    assert [(e.kind, e.payload["document"], e.payload["print_no"]) for e in recorded] == [
        ("document_downloaded", "authorisation", None), ("document_printed", "entrustment", 1),
        ("document_printed", "entrustment", 2)]
    assert not any(n in json.dumps(e.payload, ensure_ascii=False) for e in recorded for n in numbers)
    page = client.get(f"/cases/{cases[0]}").get_data(as_text=True)
    assert "委托书：" in page and "（已打印 2 次）" in page and "（已打印 0 次）" in page
    assert client.get(f"/cases/{cases[0]}/documents/report.pdf").status_code == 404


def test_without_a_duty_on_the_case_the_documents_are_refused(client, cases) -> None:  # type: ignore[no-untyped-def]
    login(client, "auditor")
    assert client.get(f"/cases/{cases[0]}/documents/authorisation.pdf").status_code == 403
    assert 'id="download-authorisation"' not in client.get(f"/cases/{cases[0]}").get_data(as_text=True)
