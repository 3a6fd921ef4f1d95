"""A recheck's printable 复核表 and 复核委托书 (DO-8, BJ 附件4 and 附件6) from the recheck page.

The same rules as the case's 授权书 and 委托书: outside the jurisdiction a recheck answers 404
(OR-3); within it, only staff with a duty on the recheck or on the original case (the roles that
may see full ID numbers) may download or print, since both documents carry them (SEC-13). Every
download and print is recorded; prints are counted ("第N次打印").
"""

from __future__ import annotations

from flask import Response
from flask_login import current_user

from engine.context import Actor
from engine.documents.printing import render_recheck_document
from web.cases.queries import viewer_unit
from web.db import get_ctx
from web.downloads import rendered_response
from web.rechecks.access import recheck_for_document
from web.rechecks.blueprint import bp


def _document(number: str, which: str, *, printing: bool) -> Response:
    ctx = get_ctx()
    recheck = recheck_for_document(ctx, current_user.id, number, which)
    rendered = render_recheck_document(ctx, recheck, which, actor=Actor(current_user.username, None, current_user.id),
                                       viewer=current_user.display_name,
                                       unit=viewer_unit(ctx, current_user.id, recheck.original_household),
                                       printing=printing)
    return rendered_response(rendered, printing=printing)


@bp.get("/<number>/documents/<which>.pdf")
def document_download(number: str, which: str) -> Response:
    return _document(number, which, printing=False)


@bp.post("/<number>/documents/<which>/print")
def document_print(number: str, which: str) -> Response:
    """A printed copy: counted, "第N次打印" on every page, opened in the browser for its print dialog."""
    return _document(number, which, printing=True)
