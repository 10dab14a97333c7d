"""Tampering with an auditor's export is caught, and by the named check that should catch it.

Each test works on a fresh copy of one real export (several enrolments, matches,
revocations, a grant and two erasures) and runs both ``vault.audit.verify.verify_export`` and
the command line ``facekeep audit verify DIR --pubkey FILE``.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vault.audit.signing import load_public_key
from vault.audit.verify import verify_export

ALL_CHECKS = {
    "pubkey",
    "log.parse",
    "log.sequence",
    "signatures.tree_heads",
    "log.roots",
    "log.coverage",
    "receipts.present",
    "receipts.signatures",
    "receipts.logged",
    "receipts.inclusion",
    "receipts.destruction_events",
    "keys.listing",
    "keys.destroyed_absent",
}


# --------------------------------------------------------------------------- helpers


def _verify(directory: Path, pubkey_file: Path, **kwargs: Any) -> dict[str, Any]:
    pub = load_public_key(pubkey_file.read_text(encoding="utf-8"))
    return verify_export(directory, pubkey=pub, **kwargs).to_json()


def _cli_verify(cli_run, directory: Path, pubkey_file: Path, *extra: str):
    return cli_run("audit", "verify", str(directory), "--pubkey", str(pubkey_file), *extra)


def _assert_caught(report: dict[str, Any], cli_result, expected: set[str]) -> None:
    """FAIL, exactly the ``expected`` checks failed, and the CLI agrees and exits non-zero."""
    assert report["verdict"] == "FAIL"
    assert report["ok"] is False
    assert set(report["failed"]) == expected, report["failed"]
    assert cli_result.exit_code != 0
    assert cli_result.json["verdict"] == "FAIL"
    assert set(cli_result.json["failed"]) == expected


def _lines(directory: Path) -> list[str]:
    return (directory / "log.jsonl").read_text(encoding="utf-8").splitlines()


def _write_lines(directory: Path, lines: list[str]) -> None:
    (directory / "log.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _index_of(lines: list[str], action: str, nth: int = 0) -> int:
    found = [i for i, line in enumerate(lines) if json.loads(line)["action"] == action]
    return found[nth]


def _receipts(directory: Path, prefix: str) -> list[Path]:
    return sorted((directory / "receipts").glob(f"{prefix}_*.json"))


def _customer(receipt_file: Path) -> str:
    return json.loads(receipt_file.read_text(encoding="utf-8"))["receipt"]["pii_principal_id"]


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


# --------------------------------------------------------------------------- untouched


def test_untouched_export_passes_every_named_check(sample_export, export_copy, cli_run) -> None:
    directory = export_copy("untouched")
    lines = _lines(directory)
    actions = [json.loads(line)["action"] for line in lines]
    # The log really holds what the issue asks for.
    assert actions.count("enrol") == 5
    assert actions.count("match") >= 4
    assert actions.count("consent.revoke") == 2
    assert actions.count("consent.grant") == 1
    assert actions.count("erase.complete") == 2
    assert len(_receipts(directory, "dr")) == 2
    assert len(_receipts(directory, "cr")) == 6

    report = _verify(directory, sample_export["pubkey"])
    assert report["verdict"] == "PASS", report["failed"]
    assert {c["check"] for c in report["checks"]} == ALL_CHECKS
    assert all(c["ok"] for c in report["checks"])

    pinned = _cli_verify(cli_run, directory, sample_export["pubkey"])
    assert pinned.exit_code == 0
    assert pinned.json["verdict"] == "PASS"
    unpinned = cli_run("audit", "verify", str(directory))
    assert unpinned.exit_code == 0
    assert unpinned.json["verdict"] == "PASS"


def test_console_script_exits_non_zero_on_a_tampered_export(sample_export, export_copy) -> None:
    """The installed ``facekeep`` entry point, in its own process (PASS/exit 0 is covered
    in-process above through the same ``api.cli.main``)."""
    script = Path(sys.executable).with_name("facekeep")
    assert script.exists()
    bad = export_copy("bad")
    lines = _lines(bad)
    del lines[3]
    _write_lines(bad, lines)
    proc = subprocess.run(
        [str(script), "audit", "verify", str(bad), "--pubkey", str(sample_export["pubkey"])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["verdict"] == "FAIL"
    assert {"log.sequence", "log.roots", "log.coverage"} <= set(out["failed"])


# --------------------------------------------------------------------------- the log


@pytest.mark.parametrize(
    ("action", "needle"),
    [
        ("enrol", '"id":"desk-1"'),
        ("match", '"venue":"lobby"'),
        ("erase.complete", '"reason":"customer request"'),
    ],
)
def test_one_byte_flipped_inside_a_string_value(
    sample_export, export_copy, cli_run, action, needle
) -> None:
    directory = export_copy("flipped")
    lines = _lines(directory)
    index = _index_of(lines, action)
    line = lines[index].encode("utf-8")
    # First character of the string value after the key (an ASCII letter; ^1 keeps it one).
    position = line.index(needle.encode()) + needle.index(':"') + 2
    tampered = _flip(line, position).decode("utf-8")
    assert tampered != lines[index]
    assert json.loads(tampered)["seq"] == index  # still parseable, still in place
    lines[index] = tampered
    _write_lines(directory, lines)

    report = _verify(directory, sample_export["pubkey"])
    # The leaf hash changed: no signed root can be recomputed, so no receipt is included
    # under the signed head either. Parsing, numbering and signatures are untouched.
    _assert_caught(
        report,
        _cli_verify(cli_run, directory, sample_export["pubkey"]),
        {"log.roots", "receipts.inclusion"},
    )


def test_one_byte_flipped_so_the_json_breaks(sample_export, export_copy, cli_run) -> None:
    directory = export_copy("broken")
    lines = _lines(directory)
    index = _index_of(lines, "match", 1)
    raw = _flip(lines[index].encode("utf-8"), 0)  # "{" -> "z"
    lines[index] = raw.decode("utf-8")
    with pytest.raises(ValueError):
        json.loads(lines[index])
    _write_lines(directory, lines)

    report = _verify(directory, sample_export["pubkey"])
    _assert_caught(
        report,
        _cli_verify(cli_run, directory, sample_export["pubkey"]),
        {"log.parse", "log.roots", "receipts.inclusion"},
    )


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_one_entry_dropped(sample_export, export_copy, cli_run, where) -> None:
    directory = export_copy("dropped")
    lines = _lines(directory)
    index = {"first": 0, "middle": _index_of(lines, "consent.revoke"), "last": len(lines) - 1}
    del lines[index[where]]
    _write_lines(directory, lines)

    report = _verify(directory, sample_export["pubkey"])
    failed = set(report["failed"])
    # Every signed root is recomputed from the log; the latest head no longer covers it.
    assert {"log.roots", "log.coverage"} <= failed
    if where != "last":
        assert "log.sequence" in failed  # a gap in the numbering
    assert "signatures.tree_heads" not in failed
    result = _cli_verify(cli_run, directory, sample_export["pubkey"])
    assert result.exit_code != 0
    assert set(result.json["failed"]) == failed


def test_two_entries_reordered(sample_export, export_copy, cli_run) -> None:
    directory = export_copy("reordered")
    lines = _lines(directory)
    a, b = _index_of(lines, "match", 0), _index_of(lines, "match", 1)
    lines[a], lines[b] = lines[b], lines[a]
    _write_lines(directory, lines)

    report = _verify(directory, sample_export["pubkey"])
    # Same entries, same count: the numbering and the roots catch the order, nothing else.
    _assert_caught(
        report,
        _cli_verify(cli_run, directory, sample_export["pubkey"]),
        {"log.sequence", "log.roots", "receipts.inclusion"},
    )


# --------------------------------------------------------------------------- receipts


@pytest.mark.parametrize(
    ("prefix", "field", "value", "also"),
    [
        ("dr", "reason", "retention", set()),
        # ... and the receipt no longer names the customer of the erase event it points at.
        ("dr", "pii_principal_id", "bao", {"receipts.destruction_events"}),
        ("cr", "jurisdiction", "EU", set()),
    ],
)
def test_one_field_of_a_receipt_edited(
    sample_export, export_copy, cli_run, prefix, field, value, also
) -> None:
    directory = export_copy("edited")
    (path,) = [p for p in _receipts(directory, prefix) if _customer(p) == "ana"]
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["receipt"][field] != value
    doc["receipt"][field] = value
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")

    report = _verify(directory, sample_export["pubkey"])
    # The signature no longer covers the body, and the body's hash is not the logged one.
    _assert_caught(
        report,
        _cli_verify(cli_run, directory, sample_export["pubkey"]),
        {"receipts.signatures", "receipts.logged"} | also,
    )


def test_receipt_bodies_swapped_under_their_signatures(sample_export, export_copy, cli_run) -> None:
    directory = export_copy("bodies")
    first, second = _receipts(directory, "dr")
    a = json.loads(first.read_text(encoding="utf-8"))
    b = json.loads(second.read_text(encoding="utf-8"))
    a["receipt"], b["receipt"] = b["receipt"], a["receipt"]
    first.write_text(json.dumps(a), encoding="utf-8")
    second.write_text(json.dumps(b), encoding="utf-8")

    report = _verify(directory, sample_export["pubkey"])
    _assert_caught(
        report,
        _cli_verify(cli_run, directory, sample_export["pubkey"]),
        # The signatures no longer match, and each file now carries another receipt's id.
        {"receipts.signatures", "receipts.logged"},
    )


@pytest.mark.parametrize(
    "tamper",
    ["destruction replaced by a consent receipt", "consent replaced by another", "deleted"],
)
def test_receipt_file_replaced_or_removed(sample_export, export_copy, cli_run, tamper) -> None:
    directory = export_copy("swapped")
    destruction = _receipts(directory, "dr")[0]
    consents = _receipts(directory, "cr")
    if tamper == "destruction replaced by a consent receipt":
        destruction.write_text(consents[0].read_text(encoding="utf-8"), encoding="utf-8")
    elif tamper == "consent replaced by another":
        consents[1].write_text(consents[0].read_text(encoding="utf-8"), encoding="utf-8")
    else:
        destruction.unlink()

    report = _verify(directory, sample_export["pubkey"])
    assert report["verdict"] == "FAIL"
    assert any(name.startswith("receipts.") for name in report["failed"]), report["failed"]
    assert _cli_verify(cli_run, directory, sample_export["pubkey"]).exit_code != 0


@pytest.mark.parametrize("target", ["receipt file", "tree-heads.jsonl"])
def test_corrupted_json_outside_the_log_is_a_named_failure(
    sample_export, export_copy, target
) -> None:
    directory = export_copy("corrupt")
    path = (
        _receipts(directory, "dr")[0]
        if target == "receipt file"
        else directory / "tree-heads.jsonl"
    )
    path.write_bytes(_flip(path.read_bytes(), 0))  # "{" -> "z"

    report = _verify(directory, sample_export["pubkey"])
    assert report["verdict"] == "FAIL"
    expected = "receipts.signatures" if target == "receipt file" else "signatures.tree_heads"
    assert expected in report["failed"]


# --------------------------------------------------------------------------- keys


def test_destroyed_key_put_back_among_the_live_keys(sample_export, export_copy, cli_run) -> None:
    directory = export_copy("resurrected")
    receipt = json.loads(_receipts(directory, "dr")[0].read_text(encoding="utf-8"))
    key_id = receipt["receipt"]["destroyed_keys"][0]["key_id"]
    live = directory / "live-keys.jsonl"
    assert key_id not in live.read_text(encoding="utf-8")
    with live.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"key_id": key_id, "kek_epoch": 1}) + "\n")

    report = _verify(directory, sample_export["pubkey"])
    _assert_caught(
        report,
        _cli_verify(cli_run, directory, sample_export["pubkey"]),
        # The live-key list no longer matches the active states either.
        {"keys.listing", "keys.destroyed_absent"},
    )
    detail = next(c for c in report["checks"] if c["check"] == "keys.destroyed_absent")["detail"]
    assert key_id in detail


@pytest.mark.parametrize("change", ["state active", "commitment changed"])
def test_key_states_contradicting_a_destruction_receipt(sample_export, export_copy, change) -> None:
    directory = export_copy("key-states")
    receipt = json.loads(_receipts(directory, "dr")[0].read_text(encoding="utf-8"))
    key_id = receipt["receipt"]["destroyed_keys"][0]["key_id"]
    path = directory / "key-states.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    (row,) = [r for r in rows if r["key_id"] == key_id]
    assert row["state"] == "destroyed"
    if change == "state active":
        row |= {"state": "active", "destroyed_at": None, "destroy_reason": None}
    else:
        row["commitment"] = "00" * 32
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    report = _verify(directory, sample_export["pubkey"])
    assert report["verdict"] == "FAIL"
    assert any(name.startswith("keys.") for name in report["failed"])


# --------------------------------------------------------------------------- signatures


def test_tree_head_signed_by_another_key(sample_export, export_copy, cli_run, auditor) -> None:
    directory = export_copy("rogue")
    rogue = Ed25519PrivateKey.generate()
    rogue_pem = (
        rogue.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    heads_file = directory / "tree-heads.jsonl"
    heads = [json.loads(line) for line in heads_file.read_text(encoding="utf-8").splitlines()]
    latest = heads[-1]
    body = {k: v for k, v in latest.items() if k not in ("signature", "alg")}
    body["key_id"] = "0123456789abcdef"
    forged = {**body, "alg": "Ed25519"}
    forged["signature"] = base64.b64encode(rogue.sign(auditor.canonical(body))).decode()
    assert auditor.head_ok(rogue_pem, forged)  # a well-formed head, just the wrong signer
    heads[-1] = forged
    heads_file.write_text("".join(json.dumps(h) + "\n" for h in heads), encoding="utf-8")
    (directory / "audit-pubkey.pem").write_text(rogue_pem, encoding="utf-8")

    # Pinned to the real key: the forged head is refused; roots and receipts still agree.
    report = _verify(directory, sample_export["pubkey"])
    _assert_caught(
        report,
        _cli_verify(cli_run, directory, sample_export["pubkey"]),
        {"signatures.tree_heads"},
    )
    # Trusting the export's own (swapped) key instead: the real-key receipts stop verifying.
    unpinned = verify_export(directory).to_json()
    assert "receipts.signatures" in unpinned["failed"]
