"""Who may see a recheck and who may have its documents (OR-3, SEC-13): shared by the pages and the API."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.context import EngineContext
from engine.documents.printing import RECHECK_DOCUMENTS
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.models import Recheck
from engine.services import rechecks
from web.cases import queries


def visible_recheck(ctx: EngineContext, user_id: int, number: str) -> Recheck:
    """The recheck if the user's jurisdiction covers it (its process, else the original case); 404 otherwise."""
    recheck = rechecks.get_recheck(ctx, number)
    if not rechecks.recheck_visible_to(ctx, user_id, recheck):
        raise NotFoundError("复核不存在", recheck_no=number)
    return recheck


def has_recheck_duty(session: Session, user_id: int, recheck: Recheck) -> bool:
    """A duty role in the recheck's units (deciding department, entrusted agency) or in the original case's."""
    instances = [i for i in (recheck.instance, recheck.original_household.instance) if i is not None]
    return any(queries.has_duty(session, user_id, i) for i in instances)


def recheck_for_document(ctx: EngineContext, user_id: int, number: str, which: str) -> Recheck:
    """The recheck whose 复核表 or 复核委托书 the user may have: 404 outside the jurisdiction or for an unknown
    document, 403 ``duty_required`` without a duty (both documents carry full ID numbers, SEC-13)."""
    recheck = visible_recheck(ctx, user_id, number)
    if which not in RECHECK_DOCUMENTS:
        raise NotFoundError("文书不存在", document=which)
    if not has_recheck_duty(ctx.session, user_id, recheck):
        raise PermissionDeniedError("您在本复核中没有下载或打印该文书的职责", code="duty_required")
    return recheck
