"""支出调查 (DO-9; BJ 第十四条): the inquiry page of a case, and its commands.

The page opens for whoever sees the case (OR-3) and is recorded in the access log like the case
page (it shows a household's spending); only staff of the case's verification agency in an
investigating role may write (``engine.services.spending``). A refused or invalid submission
re-renders the page with what was typed and the message at the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from engine.audit import record_access
from engine.context import Actor
from engine.errors import ConflictError
from engine.errors import ValidationError
from engine.models import Household
from engine.models.spending import INQUIRY_STATUS_NAMES
from engine.models.spending import OUTCOME_NAMES
from engine.services import spending
from forms.spending import CATEGORIES
from forms.spending import SOURCES
from web.cases import queries
from web.db import get_ctx
from web.home.schemas import field_errors
from web.inbox.views import local_time
from web.spending.blueprint import bp


def _actor() -> Actor:
    return Actor(current_user.username, None, current_user.id)


def case_spending(household: Household) -> dict[str, Any]:
    """The case page's part: the inquiry's state, and whether the user may open one."""
    ctx = get_ctx()
    inquiry = spending.inquiry_of(ctx, household)
    may_open = (inquiry is None and spending.may_investigate(ctx, current_user.id, household)
                and spending.closed_reason(ctx, household) is None)
    return {"spending_inquiry": inquiry, "spending_status_names": INQUIRY_STATUS_NAMES, "can_open_spending": may_open}


@bp.get("/<case_no>/spending")
def page(case_no: str) -> str:
    household = queries.visible_case(get_ctx(), current_user.id, case_no)
    return _page(household)


def _page(household: Household, *, form: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None,
          message: str | None = None, action: str | None = None) -> str:
    ctx = get_ctx()
    assert household.instance is not None
    record_access(ctx, "personal_data_viewed", household.instance, actor=_actor(), via="web", page="spending")
    inquiry = spending.inquiry_of(ctx, household)
    closed = spending.closed_reason(ctx, household)
    may_write = spending.may_investigate(ctx, current_user.id, household) and closed is None
    return render_template(
        "spending/page.html", household=household, inquiry=inquiry, closed=closed, may_write=may_write,
        status_names=INQUIRY_STATUS_NAMES, outcome_names=OUTCOME_NAMES, categories=list(CATEGORIES.items()),
        sources=list(SOURCES.items()), category_names=CATEGORIES, source_names=SOURCES,
        outcomes=list(OUTCOME_NAMES.items()), legal_basis=spending.LEGAL_BASIS, local_time=local_time,
        form=form or {}, errors=errors or {}, message=message, action=action)


def _command(case_no: str, action: str, run: Callable[[Household, dict[str, Any]], Any],
             done: str) -> ResponseReturnValue:
    ctx = get_ctx()
    household = queries.visible_case(ctx, current_user.id, case_no)
    form = {k: v for k, v in request.form.items() if k != "csrf_token"}
    try:
        run(household, form)
    except ValidationError as exc:
        return _page(household, form=form, errors=field_errors(exc), message=exc.message, action=action), 422
    except ConflictError as exc:  # concluded meanwhile, report issued, opened by a colleague: say so, keep the form
        return _page(household, form=form, message=exc.message, action=action), 409
    flash(done, "success")
    return redirect(url_for("spending.page", case_no=case_no))


@bp.post("/<case_no>/spending/open")
def open_inquiry(case_no: str) -> ResponseReturnValue:
    return _command(case_no, "open", lambda h, form: spending.open_inquiry(get_ctx(), h, form, actor=_actor()),
                    "已启动支出调查")


@bp.post("/<case_no>/spending/items")
def add_item(case_no: str) -> ResponseReturnValue:
    return _command(case_no, "item", lambda h, form: spending.add_item(get_ctx(), h, form, actor=_actor()),
                    "已登记支出")


@bp.post("/<case_no>/spending/items/<int:item_id>/void")
def void_item(case_no: str, item_id: int) -> ResponseReturnValue:
    return _command(case_no, f"void-{item_id}", lambda h, form: spending.void_item(
        get_ctx(), h, item_id, reason=form.get("reason", ""), actor=_actor()), "已作废该条支出")


@bp.post("/<case_no>/spending/conclude")
def conclude(case_no: str) -> ResponseReturnValue:
    return _command(case_no, "conclude", lambda h, form: spending.conclude(get_ctx(), h, form, actor=_actor()),
                    "支出调查已办结，出具核对报告时将载入附表四")
