"""The fuzz harness, and the CI gate it serves: 1,000 generated inputs per target, no findings."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pytest

from consumer.commands import fuzz as fuzz_command
from parsers import fuzz
from parsers.errors import EventError
from parsers.event import Event

CI_ITERATIONS = 1000
CI_SEED = 20240601


def test_every_envelope_and_parser_survives_generated_inputs():
    """The gate: what a finding means is in `parsers.fuzz`; reproduce one with fuzz.generate(target, seed, i)."""
    names = fuzz.select(None)
    reports = fuzz.run(names, CI_ITERATIONS, CI_SEED)
    assert [r.inputs for r in reports] == [CI_ITERATIONS] * len(names)
    findings = [f"{f.target} #{f.index} {f.kind}: {f.detail} | {f.input}" for r in reports for f in r.findings]
    assert not findings, f"{len(findings)} findings:\n" + "\n".join(findings[:40])


def _behaving(index: int) -> str:
    if index == 3:
        time.sleep(30)  # a hang
    if index == 5:
        raise ValueError("boom")
    if index == 7:
        os._exit(3)  # a crash: the child dies
    if index == 8:
        raise EventError("refused")
    return "ok"


def _check(data: int):
    return fuzz._guard(lambda: _behaving(data))


class _Indexed(fuzz.Target):
    """Input i is the number i."""

    def generate(self, seed: int, index: int) -> int:
        return index


def test_hangs_exceptions_and_crashes_are_findings_and_the_run_goes_on():
    catalogue = {"fake": _Indexed("fake", (0,), lambda rng, seed: seed, _check)}
    report, = fuzz.run(["fake"], 12, seed=1, timeout=0.5, jobs=1, catalogue=catalogue)
    assert report.inputs == 12 and report.rejected == 1
    assert sorted((f.kind, f.index) for f in report.findings) == [("crash", 7), ("exception", 5), ("timeout", 3)]


def test_generated_inputs_are_reproducible_from_seed_and_index():
    for name in ("envelope:cloudwatch_logs", "record", "cloudwatch_logs"):
        first = fuzz.render(fuzz.generate(name, 7, 42), limit=10_000)
        assert first == fuzz.render(fuzz.generate(name, 7, 42), limit=10_000)


def test_an_input_does_not_depend_on_the_inputs_generated_and_parsed_before_it():
    # Inputs of the k8s audit target once put the module's shared [None] and {"a": {"b": []}} into events, and
    # later mutations (or the parser) changed those constants for every later input of every target.
    alone = fuzz.render(fuzz.generate("eks_authenticator", 1, 192), limit=10_000)
    constants = repr(fuzz._JSON_VALUES)
    other = fuzz.targets()["kubernetes.audit_logs"]
    for index in range(2500):
        other.check(other.generate(1, index))
    assert repr(fuzz._JSON_VALUES) == constants
    assert fuzz.render(fuzz.generate("eks_authenticator", 1, 192), limit=10_000) == alone


def test_targets_cover_every_envelope_the_record_path_and_every_registered_parser():
    from parsers import registry

    names = set(fuzz.select(None))
    assert {f"envelope:{e}" for e in fuzz.ENVELOPES} | {"record"} | set(registry.names()) == names


def test_targets_have_seeds_without_the_shared_fixtures():
    catalogue = fuzz.targets(Path("/nonexistent"))
    assert all(target.seeds for target in catalogue.values())


def test_select_takes_globs_and_rejects_unknown_names():
    assert fuzz.select(["envelope:*"]) == [f"envelope:{e}" for e in fuzz.ENVELOPES]
    with pytest.raises(ValueError):
        fuzz.select(["no-such-target"])


def test_render_is_short_and_never_fails_on_deep_objects():
    deep: list = []
    node = deep
    for _ in range(2000):
        node.append([])
        node = node[0]
    assert "too deeply" in fuzz.render(Event(obj=deep))
    assert len(fuzz.render("x" * 10_000)) < 400


def _args(**overrides) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    fuzz_command.add_arguments(parser)
    args = parser.parse_args([])
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def test_command_prints_a_table_and_exits_0_without_findings(capsys):
    assert fuzz_command.run(_args(iterations=20, target=["envelope:lines", "cloudwatch_logs"], seed=3)) == 0
    out = capsys.readouterr().out
    assert "seed 3" in out and "envelope:lines" in out and "0 findings" in out


def test_command_exits_1_on_a_finding(monkeypatch, capsys):
    def fake_run(names, iterations, seed, **kwargs):
        report = fuzz.Report("record", inputs=iterations)
        report.findings.append(fuzz.Finding("record", 4, "exception", "ValueError: x", "b'...'"))
        kwargs["on_done"](report)
        return [report]

    monkeypatch.setattr(fuzz, "run", fake_run)
    assert fuzz_command.run(_args(iterations=5, target=["record"], seed=1)) == 1
    assert "record #4 exception: ValueError: x" in capsys.readouterr().out


def test_command_rejects_unknown_targets(capsys):
    assert fuzz_command.run(_args(target=["nope"])) == 2
