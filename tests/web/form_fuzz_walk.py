"""The form fuzzer's driver (test_form_fuzz.py describes the variants and what every answer must show): walk
the pages a signed-in user reaches, collect their POST forms, post each distinct shape's hostile variants once,
then post the ``openers`` as a user would and fuzz the forms on the pages they lead to.

Shared by test_form_fuzz.py (the seeded demo) and test_form_fuzz_more.py (the forms the demo's day does not
offer), on SQLite and on PostgreSQL; ``counter`` reads every table's row count of the app's database on a
connection of its own (before and after a post; tests/web/demo_db.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from urllib.parse import urljoin
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import HTTPException

from engine.services.demo import DEMO_PASSWORD
from tests.web.demo_db import RowCounter
from tests.web.demo_world import crawl
from tests.web.demo_world import page_problems
from tests.web.demo_world import shape
from tests.web.form_fuzz_kit import DATES
from tests.web.form_fuzz_kit import HIDDEN_VALUES
from tests.web.form_fuzz_kit import HOSTILE
from tests.web.form_fuzz_kit import LONE_SURROGATE
from tests.web.form_fuzz_kit import LONG
from tests.web.form_fuzz_kit import NUL
from tests.web.form_fuzz_kit import NUMBER
from tests.web.form_fuzz_kit import SCRIPT
from tests.web.form_fuzz_kit import TYPED
from tests.web.form_fuzz_kit import VERTICAL_TAB
from tests.web.form_fuzz_kit import Form
from tests.web.form_fuzz_kit import encode
from tests.web.form_fuzz_kit import error_message
from tests.web.form_fuzz_kit import has_chinese
from tests.web.form_fuzz_kit import read_forms
from tests.web.test_login import login

#: tables a refused post may add to on purpose: the record of a refusal (engine.assignment) and of a failed
#: sign-in (the throttle)
REFUSAL_RECORDS = frozenset({"events", "login_attempts"})
#: endpoints posted only without a valid token (signing out would end the walk)
CSRF_ONLY = frozenset({"home.logout"})
#: plausible values for the controls not under test (variant 6)
PLAUSIBLE = {"number": "1", "date": "2026-11-23", "datetime-local": "2026-11-23T09:00", "month": "2026-11",
             "time": "09:00"}
MARKER = "测试保留文字{}"
#: an intake draft keeps what was typed, however long and whatever it holds (but a NUL), but for 下一步 and 提交,
#: which check it (PS-4)
DRAFT_CHECKS = frozenset({"next", "submit"})
#: buttons that add or remove a row of a table read the form as 保存 does: one of them stands for all
ROW_ACTIONS = re.compile(r"^(?:add|remove):")
#: forms posted as a user would fill them, at most so many per user, to reach the forms behind them (round two):
#: ``{endpoint: (how many, {control: value})}``, the other controls as rendered
Openers = dict[str, tuple[int, dict[str, str]]]


class Fuzzer:
    """Posts the variants of the forms one user sees and collects what is wrong with the answers."""

    def __init__(self, app: Flask, client: FlaskClient, counter: RowCounter) -> None:
        self.client, self.counter = client, counter
        self.urls = app.url_map.bind("localhost")
        self.problems: list[str] = []
        #: the shapes of the URLs walked (tests.web.demo_world.shape)
        self.walked: set[str] = set()
        #: the pages accepted posts led to (a claimed task, a new draft): the second round's forms are there
        self.opened: set[str] = set()

    def endpoint(self, path: str) -> str | None:
        try:
            return str(self.urls.match(path, method="POST")[0])
        except HTTPException:
            return None

    def counts(self) -> dict[str, int]:
        """Every table's row count, in one query."""
        return self.counter()

    def post(self, form: Form, label: str, pairs: list[tuple[str, str | bytes]], *,
             with_file: bool = False) -> tuple[bool, str, bool]:
        """Post one variant and check the answer; (refused, the page the user sees, whether the answer was that
        page itself rather than a redirect to it)."""
        where = f"{form.action} [{label}] (form on {form.page})"
        before = self.counts()
        try:
            response = self.client.post(form.action, **encode(form, pairs, with_file=with_file))
        except Exception as exc:  # noqa: BLE001 - testing mode re-raises what a server would answer with 500
            self.problems.append(f"{where}: {type(exc).__name__}: {str(exc)[:200]}")
            return True, "", False
        html = response.get_data(as_text=True)
        changed = {t: (n, c) for t, c in self.counts().items() if (n := before.get(t, 0)) != c
                   and t not in REFUSAL_RECORDS}
        shown = html
        if response.status_code >= 500 or "Traceback" in html or "Internal Server Error" in html:
            self.problems.append(f"{where}: {response.status_code} {html[:200]}")
        if response.status_code in (301, 302, 303, 307, 308):
            target = urlsplit(urljoin(form.action, response.headers["Location"]))
            if target.netloc not in ("", "localhost"):
                self.problems.append(f"{where}: redirects off-site to {response.headers['Location']}")
            elif target.path not in ("/login", "/logout"):
                page = target.path + (f"?{target.query}" if target.query else "")
                shown = self.client.get(page).get_data(as_text=True)
                self.opened.add(page)
        if SCRIPT in html or SCRIPT in shown:
            self.problems.append(f"{where}: the <script> is shown unescaped")
        message = error_message(shown)
        refused = response.status_code >= 400 or bool(message)
        if refused and not has_chinese(message):
            self.problems.append(f"{where}: refused ({response.status_code}) without a Chinese message")
        if refused and changed:
            self.problems.append(f"{where}: refused ({response.status_code}) but rows changed: {changed}")
        return refused, shown, response.status_code not in (301, 302, 303, 307, 308)

    def fuzz(self, form: Form) -> None:
        """Every variant of one form, refusals first (module docstring)."""
        base = form.pairs()
        without = [(k, v) for k, v in base if k != "csrf_token"]
        for label, pairs in (("no CSRF token", without), ("wrong CSRF token", [*without, ("csrf_token", "x" * 43)])):
            refused, _, _ = self.post(form, label, pairs)
            if not refused:
                self.problems.append(f"{form.action} [{label}]: accepted")
        if self.endpoint(urlsplit(form.action).path) in CSRF_ONLY:
            return
        huge = re.sub(r"(?<=/)\d+(?=/|$)", "9" * 22, form.action)
        if huge != form.action:  # a number in the path beyond any row id: not found, not an overflow
            self.post(replace(form, action=huge), "a huge number in the URL", base)
        typed, numbers, dates = form.indices(TYPED), form.indices(NUMBER), form.indices(DATES)
        selects = form.indices(frozenset({"select", "radio"}))
        hidden = form.indices(frozenset({"hidden", "checkbox"}))  # values a user does not type
        if typed or numbers or dates:
            self.post(form, "emptied", form.pairs(dict.fromkeys(typed + numbers + dates, "")))
        if typed or numbers or dates or selects or form.multipart:
            for name, text, number, day, choice in HOSTILE:
                values: dict[int, str | bytes | None] = {
                    **dict.fromkeys(typed, text), **dict.fromkeys(numbers, number), **dict.fromkeys(dates, day),
                    **dict.fromkeys(selects, choice)}
                pairs = form.pairs(values)
                if name == "unicode" and typed and not form.multipart:  # raw bytes go in a urlencoded body only
                    pairs.append((form.controls[typed[0]].name, LONE_SURROGATE))
                self.post(form, f"hostile {name}", pairs, with_file=True)
        for value in HIDDEN_VALUES if hidden else ():
            self.post(form, f"hidden inputs and checkboxes {value[:20]!r}", form.pairs(dict.fromkeys(hidden, value)))
        plausible = self.plausible(form)
        if limited := {i: "长" * form.controls[i].maxlength for i in typed if form.controls[i].maxlength}:
            # as long as the page lets anyone type: the column must hold it (PostgreSQL: "value too long")
            self.post(form, "typed controls at their maxlength", form.pairs({**plausible, **limited}))
        for i in typed:
            for name, value in (("20,000 characters", LONG), ("a NUL byte", NUL), ("a vertical tab", VERTICAL_TAB)):
                refused, _, _ = self.post(form, f"{form.controls[i].name}: {name}",
                                          form.pairs({**plausible, i: value}))
                if not refused and not (value != NUL and self.keeps_draft(form)):
                    self.problems.append(f"{form.action} {form.button or ''}: field {form.controls[i].name!r} "
                                         f"accepted {name}")
        self.keeps_typed_text(form, typed, numbers, dates)

    def keeps_draft(self, form: Form) -> bool:
        return self.endpoint(form.action) == "intake.save" and (form.button or ("", ""))[1] not in DRAFT_CHECKS

    def plausible(self, form: Form) -> dict[int, str | bytes | None]:
        values: dict[int, str | bytes | None] = {}
        for i, control in enumerate(form.controls):
            if control.kind in TYPED and not control.value:
                values[i] = MARKER.format(i)
            elif control.kind in PLAUSIBLE:
                values[i] = control.value or PLAUSIBLE[control.kind]
            elif control.kind == "select" and not control.value:
                values[i] = next((o for o in control.options if o), "")
        return values

    def keeps_typed_text(self, form: Form, typed: list[int], numbers: list[int], dates: list[int]) -> None:
        if not typed or not (numbers or dates):
            return  # nothing would make the form refuse the text
        values: dict[int, str | bytes | None] = {i: MARKER.format(i) for i in typed}
        values.update({**dict.fromkeys(numbers, "abc"), **dict.fromkeys(dates, "2026-02-30")})
        refused, shown, rerendered = self.post(form, "typed text, wrong numbers and dates", form.pairs(values))
        lost = [form.controls[i].name for i in typed
                if form.controls[i].kind != "password" and MARKER.format(i) not in shown]
        if refused and rerendered and read_forms(form.page, shown) and lost:
            self.problems.append(f"{form.action}: the refused form lost what was typed in {lost}")


def _shape(fuzzer: Fuzzer, form: Form) -> tuple[Any, ...]:
    controls = tuple(sorted({(c.kind, c.name) for c in form.controls}))
    button = form.button
    if button is not None and ROW_ACTIONS.match(button[1]):
        button = (button[0], "a row action")
    return fuzzer.endpoint(urlsplit(form.action).path), controls, button


def _collect(fuzzer: Fuzzer, pages: set[str] | None, per_shape: int = 1) -> list[Form]:
    """The POST forms on every page the user reaches (``pages`` None: ``per_shape`` URLs of a shape), or on ``pages``
    and the pages they link to that the first walk did not see (a new draft's other steps)."""
    forms: list[Form] = []

    def read(url: str, html: str) -> None:
        forms.extend(read_forms(url, html))
        fuzzer.walked.add(shape(url))

    if pages is None:
        crawl(fuzzer.client, read, per_shape=per_shape)
    linked: dict[str, str] = {}  # one page of each new shape the opened pages link to
    for url in sorted(pages or ()):
        html = _html(fuzzer, url)
        read(url, html)
        for href in page_problems(html, urlsplit(url).path)[1] if html else ():
            link = urlsplit(urljoin(url, href))
            if link.netloc in ("", "localhost") and shape(link.path) not in fuzzer.walked | {"/logout"}:
                linked.setdefault(shape(link.path), link.path)
    for url in linked.values():
        read(url, _html(fuzzer, url))
    return forms


def _html(fuzzer: Fuzzer, url: str) -> str:
    response = fuzzer.client.get(url)
    return response.get_data(as_text=True) if response.status_code == 200 and response.mimetype == "text/html" else ""


def _open(fuzzer: Fuzzer, forms: list[Form], openers: Openers) -> None:
    """Post the forms that open others as a user would (claim a few tasks, start an intake draft)."""
    done: dict[str, int] = {}
    for form in forms:
        endpoint = fuzzer.endpoint(urlsplit(form.action).path)
        if endpoint in openers and done.get(endpoint, 0) < openers[endpoint][0]:
            done[endpoint] = done.get(endpoint, 0) + 1
            values = openers[endpoint][1]
            filled = {i: values[c.name] for i, c in enumerate(form.controls) if c.name in values}
            response = fuzzer.client.post(form.action, **encode(form, form.pairs(filled)))
            fuzzer.opened.add(form.action.removesuffix("/claim") if endpoint == "inbox.claim"
                              else urlsplit(response.headers.get("Location", "/")).path)


def fuzz_as(app: Flask, counter: RowCounter, username: str | None, shapes_done: set[tuple[Any, ...]],
            openers: Openers, more: Callable[[FlaskClient], list[Form]] | None = None, per_shape: int = 1) -> list[str]:
    """Sign in as ``username``, post the variants of every form shape not posted yet; what is wrong.

    ``more(client)``: forms the walk cannot reach by links (the answer to a post), fuzzed in the first round;
    ``per_shape``: how many URLs of one shape the walk opens (two objects of a kind may offer different forms).
    """
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.0.0.9" if username is None else "127.0.0.1"  # the sign-in throttle
    if username is not None:
        assert login(client, username, DEMO_PASSWORD).status_code == 302
    fuzzer = Fuzzer(app, client, counter)
    for round_ in range(2):  # the second round: the forms on the pages the first one's accepted posts opened
        if username is None:
            forms = read_forms("/login", client.get("/login").get_data(as_text=True)) if round_ == 0 else []
        else:
            forms = _collect(fuzzer, None if round_ == 0 else set(fuzzer.opened), per_shape)
            forms += more(client) if more is not None and round_ == 0 else []
        for form in forms:
            key = _shape(fuzzer, form)
            if key[0] is not None and key not in shapes_done:
                shapes_done.add(key)
                fuzzer.fuzz(form)
        if round_ == 0:
            _open(fuzzer, forms, openers)
    return fuzzer.problems



def fuzz_everyone(app: Flask, users: Iterable[str | None], openers: Openers, expected: frozenset[str], *,
                  more: dict[str, Callable[[FlaskClient], list[Form]]] | None = None, per_shape: int = 1) -> None:
    """Fuzz every form shape the ``users`` reach (each shape once); fail on any problem or a form of
    ``expected`` (endpoints) no longer reached. ``more``: per user, forms only a post's answer offers."""
    counter = RowCounter(app.config["DATABASE_URL"])
    try:
        shapes_done: set[tuple[Any, ...]] = set()
        found = {str(u): problems for u in users if (problems := fuzz_as(
            app, counter, u, shapes_done, openers, more=(more or {}).get(str(u)), per_shape=per_shape))}
    finally:
        counter.close()
    assert not found, "\n".join(f"{user}: {p}" for user, problems in found.items() for p in problems)
    missing = expected - {key[0] for key in shapes_done}
    assert not missing, f"the walk no longer reaches these forms: {sorted(missing)}"
