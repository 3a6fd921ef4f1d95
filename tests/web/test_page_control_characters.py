"""A control character in a page form's text (C0 but tab, line feed and carriage return: the set the API
refuses) is refused at its field with a Chinese message, and the form comes back with the rest of what was
typed; nothing is written (forms.text.FIELD_MESSAGE, web.home.schemas.HtmlFormSchema). Found by the form fuzz's
vertical-tab variant (tests/web/form_fuzz_walk.py): 案件查询, 改派, 部署 and 迁移 stored such text. A NUL is still
refused for every page before any view (web/input_guard.py). Requirements: PR-4 (an ID-number search is recorded
with its note), PS-2 (the reasons staff type are kept).
"""

from __future__ import annotations

import pytest

from forms.text import FIELD_MESSAGE
from tests.web.test_cases_pages import case_no  # noqa: F401
from tests.web.test_cases_pages import events
from tests.web.test_intake import post
from tests.web.test_intake import seed_deployed
from tests.web.test_login import assert_valid_html
from tests.web.test_login import login

SEED_ONCE = seed_deployed


@pytest.mark.parametrize("character", ["\x01", "\x0b", "\x0c", "\x1b", "\x1f"])
def test_a_control_character_is_refused_at_its_field_and_the_form_kept(app, client, case_no: str,  # type: ignore[no-untyped-def]
                                                                        character: str) -> None:
    login(client, "cy_intake")
    before = len(events(app, "personal_data_searched"))
    response = post(client, "/cases/search", {"q": case_no, "note": f"核对{character}重复"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and FIELD_MESSAGE in html
    assert f'value="{case_no}"' in html  # the rest of the form as typed
    assert_valid_html(html)
    assert len(events(app, "personal_data_searched")) == before


def test_tab_line_feed_and_carriage_return_are_text(client, case_no: str) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    response = post(client, "/cases/search", {"q": case_no, "note": "核对\t重复\r\n第二行"})
    assert response.status_code == 302 and response.headers["Location"] == f"/cases/{case_no}"
