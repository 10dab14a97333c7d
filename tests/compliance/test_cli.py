"""`facekeep requests`, `facekeep breach` and `facekeep compliance dpia` as real
subprocesses on the engine under test: requests get their deadlines and are carried out
(erasure destroys the key, withdrawal stops the purpose, access returns the data), late
ones are listed first; a breach file lists the affected pseudonymous customers and drafts
both notifications in both languages; the dossier's PDF carries Vietnamese text that can
be extracted, its figures are the deployment's, and its generation is in the audit log."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pypdf import PdfReader

from vault import read_events

from .conftest import Deployment


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def test_requests_are_recorded_carried_out_and_listed_by_deadline(deployment: Deployment) -> None:
    lan, minh = deployment.customers["lan"], deployment.customers["minh"]
    call = deployment.ok("requests", "open", "--kind", "erasure", "--channel", "phone")
    assert call["status"] == "open" and call["customer"] is None and call["late"] == []
    assert call["hours_left"] > 0
    late = deployment.ok(
        "requests",
        "open",
        "--kind",
        "access",
        "--channel",
        "letter",
        "--customer",
        lan,
        "--received",
        (datetime.now(UTC) - timedelta(days=20)).date().isoformat(),
        "--note",
        "thư gửi bảo đảm",
    )
    assert late["late"] == ["acknowledge", "complete"]
    withdraw = deployment.ok(
        "requests",
        "open",
        "--kind",
        "withdrawal",
        "--channel",
        "counter",
        "--customer",
        minh,
        "--purpose",
        "checkin",
    )

    due = deployment.ok("requests", "list", "--due")
    assert due["requests"][0]["request"] == late["request"]  # the late one first
    assert {r["request"] for r in due["requests"]} == {
        call["request"],
        late["request"],
        withdraw["request"],
    }
    assert due["summary"] == {"open": 3, "late": 1, "completed": 0, "refused": 0}
    assert due["rules"]["acknowledge_working_days"] == 2 and due["rules"]["complete_days"] == 15

    acked = deployment.ok("requests", "ack", call["request"])
    assert acked["status"] == "acknowledged" and acked["next_deadline"] == acked["complete_by"]
    # The caller is identified at the counter: their data key is destroyed.
    erased = deployment.ok("requests", "complete", call["request"], "--customer", lan)
    assert erased["status"] == "completed" and erased["customer"] == lan
    assert erased["result"]["erased"] is True and erased["result"]["destroyed_key_ids"]
    assert erased["outcome"].startswith("erased")
    # Access after erasure still answers what is held: a tombstone and the destroyed key.
    access = deployment.ok("requests", "complete", late["request"])
    assert access["result"]["customer"] == lan and access["result"]["status"] == "erased"
    assert access["late"] == ["acknowledge", "complete"]
    stopped = deployment.ok("requests", "complete", withdraw["request"])
    assert stopped["result"]["revoked"] == [
        {"consent": stopped["result"]["revoked"][0]["consent"], "purpose": "checkin"}
    ]
    runtime = deployment.runtime()
    try:
        assert runtime.vault.show(lan).status == "erased"
        view = runtime.vault.show(minh)
        assert view.consents[0].active_purposes(runtime.vault.now()) == ()
        actions = [
            e.action for e in read_events(runtime.vault.engine) if e.action.startswith("request.")
        ]
    finally:
        runtime.close()
    assert actions.count("request.open") == 3 and actions.count("request.complete") == 3
    assert deployment.ok("requests", "list", "--due")["requests"] == []

    code, error = deployment.run("requests", "complete", call["request"])
    assert code != 0 and error["error"] == "request_closed"
    fix = deployment.ok("requests", "open", "--kind", "correction", "--channel", "counter")
    code, error = deployment.run("requests", "complete", fix["request"], "--customer", minh)
    assert code != 0 and error["error"] == "invalid_outcome"
    done = deployment.ok(
        "requests",
        "complete",
        fix["request"],
        "--customer",
        minh,
        "--outcome",
        "photos retaken at the counter",
    )
    assert done["outcome"] == "corrected; photos retaken at the counter"
    code, error = deployment.run(
        "requests", "open", "--kind", "access", "--channel", "phone", "--received", "yesterday"
    )
    assert code != 0 and error["error"] == "invalid_time"


def test_a_breach_file_lists_the_affected_and_drafts_both_notices(
    deployment: Deployment, tmp_path: Path
) -> None:
    opened = deployment.ok(
        "breach",
        "open",
        "--description",
        "Máy tính bảng ở quầy Sen Vàng bị mất",
        "--venue",
        "sen-vang",
    )
    c = deployment.customers
    assert sorted(opened["affected"]) == sorted([c["minh"], c["hoa"]])
    assert opened["affected_customers"] == 2
    assert 71.9 <= opened["hours_left"] <= 72.0
    assert opened["keep_until"][:4] == str(datetime.now(UTC).year + 5)
    notified = deployment.ok(
        "breach", "step", opened["breach"], "--step", "authority_notified", "--note", "gửi A05"
    )
    assert notified["authority_notified_at"] is not None and notified["late"] == []
    drafts = deployment.ok("breach", "draft", opened["breach"], "--out", str(tmp_path / "d"))
    names = set(drafts["files"])
    b = opened["breach"]
    assert names == {
        f"{b}-subjects.txt",
        f"{b}-authority.vi.md",
        f"{b}-guests.vi.md",
        f"{b}-authority.en.md",
        f"{b}-guests.en.md",
    }
    folder = tmp_path / "d"
    assert (folder / f"{b}-subjects.txt").read_text().split() == sorted([c["minh"], c["hoa"]])
    authority = (folder / f"{b}-authority.vi.md").read_text(encoding="utf-8")
    assert "Thông báo vi phạm quy định về bảo vệ dữ liệu cá nhân" in authority
    assert "Công ty TNHH Karaoke Hoa Sen, 12 Lý Thường Kiệt" in authority
    assert "Số chủ thể dữ liệu có thể bị ảnh hưởng: 2" in authority
    assert "thông báo cho cơ quan chức năng: gửi A05" in authority
    assert "[CẦN ĐIỀN:" in authority
    guests = (folder / f"{b}-guests.en.md").read_text(encoding="utf-8")
    assert "Máy tính bảng ở quầy Sen Vàng bị mất." in guests
    assert "privacy@hoasen.example" in guests and "/me" in guests
    for customer in c.values():
        assert customer not in guests  # one notice for every guest; ids are listed apart
    shown = deployment.ok("breach", "show", b)
    assert [s["step"] for s in shown["steps"]] == ["opened", "authority_notified", "drafted"]
    assert deployment.ok("breach", "list", "--open")["breaches"][0]["breach"] == b
    closed = deployment.ok("breach", "step", b, "--step", "closed", "--note", "xong")
    assert closed["status"] == "closed" and closed["hours_left"] is None
    code, error = deployment.run("breach", "step", b, "--step", "note", "--note", "x")
    assert code != 0 and error["error"] == "breach_closed"
    code, error = deployment.run(
        "breach", "open", "--description", "x", "--venue", "a", "--customer", "b"
    )
    assert code != 0 and error["error"] == "invalid_scope"


def test_the_dossier_from_the_live_deployment(deployment: Deployment, tmp_path: Path) -> None:
    deployment.ok(
        "requests", "open", "--kind", "access", "--channel", "letter", "--received", "2020-01-01"
    )
    out = deployment.ok(
        "compliance",
        "dpia",
        "--out",
        str(tmp_path / "dpia"),
        env={"FACEKEEP_DPIA_LARGE_SCALE_SUBJECTS": "2"},
    )
    assert out["sensitive_subjects"] == 3 and out["large_scale"] is True
    assert out["placeholders"] == []
    folder = tmp_path / "dpia"
    files = sorted(p.name for p in folder.iterdir())
    day = out["generated_at"][:10]
    assert files == [f"dpia-{day}.{lang}.{ext}" for lang in ("en", "vi") for ext in ("md", "pdf")]
    for name, digest in out["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest

    markdown = (folder / f"dpia-{day}.vi.md").read_text(encoding="utf-8")
    pdf = _pdf_text(folder / f"dpia-{day}.vi.pdf")
    for text in (markdown, pdf):
        assert "Hồ sơ đánh giá tác động xử lý dữ liệu cá nhân" in text
        assert "Công ty TNHH Karaoke Hoa Sen" in text
        assert "Nguyễn Thị Lan" in text
        assert "CÓ: hơn 2 chủ thể có dữ liệu nhạy cảm" in text
        assert "Viettel IDC: hosting in Hà Nội" in text
        assert "Khóa chủ (KEK)" in text
    assert "Mẫu khuôn mặt (dữ liệu sinh trắc học) | có |" in markdown
    assert "| Yêu cầu quá hạn | 1 |" in markdown
    assert "| Khóa chủ nằm ngoài máy chủ ứng dụng (HSM hoặc KMS) | không |" in markdown
    assert "> **[Địa điểm cần bổ sung]**" in markdown
    english = (folder / f"dpia-{day}.en.md").read_text(encoding="utf-8")
    assert "| Customers whose face templates are held (sensitive data) | 3 |" in english
    assert "| Customers with at least one active purpose | 3 |" in english
    assert "| Check-in: recognise guests by face when they arrive |" in english
    assert "local key file (DEVELOPMENT ONLY)" in english
    assert "Key store (wrapped data keys)" in _pdf_text(folder / f"dpia-{day}.en.pdf")

    runtime = deployment.runtime()
    try:
        events = list(read_events(runtime.vault.engine, action="compliance.dpia"))
    finally:
        runtime.close()
    assert len(events) == 1
    assert events[0].body["details"]["files"] == out["files"]
    assert events[0].body["actor"] == {"role": "operator", "id": "cli"}

    small = deployment.ok("compliance", "dpia", "--out", str(tmp_path / "again"), "--lang", "en")
    assert small["large_scale"] is False and list(small["files"]) == [
        f"dpia-{day}.en.md",
        f"dpia-{day}.en.pdf",
    ]
