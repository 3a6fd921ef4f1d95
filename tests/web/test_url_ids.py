"""Row ids in URLs (``<int:...>``, web/input_guard.py): ASCII digits up to the largest row id, matched by pattern.

A number beyond any row id is "not found" for every method, as letters are: before the pattern said so,
a POST to ``/intake/drafts/<huge>/business`` answered 405 (Werkzeug saw the GET rule of the same shape).
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from werkzeug.exceptions import NotFound

from forms.base import MAX_ROW_ID
from web.input_guard import digits_up_to


@pytest.mark.parametrize("limit", [0, 7, 9, 10, 42, 99, 100, 101, 1000, 12345, MAX_ROW_ID])
def test_the_pattern_takes_exactly_the_numbers_up_to_the_limit(limit: int) -> None:
    pattern = re.compile(digits_up_to(limit) + r"\Z")
    rng = random.Random(limit)  # noqa: S311 -- reproducible samples, not secrets
    near = range(max(0, limit - 30), limit + 31)
    samples = [*range(0, 130), *near, limit * 10 + 9, *(rng.randrange(0, limit + 1) for _ in range(300)),
               *(rng.randrange(limit + 1, 3 * limit + 3) for _ in range(300))]
    for number in samples:
        assert bool(pattern.match(str(number))) is (number <= limit), number
    assert not pattern.match("") and not pattern.match("-1") and not pattern.match("１") and not pattern.match("1.0")
    assert pattern.match("0" * 5 + str(limit))  # leading zeros, as int() reads them


def test_every_id_route_answers_404_to_a_number_beyond_any_row_id_whatever_the_method(app: Any) -> None:
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if "<int" not in rule.rule:
            continue
        for beyond in (str(MAX_ROW_ID + 1), "9" * 30):
            url = re.sub(r"<[^>]+>", "x", re.sub(r"<int(\([^)]*\))?:\w+>", beyond, rule.rule))
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                with pytest.raises(NotFound):
                    adapter.match(url, method=method)


def test_a_post_to_a_huge_draft_is_not_found_in_chinese(client: Any) -> None:
    response = client.post(f"/intake/drafts/{MAX_ROW_ID + 1}/business")
    assert response.status_code == 404 and "不存在" in response.get_data(as_text=True)
    adapter = client.application.url_map.bind("localhost")
    assert adapter.match(f"/intake/drafts/{MAX_ROW_ID}/business", method="POST")[0] == "intake.save"
