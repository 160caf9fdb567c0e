"""`secstash run` refuses bad settings before any I/O, naming the key, with exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def test_run_refuses_a_misspelt_key_before_starting_anything(tmp_path: Path) -> None:
    config = tmp_path / "secstash.yml"
    config.write_text(yaml.safe_dump({
        "streams": [{"name": "logs", "retrieval_mode": "fast"}],
        "archive": {"bucket": "archive-bucket"},
        "search": {"hosts": ["http://127.0.0.1:9"], "pasword": "x"},
    }))
    done = subprocess.run([sys.executable, "-m", "consumer.cli", "run", "--config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "streams[0].retrieval_mode" in done.stderr
    assert "search.pasword: unknown key" in done.stderr


def test_check_config_prints_the_generated_properties(tmp_path: Path) -> None:
    config = tmp_path / "secstash.yml"
    config.write_text(yaml.safe_dump({"streams": [{"name": "logs"}], "archive": {"bucket": "archive-bucket"},
                                      "search": {"hosts": ["http://127.0.0.1:9"]},
                                      "kcl": {"worker_id": "w-1"}}))
    done = subprocess.run([sys.executable, "-m", "consumer.cli", "check-config", "--config", str(config),
                           "--show-properties"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "streamName = logs" in done.stdout and "workerId = w-1" in done.stdout


def test_check_config_shows_each_stream_of_one_name_under_its_key(tmp_path: Path, capsys) -> None:
    from consumer import cli

    config = tmp_path / "secstash.yml"
    config.write_text(yaml.safe_dump({"streams": [
        {"arn": "arn:aws:kinesis:eu-west-1:111111111111:stream/logs", "id": "acct-a", "application_name": "soc-a"},
        {"arn": "arn:aws:kinesis:eu-west-1:222222222222:stream/logs", "id": "acct-b", "application_name": "soc-b"}],
        "archive": {"bucket": "archive-bucket"}, "search": {"hosts": ["http://127.0.0.1:9"]},
        "kcl": {"worker_id": "w-1"}}))
    assert cli.main(["check-config", "--config", str(config), "--show-properties"]) == 0
    out = capsys.readouterr().out
    assert "settings valid: 2 stream(s): acct-a, acct-b" in out
    assert "--- acct-b\n" in out and "streamArn = arn:aws:kinesis:eu-west-1:222222222222:stream/logs" in out
