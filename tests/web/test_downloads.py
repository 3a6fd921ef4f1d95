"""The one response shape for files handed out (reports, archive items, exports): named, not cached, not sniffed."""

from __future__ import annotations

from urllib.parse import quote

from web.downloads import file_response


def test_a_chinese_file_name_travels_as_utf8_with_an_ascii_fallback() -> None:
    response = file_response(b"%PDF-1.4", "核对报告 2026.pdf")
    disposition = response.headers["Content-Disposition"]
    assert disposition == f"attachment; filename=\"_____2026.pdf\"; filename*=UTF-8''{quote('核对报告 2026.pdf')}"
    assert (response.mimetype, response.headers["Cache-Control"], response.headers["X-Content-Type-Options"]) == (
        "application/pdf", "no-store", "nosniff")


def test_inline_files_and_other_types() -> None:
    response = file_response("a,b\n", "case-1-history.csv", mimetype="text/csv; charset=utf-8", attachment=False)
    assert response.headers["Content-Disposition"].startswith('inline; filename="case-1-history.csv"')
    assert response.mimetype == "text/csv" and response.get_data(as_text=True) == "a,b\n"
