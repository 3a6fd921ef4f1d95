"""The parts of the form fuzzer (test_form_fuzz.py): read a page's POST forms, build hostile variants of one,
and read what a response says (an error message, a re-rendered form).

A browser posts every control of a form: text as typed, a select's chosen option, checked boxes and radios,
hidden inputs as rendered, and the name and value of the button pressed. ``Form.pairs`` rebuilds that post
from the page's markup; a variant changes the values of some kinds of controls and keeps the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from html.parser import HTMLParser
from io import BytesIO
from typing import Any
from urllib.parse import urlencode

#: controls whose value a person types
TYPED = frozenset({"text", "textarea", "search", "email", "tel", "url", "password"})
NUMBER = frozenset({"number"})
DATES = frozenset({"date", "datetime-local", "month", "time"})
#: the hostile script and a short text of the user's that a refused form must give back
SCRIPT = "<script>alert(1)</script>"
LONG = "长" * 20_000
NUL = "a\x00b"
#: another C0 control character (pasted from a document: the API refuses every one but tab, LF, CR; pages too)
VERTICAL_TAB = "a\x0bb"
#: invalid UTF-8 (an encoded lone surrogate) as it may reach the server from a hand-made request
LONE_SURROGATE = b"\xed\xa0\x80"
#: one past the largest value of a 32-bit integer column (SQLite stores it, PostgreSQL refuses it)
INT32_PAST = str(2**31)
#: (name, typed text, number, date, select value): each variant fills every control of a kind
HOSTILE: tuple[tuple[str, str, str, str, str], ...] = (
    ("long", LONG, "9999999999999999999999", "99999-01-01", "9" * 300),
    ("script", SCRIPT, "1e309", "0000-01-01", SCRIPT),
    ("nul", NUL, "-1", "2026-02-30", "\x00"),
    ("sql", "' OR 1=1 --", "abc", "2026-13-01", "' OR 1=1 --"),
    ("unicode", "😀𠀀\u202e\ufeff", "NaN", "2026-02-30T25:61", "😀"),
    # digits str.isdigit takes and int refuses, full-width digits
    ("digits", "²", "²", "２０２６-１１-２３", "²"),
    # what SQLite stores and PostgreSQL refuses: one past a 32-bit integer column ("integer out of range"),
    # the first and last day Python dates hold (a local midnight on 1 Jan of year 1 is still year 0 in UTC)
    ("int32", INT32_PAST, INT32_PAST, "0001-01-01", INT32_PAST),
    ("far dates", "9999-12-31", "2147483647", "9999-12-31T23:59", "-2147483649"),
    ("first datetime", "0001-01-01T00:00", "0.001", "0001-01-01T00:00", "0"),
)
#: values a tampered hidden input may carry
HIDDEN_VALUES = ("-1", "abc", "9999999999999999999999", INT32_PAST, "²", SCRIPT, NUL, "//evil.example/x")
CJK = re.compile(r"[\u4e00-\u9fff]")
ERROR_CLASSES = frozenset({"field__error", "error-summary", "flash--error", "flash--warning", "archive-error"})


@dataclass
class Control:
    """One named control of a form as rendered."""

    kind: str  # the input type, "textarea", "select" or "button"
    name: str
    value: str = ""
    options: list[str] = field(default_factory=list)
    checked: bool = False
    #: the ``maxlength`` the page gives a typed control (0: none)
    maxlength: int = 0


@dataclass
class Form:
    """A ``<form method="post">``: where it posts, its controls and the button pressed (name, value)."""

    page: str
    action: str
    multipart: bool
    controls: list[Control]
    button: tuple[str, str] | None = None

    def pairs(self, values: dict[int, str | bytes | None] | None = None) -> list[tuple[str, str | bytes]]:
        """What a browser posts; ``values`` replaces the value of a control (by index), None leaves it out."""
        values = values or {}
        sent: list[tuple[str, str | bytes]] = []
        for i, control in enumerate(self.controls):
            if control.kind in ("checkbox", "radio") and not control.checked and i not in values:
                continue
            if control.kind == "file":
                continue
            value = values.get(i, control.value)
            if value is not None:
                sent.append((control.name, value))
        if self.button:
            sent.append(self.button)
        return sent

    def indices(self, kinds: frozenset[str]) -> list[int]:
        return [i for i, c in enumerate(self.controls) if c.kind in kinds and c.name != "csrf_token"]


class FormReader(HTMLParser):
    """Every POST form of a page; a form with several named submit buttons becomes one form per button."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._buttons: list[tuple[str, str]] = []
        self._select: Control | None = None
        self._textarea: Control | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "").lower() == "post":
            self._form = Form(self.page, a.get("action") or self.page, "multipart" in a.get("enctype", ""), [])
            self._buttons = []
        elif self._form is None or not a.get("name") and tag != "option":
            return
        elif tag == "input" and a.get("type", "text") in ("submit", "image"):
            self._buttons.append((a["name"], a.get("value", "")))
        elif tag == "button" and a.get("type", "submit") == "submit":
            self._buttons.append((a["name"], a.get("value", "")))
        elif tag == "input":
            self._form.controls.append(Control(a.get("type", "text").lower(), a["name"], a.get("value", ""),
                                               checked="checked" in a, maxlength=_length(a)))
        elif tag == "select":
            self._select = Control("select", a["name"])
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            self._select.options.append(value)
            if "selected" in a or len(self._select.options) == 1:
                self._select.value = value
        elif tag == "textarea":
            self._textarea = Control("textarea", a["name"], maxlength=_length(a))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea.value += data

    def handle_endtag(self, tag: str) -> None:
        if self._form is None:
            return
        if tag == "select" and self._select is not None:
            self._form.controls.append(self._select)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self._textarea.value = self._textarea.value.removeprefix("\n")
            self._form.controls.append(self._textarea)
            self._textarea = None
        elif tag == "form":
            buttons = list(dict.fromkeys(self._buttons)) or [None]
            self.forms += [replace(self._form, button=b) for b in buttons]
            self._form = None


def _length(attrs: dict[str, str]) -> int:
    value = attrs.get("maxlength", "")
    return int(value) if value.isascii() and value.isdigit() else 0


def read_forms(page: str, html: str) -> list[Form]:
    reader = FormReader(page)
    reader.feed(html)
    return reader.forms


def encode(form: Form, pairs: list[tuple[str, str | bytes]], *, with_file: bool = False) -> dict[str, Any]:
    """Keyword arguments for the test client's ``post``: a urlencoded body (raw bytes kept), or multipart."""
    if not form.multipart:
        return {"data": urlencode(pairs), "content_type": "application/x-www-form-urlencoded"}
    data: dict[str, Any] = {}
    for name, value in pairs:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        data.setdefault(name, []).append(text)
    if with_file:
        for control in form.controls:
            if control.kind == "file":
                data[control.name] = (BytesIO(b"not a pdf \x00\xff"), f"../{SCRIPT}.pdf")
    return {"data": data, "content_type": "multipart/form-data"}


class _ErrorText(HTMLParser):
    """The text inside the elements that carry a page's error messages, and the page's title."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []
        self.title = ""
        self._inside: tuple[str, int] | None = None  # the error element's tag, and how deep in such tags
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_title = tag == "title"
        if self._inside is not None:
            if tag == self._inside[0]:
                self._inside = (tag, self._inside[1] + 1)
        elif set((dict(attrs).get("class") or "").split()) & ERROR_CLASSES:
            self._inside = (tag, 1)

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False
        if self._inside is not None and tag == self._inside[0]:
            self._inside = (tag, self._inside[1] - 1) if self._inside[1] > 1 else None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif self._inside is not None:
            self.errors.append(data)


def error_message(html: str) -> str:
    """The page's error text (field errors, the summary, an error flash, the error page's message)."""
    reader = _ErrorText()
    reader.feed(html)
    text = " ".join(t.strip() for t in reader.errors if t.strip())
    if reader.title.startswith("出错了"):
        match = re.search(r"<h1>出错了[^<]*</h1>\s*<p>([^<]*)</p>", html)
        text += " " + (match.group(1) if match else "")
    return text.strip()


def has_chinese(text: str) -> bool:
    return bool(CJK.search(text))
