from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from sinks.archive import manifest
from sinks.archive.manifest import ManifestEntry, ManifestError, Signature
from sinks.archive.signing import ManifestSigner, SignatureVerifier
from sinks.batch import Position
from tests.unit.sinks.archive.fakes import FakeKms
from tests.unit.sinks.archive.helpers import SHARD, T0


def entry(first: int = 10, last: int = 20, prev: ManifestEntry | None = None, **changes: object) -> ManifestEntry:
    base = ManifestEntry(
        stream="logs", shard=SHARD, key=f"archive/stream=logs/dt=2023-11-14/hour=22/{SHARD}/{first}.0-{last}.0.ndjson.gz",
        version_id="v1", sha256="ab" * 32, size=100, records=3, ndjson_bytes=300, first=Position(first, 0),
        last=Position(last, 0), first_arrival_ms=T0, last_arrival_ms=T0 + 5,
        prev_sha256=prev.sha256 if prev else None, prev_key=prev.key if prev else None,
        prev_manifest=prev.manifest_key("manifests") if prev else None, prev_last=prev.last if prev else None,
        written_at="2023-11-14T22:13:21.000Z", writer="host:1")
    return replace(base, **changes)  # type: ignore[arg-type]


def test_entry_round_trips_through_its_body():
    signed = entry(signature=Signature("k", "ECDSA_SHA_256", "RAW", "c2ln"))
    assert manifest.parse_entry(signed.body()) == signed
    assert manifest.parse_entry(entry(prev=entry(1, 9)).body()).prev_last == Position(9, 0)


def test_canonical_form_leaves_out_the_signature_and_sorts_keys():
    plain = entry()
    signed = replace(plain, signature=Signature("k", "ECDSA_SHA_256", "RAW", "c2ln"))
    assert plain.canonical() == signed.canonical()
    assert list(orjson.loads(plain.canonical())) == sorted(orjson.loads(plain.canonical()))


def test_manifest_key_is_shard_first_then_hour_then_first_position():
    assert entry().manifest_key("manifests") == f"manifests/stream=logs/{SHARD}/dt=2023-11-14/hour=22/10.0.json"
    assert manifest.position_of_manifest_key("a/b/10.3.json") == Position(10, 3)
    assert manifest.position_of_manifest_key("a/b/notes.txt") is None


def test_an_entry_follows_only_the_entry_it_names():
    first = entry(1, 9)
    second = entry(prev=first)
    assert second.follows(first, first.manifest_key("manifests"))
    assert not second.follows(replace(first, sha256="cd" * 32), first.manifest_key("manifests"))
    assert not entry().follows(first, first.manifest_key("manifests"))


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"format": 2}', orjson.dumps({"format": 1, "stream": "x"})])
def test_anything_else_is_a_manifest_error(body):
    with pytest.raises(ManifestError):
        manifest.parse_entry(body)


def test_large_entries_are_signed_as_a_digest():
    small, kind = manifest.signing_message(entry())
    assert kind == "RAW" and small == entry().canonical()
    big, kind = manifest.signing_message(entry(writer="w" * 5000))
    assert kind == "DIGEST" and len(big) == 32


def test_algorithm_choice_prefers_ecdsa_and_respects_a_wish():
    assert manifest.choose_algorithm(["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PSS_SHA_256"], None) == "RSASSA_PSS_SHA_256"
    assert manifest.choose_algorithm(["ECDSA_SHA_256"], "ECDSA_SHA_256") == "ECDSA_SHA_256"
    with pytest.raises(ValueError, match="does not support"):
        manifest.choose_algorithm(["ECDSA_SHA_256"], "RSASSA_PSS_SHA_256")


def test_signed_entry_verifies_locally_and_a_changed_one_fails_after_asking_kms():
    kms = FakeKms()
    signer = ManifestSigner(kms, "key-1")
    signer.start()
    signed = signer.sign(entry())
    checker = SignatureVerifier(kms)
    assert checker.valid(signed)
    assert "verify" not in kms.calls  # the clean path needs no KMS call per entry
    assert not checker.valid(replace(signed, sha256="00" * 32))
    assert "verify" in kms.calls  # a failing signature is confirmed by KMS
