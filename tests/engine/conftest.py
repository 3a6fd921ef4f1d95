"""Engine tests run with the runtime's fast paths checked against SpiffWorkflow's own code.

Every task-tree walk (``engine.runtime.tree``, stems included) is compared with SpiffWorkflow's
iterator and every incremental dump with a full ``serialize_json`` (``engine.runtime.dumping``):
the engine tests drive every path of every diagram, so a fast path that ever returned something
else fails here with "task walk differs" / "incremental dump differs" (about 7% more time).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.runtime import BpmnRuntime
from engine.runtime.tree import HeduiBpmnWorkflow


@pytest.fixture(autouse=True, scope="session")
def _verify_fast_paths() -> Iterator[None]:
    walks, dumps = HeduiBpmnWorkflow.verify_walks, BpmnRuntime.verify_dumps
    HeduiBpmnWorkflow.verify_walks = BpmnRuntime.verify_dumps = True
    yield
    HeduiBpmnWorkflow.verify_walks, BpmnRuntime.verify_dumps = walks, dumps
