"""parsers._put: the same documents as ecs.put / ecs.append_unique, for paths known in advance."""

from __future__ import annotations

import orjson
import pytest

from parsers import ecs
from parsers._put import add_related, put_in, put_key

_VALUES = [None, "", "x", 0, False, [], {}, ["a"], {"b": 1}]
_STARTS = [{}, {"event": {"kind": "event"}}, {"source": "not an object"}, {"related": {"ip": ["1.2.3.4"]}},
           {"related": {"ip": "not a list"}}, {"related": []}]


def _render(doc: dict) -> bytes:
    return orjson.dumps(doc)


@pytest.mark.parametrize("start", _STARTS)
@pytest.mark.parametrize("value", _VALUES)
def test_put_in_writes_what_ecs_put_writes(start, value):
    ours, theirs = orjson.loads(_render(start)), orjson.loads(_render(start))
    put_in(ours, "source", "ip", value)
    ecs.put(theirs, "source.ip", value)
    assert _render(ours) == _render(theirs)


@pytest.mark.parametrize("start", _STARTS)
@pytest.mark.parametrize("value", _VALUES)
def test_put_key_writes_what_ecs_put_writes(start, value):
    ours, theirs = orjson.loads(_render(start)), orjson.loads(_render(start))
    put_key(ours, "kind", value)
    ecs.put(theirs, "kind", value)
    assert _render(ours) == _render(theirs)


@pytest.mark.parametrize("start", _STARTS)
@pytest.mark.parametrize("value", [None, "", "1.2.3.4", "5.6.7.8"])
def test_add_related_writes_what_ecs_append_unique_writes(start, value):
    ours, theirs = orjson.loads(_render(start)), orjson.loads(_render(start))
    add_related(ours, "ip", value)
    ecs.append_unique(theirs, "related.ip", value)
    assert _render(ours) == _render(theirs)
