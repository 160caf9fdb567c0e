"""parsers.document.finalize: the fields every dataset's ingest pipeline handles alike."""

from __future__ import annotations

import pytest

from parsers import registry
from parsers.document import finalize
from parsers.event import Event
from parsers.options import ParseOptions

WITHOUT_TAG = ParseOptions(keep_original=False)  # no `preserve_original_event` tag


def finalized(dataset: str, text: str) -> dict:
    spec = registry.get(dataset)
    event = Event(message=text)
    [doc] = spec.parse(event, WITHOUT_TAG)
    return finalize(doc, spec, event, WITHOUT_TAG)


@pytest.mark.parametrize(("dataset", "text"), [
    # config's `rename message -> event.original` is never undone by a `remove event.original` step
    ("config", '{"ComplianceType": "COMPLIANT", "ConfigRuleInfo": {"ConfigRuleName": "r"}}'),
    # cloudwatch_logs' `set event.original copy_from message` is its only use of the field
    ("cloudwatch_logs", "Feb 20 07:01:01 ip-172-31-81-156 systemd: Stopping User Slice of root."),
])
def test_pipelines_without_a_removal_step_keep_the_original_untagged(dataset: str, text: str) -> None:
    assert finalized(dataset, text)["event"]["original"] == text


def test_pipelines_that_remove_the_original_drop_it_untagged() -> None:
    # cloudtrail's last processor: `remove event.original` unless tags contain preserve_original_event
    record = '{"eventVersion": "1.08", "eventName": "GetObject", "eventTime": "2024-05-01T10:15:30Z"}'
    assert "original" not in finalized("cloudtrail", record)["event"]
