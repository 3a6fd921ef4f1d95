"""Downloading a case's scans (授权书, ID cards, ...): only for staff whose duty on the case needs them.

Jurisdiction first: a case outside it, or a document that is not the case's, answers 404 (OR-3).
Within it, only the roles that may see full ID numbers (``queries.DUTY_ROLES``) may download, since
a scan shows everything the masked pages hide (PR-4). Every download is recorded on the system
stream like a view or an unmasking (PR-4, AU-1): who, which case, which document (by id and digest).
"""

from __future__ import annotations

import io

from flask import Response
from flask import send_file
from flask_login import current_user
from sqlalchemy import select

from engine.audit import record_access
from engine.context import Actor
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.models import Document
from engine.models.case import DocumentBlob
from web.cases import queries
from web.cases.blueprint import bp
from web.db import get_ctx


@bp.get("/<case_no>/documents/<int:document_id>")
def download_document(case_no: str, document_id: int) -> Response:
    ctx = get_ctx()
    household = queries.visible_case(ctx, current_user.id, case_no)
    instance = household.instance
    assert instance is not None  # visible_case refuses cases without an instance
    document = next((d for d in queries.documents_of(ctx.session, household) if d.id == document_id), None)
    if document is None:
        raise NotFoundError("材料不存在", document_id=document_id)
    if not queries.has_duty(ctx.session, current_user.id, instance):
        raise PermissionDeniedError("您在本案件中没有需要查看原始材料的职责", code="duty_required")
    content = ctx.session.execute(
        select(DocumentBlob.content).where(DocumentBlob.document_id == document.id)).scalar_one()
    record_access(ctx, "document_downloaded", instance, actor=Actor(current_user.username, None, current_user.id),
                  via="web", document_id=document.id, document_kind=document.kind.value, sha256=document.sha256)
    response = send_file(io.BytesIO(content), mimetype=_stored_type(document), as_attachment=True,
                         download_name=document.filename, max_age=0)
    response.headers["Cache-Control"] = "no-store"  # personal data: never kept in a shared cache
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _stored_type(document: Document) -> str:
    """The type sniffed from the content at upload (never the client's claim)."""
    return document.content_type if document.content_type in ("application/pdf", "image/jpeg", "image/png") \
        else "application/octet-stream"
