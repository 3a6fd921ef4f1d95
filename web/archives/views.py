"""A case's sealed archive (AR-4, LOC-32) and its printable 授权书 / 委托书 (DO-4, DO-5).

Jurisdiction first: outside it a case answers 404 (OR-3). The archive is read inside the
agency: by the staff of the case's units and by auditors over its region (403 for anyone else
in the jurisdiction). Every opening, download and print is recorded on the system stream
(who, when, what; SEC-12); prints are counted per item ("第N次打印").
"""

from __future__ import annotations

import json

from flask import Response
from flask import render_template
from flask import request
from flask_login import current_user
from sqlalchemy import select

from engine.archives.kinds import KINDS
from engine.archives.retention import RECORD_TYPES
from engine.archives.seal import archive_of
from engine.archives.verify import item_status
from engine.audit import assert_can_audit
from engine.audit import record_access
from engine.context import Actor
from engine.documents.printing import DOCUMENTS
from engine.documents.printing import next_print_no
from engine.documents.printing import print_counts
from engine.documents.printing import render_case_document
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.models.archive import Archive
from engine.models.archive import ArchiveItem
from engine.models.archive import ArchiveItemBlob
from engine.models.case import Household
from web.archives.blueprint import bp
from web.cases import queries
from web.db import get_ctx
from web.downloads import file_response
from web.downloads import rendered_response
from web.inbox.views import local_time


def _actor(role: str | None = None) -> Actor:
    return Actor(current_user.username, role, current_user.id)


# --- printable documents of a live case ------------------------------------------------------------------


def _document(case_no: str, which: str, *, printing: bool) -> Response:
    ctx = get_ctx()
    household = queries.visible_case(ctx, current_user.id, case_no)
    assert household.instance is not None
    if which not in DOCUMENTS:
        raise NotFoundError("文书不存在")
    if not queries.has_duty(ctx.session, current_user.id, household.instance):
        # the official documents carry full ID numbers: the same rule as unmasking (SEC-13)
        raise PermissionDeniedError("您在本案件中没有打印该文书的职责", code="duty_required")
    rendered = render_case_document(ctx, household, which, actor=_actor(), viewer=current_user.display_name,
                                    unit=queries.viewer_unit(get_ctx(), current_user.id, household), printing=printing)
    return rendered_response(rendered, printing=printing)


@bp.get("/<case_no>/documents/<which>.pdf")
def document_download(case_no: str, which: str) -> Response:
    return _document(case_no, which, printing=False)


@bp.post("/<case_no>/documents/<which>/print")
def document_print(case_no: str, which: str) -> Response:
    """A printed copy: counted, "第N次打印" on every page, opened in the browser for its print dialog."""
    return _document(case_no, which, printing=True)


# --- the archive -----------------------------------------------------------------------------------------


def _archived(case_no: str) -> tuple[Household, Archive | None, str]:
    ctx = get_ctx()
    household = queries.visible_case(ctx, current_user.id, case_no)
    assert household.instance is not None
    role = assert_can_audit(ctx, current_user.id, household.instance)
    return household, archive_of(ctx, household.id), role


@bp.get("/<case_no>/archive")
def archive(case_no: str) -> str:
    ctx = get_ctx()
    household, sealed, role = _archived(case_no)
    assert household.instance is not None
    record_access(ctx, "archive_viewed", household.instance, actor=_actor(role), via="web",
                  archive_id=sealed.id if sealed else None)
    if sealed is None:
        return render_template("archives/archive.html", household=household, archive=None)
    manifest = json.loads(sealed.manifest)
    items = ctx.session.execute(select(ArchiveItem).where(ArchiveItem.archive_id == sealed.id)
                                .order_by(ArchiveItem.position)).scalars().all()
    return render_template("archives/archive.html", household=household, archive=sealed, manifest=manifest,
                           items=items, status=item_status(ctx.session, sealed), kinds=KINDS, local_time=local_time,
                           retention_names=RECORD_TYPES,
                           printed=print_counts(ctx.session, [f"archive_item:{i.id}" for i in items]))


def _item(case_no: str, position: int) -> tuple[Household, ArchiveItem, bytes, str]:
    household, sealed, role = _archived(case_no)
    if sealed is None:
        raise NotFoundError("档案尚未封存")
    session = get_ctx().session
    item = session.execute(select(ArchiveItem).where(ArchiveItem.archive_id == sealed.id,
                                                     ArchiveItem.position == position)).scalar_one_or_none()
    if item is None:
        raise NotFoundError("档案项目不存在")
    content = session.execute(select(ArchiveItemBlob.content).where(ArchiveItemBlob.item_id == item.id)).scalar_one()
    return household, item, bytes(content), role


@bp.get("/<case_no>/archive/items/<int:position>")
def archive_item(case_no: str, position: int) -> Response:
    """Open (inline) or, with ``?download=1``, download one item exactly as sealed."""
    household, item, content, role = _item(case_no, position)
    download = request.args.get("download") == "1"
    assert household.instance is not None
    record_access(get_ctx(), "archive_item_downloaded" if download else "archive_item_opened", household.instance,
                  actor=_actor(role), via="web", archive_item_id=item.id, position=item.position, item_kind=item.kind,
                  sha256=item.sha256)
    return file_response(content, item.filename, attachment=download, mimetype=item.content_type)


@bp.post("/<case_no>/archive/items/<int:position>/print")
def archive_item_print(case_no: str, position: int) -> Response:
    """Print one item: the archived bytes never change, so the count lives in the access record and the counter."""
    household, item, content, role = _item(case_no, position)
    assert household.instance is not None
    ctx = get_ctx()
    actor = _actor(role)
    print_no = next_print_no(ctx, f"archive_item:{item.id}", actor)
    record_access(ctx, "archive_item_printed", household.instance, actor=actor, via="web", archive_item_id=item.id,
                  position=item.position, item_kind=item.kind, sha256=item.sha256, print_no=print_no)
    response = file_response(content, item.filename, attachment=False, mimetype=item.content_type)
    response.headers["X-Hedui-Print-No"] = str(print_no)
    return response
