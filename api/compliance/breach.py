"""Drafts of a breach's notifications, in Vietnamese and English: to the authority (what
happened, which data and how many people, likely consequences, measures taken, the
deadline) and to each affected guest (plain words, what they can do). What facekeep
cannot know is marked for staff to complete. facekeep holds no contact details of guests:
the guest notice is sent through the venue's own channels, shown at the counter or
published; the affected pseudonymous ids are listed beside it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from api.settings import Settings
from api.vocabulary import LANGUAGES
from vault.breaches import Breach

_T: dict[str, dict[str, str]] = {
    "vi": {
        "authority_title": "Thông báo vi phạm quy định về bảo vệ dữ liệu cá nhân (dự thảo)",
        "to": "Kính gửi: Cơ quan chuyên trách bảo vệ dữ liệu cá nhân",
        "controller": "Bên kiểm soát dữ liệu",
        "contact": "Người liên hệ",
        "file": "Mã hồ sơ vi phạm",
        "deadline": "Hạn thông báo",
        "left": "còn {h} giờ",
        "overdue": "ĐÃ QUÁ HẠN {h} giờ",
        "s1": "1. Mô tả vi phạm",
        "discovered": "Thời điểm phát hiện",
        "window": "Thời gian xảy ra",
        "window_unknown": "chưa xác định",
        "window_range": "từ {a} đến {b}",
        "description": "Mô tả",
        "s2": "2. Loại và số lượng dữ liệu cá nhân liên quan",
        "templates": (
            "Dữ liệu sinh trắc học (mẫu khuôn mặt) là dữ liệu cá nhân nhạy cảm. Mỗi mẫu được "
            "mã hóa AES-256-GCM bằng khóa dữ liệu riêng của từng khách hàng; không lưu ảnh, "
            "tên hay số điện thoại."
        ),
        "consents": "Hồ sơ đồng ý: mục đích, địa điểm, thời điểm, phiên bản thông báo.",
        "subjects": (
            "Số chủ thể dữ liệu có thể bị ảnh hưởng: {n} (mã định danh giả danh; phạm vi: {scope})."
        ),
        "s3": "3. Hậu quả có thể xảy ra",
        "consequence": (
            "Khóa dữ liệu được bọc bằng khóa chủ ({kek}) và lưu ở cơ sở dữ liệu riêng. Nếu kho "
            "khóa và khóa chủ không bị lộ, các mẫu khuôn mặt bị lộ không thể đọc được."
        ),
        "s4": "4. Các bước đã thực hiện",
        "s5": "5. Biện pháp khắc phục và giảm thiểu",
        "todo": "CẦN ĐIỀN",
        "todo_consequence": "đánh giá mức độ ảnh hưởng và khả năng dữ liệu đã bị đọc",
        "todo_measures": "các biện pháp tiếp theo (xoay vòng khóa chủ, thu hồi khóa API, ...)",
        "guest_title": "Thông báo về sự cố liên quan đến dữ liệu khuôn mặt của bạn",
        "guest_staff": (
            "Dành cho nhân viên (không gửi phần này): facekeep không giữ thông tin liên lạc của "
            "khách. Hãy gửi thông báo qua kênh của địa điểm, đưa tại quầy hoặc công bố công "
            "khai. Danh sách {n} mã khách hàng bị ảnh hưởng nằm trong tệp {file}."
        ),
        "guest_what": (
            "Ngày {date}, {controller} phát hiện một sự cố có thể ảnh hưởng đến dữ liệu khuôn "
            "mặt của bạn: {description}"
        ),
        "guest_data": (
            "Dữ liệu liên quan là mẫu khuôn mặt của bạn (dữ liệu nhạy cảm), được lưu ở dạng mã "
            "hóa. Chúng tôi không lưu ảnh, tên hay số điện thoại của bạn."
        ),
        "guest_done": "Chúng tôi đã:",
        "guest_can": (
            "Bạn có thể xóa toàn bộ dữ liệu khuôn mặt của mình ngay trên trang của bạn ({me}) "
            "bằng mã truy cập in trên biên nhận, hoặc tại quầy, hoặc rút lại sự đồng ý."
        ),
        "guest_contact": "Liên hệ: {contact}.",
    },
    "en": {
        "authority_title": "Notification of a personal data protection breach (draft)",
        "to": "To: the authority in charge of personal data protection",
        "controller": "Controller",
        "contact": "Contact",
        "file": "Breach file",
        "deadline": "Notify by",
        "left": "{h} hours left",
        "overdue": "OVERDUE by {h} hours",
        "s1": "1. What happened",
        "discovered": "Discovered",
        "window": "When it happened",
        "window_unknown": "not known yet",
        "window_range": "from {a} to {b}",
        "description": "Description",
        "s2": "2. Personal data concerned, and how much",
        "templates": (
            "Biometric data (face templates), which is sensitive personal data. Each template is "
            "encrypted with AES-256-GCM under the customer's own data key; no photo, name or "
            "telephone number is stored."
        ),
        "consents": "Consent records: purposes, venues, times, notice versions.",
        "subjects": "Data subjects possibly affected: {n} (pseudonymous ids; scope: {scope}).",
        "s3": "3. Likely consequences",
        "consequence": (
            "Data keys are wrapped by the key-encryption key ({kek}) and kept in a separate "
            "database. Unless the key store and the key-encryption key were exposed too, "
            "exposed face templates cannot be read."
        ),
        "s4": "4. Steps taken",
        "s5": "5. Measures to remedy and limit the harm",
        "todo": "TO COMPLETE",
        "todo_consequence": "the assessed impact and whether the data could have been read",
        "todo_measures": "further measures (rotate the key-encryption key, revoke API keys, ...)",
        "guest_title": "About an incident involving your face data",
        "guest_staff": (
            "For staff (do not send this part): facekeep holds no contact details of guests. "
            "Send this notice through the venue's own channels, hand it over at the counter or "
            "publish it. The {n} affected customer ids are listed in {file}."
        ),
        "guest_what": (
            "On {date} {controller} discovered an incident that may concern your face data: "
            "{description}"
        ),
        "guest_data": (
            "The data concerned is your face template (sensitive data), stored encrypted. We "
            "do not store your photo, your name or your telephone number."
        ),
        "guest_done": "What we have done:",
        "guest_can": (
            "You can erase all your face data at once on your own page ({me}) with the access "
            "code printed on your receipt, or at the counter, or withdraw your consent."
        ),
        "guest_contact": "Contact: {contact}.",
    },
}


_STEPS: dict[str, dict[str, str]] = {
    "vi": {
        "opened": "mở hồ sơ vi phạm",
        "contained": "ngăn chặn sự cố",
        "authority_notified": "thông báo cho cơ quan chức năng",
        "subjects_notified": "thông báo cho khách bị ảnh hưởng",
        "drafted": "soạn thông báo",
        "note": "ghi chú",
        "closed": "đóng hồ sơ",
    },
    "en": {
        "opened": "opened the breach file",
        "contained": "contained the incident",
        "authority_notified": "notified the authority",
        "subjects_notified": "notified the guests affected",
        "drafted": "drafted the notifications",
        "note": "note",
        "closed": "closed the file",
    },
}


def _when(at: datetime | None, settings: Settings) -> str:
    if at is None:
        return ""
    local = at.astimezone(timezone(timedelta(hours=settings.utc_offset_hours)))
    return local.strftime("%d/%m/%Y %H:%M")


def _scope(breach: Breach) -> str:
    if breach.scope.kind == "all":
        return "all"
    return f"{breach.scope.kind} {', '.join(breach.scope.values)}"


def _contact(settings: Settings) -> str:
    return "; ".join(x for x in (settings.dpo, settings.privacy_contact) if x) or "—"


def authority_notice(breach: Breach, settings: Settings, lang: str, now: datetime) -> str:
    """The draft notification to the authority (Markdown)."""
    t = _T[lang]
    left = (breach.notify_due - now).total_seconds() / 3600
    status = t["left"] if left >= 0 else t["overdue"]
    window = t["window_unknown"]
    if breach.occurred_from or breach.occurred_to:
        window = t["window_range"].format(
            a=_when(breach.occurred_from, settings) or "?",
            b=_when(breach.occurred_to, settings) or "?",
        )
    controller = ", ".join(x for x in (settings.controller, settings.controller_address) if x)
    lines = [
        f"# {t['authority_title']}",
        "",
        t["to"],
        "",
        f"- **{t['controller']}:** {controller}",
        f"- **{t['contact']}:** {_contact(settings)}",
        f"- **{t['file']}:** {breach.breach_id}",
        f"- **{t['deadline']}:** {_when(breach.notify_due, settings)} "
        f"({status.format(h=f'{abs(left):.0f}')})",
        "",
        f"## {t['s1']}",
        "",
        f"- **{t['discovered']}:** {_when(breach.discovered_at, settings)}",
        f"- **{t['window']}:** {window}",
        f"- **{t['description']}:** {breach.description}",
        "",
        f"## {t['s2']}",
        "",
        f"- {t['templates']}",
        f"- {t['consents']}",
        f"- {t['subjects'].format(n=breach.affected, scope=_scope(breach))}",
        "",
        f"## {t['s3']}",
        "",
        t["consequence"].format(kek=settings.kek_provider),
        "",
        f"[{t['todo']}: {t['todo_consequence']}]",
        "",
        f"## {t['s4']}",
        "",
        *_steps(breach, settings, lang),
        "",
        f"## {t['s5']}",
        "",
        f"[{t['todo']}: {t['todo_measures']}]",
        "",
    ]
    return "\n".join(lines)


def _steps(breach: Breach, settings: Settings, lang: str) -> list[str]:
    names = _STEPS[lang]
    out = []
    for step in breach.steps:
        note = f": {step.note}" if step.note and step.step != "opened" else ""
        out.append(f"- {_when(step.at, settings)}: {names.get(step.step, step.step)}{note}")
    return out


def guest_notice(breach: Breach, settings: Settings, lang: str, subjects_file: str) -> str:
    """The draft notice to each affected guest (Markdown)."""
    t = _T[lang]
    me = f"{(settings.public_url or '').rstrip('/')}/me"
    description = breach.description.rstrip(".") + "."
    return "\n".join(
        [
            f"# {t['guest_title']}",
            "",
            f"> {t['guest_staff'].format(n=breach.affected, file=subjects_file)}",
            "",
            t["guest_what"].format(
                date=_when(breach.discovered_at, settings).split(" ")[0],
                controller=settings.controller,
                description=description,
            ),
            "",
            t["guest_data"],
            "",
            t["guest_done"],
            "",
            *_steps(breach, settings, lang),
            "",
            t["guest_can"].format(me=me),
            "",
            t["guest_contact"].format(contact=_contact(settings)),
            "",
        ]
    )


def write_drafts(
    breach: Breach,
    subjects: list[str],
    settings: Settings,
    out: Path,
    now: datetime,
    langs: tuple[str, ...] = LANGUAGES,
) -> list[Path]:
    """Write both drafts in each language and the affected ids to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    subjects_file = f"{breach.breach_id}-subjects.txt"
    written = [out / subjects_file]
    written[0].write_text("".join(f"{c}\n" for c in subjects), encoding="utf-8")
    for lang in langs:
        authority = out / f"{breach.breach_id}-authority.{lang}.md"
        authority.write_text(authority_notice(breach, settings, lang, now), encoding="utf-8")
        guests = out / f"{breach.breach_id}-guests.{lang}.md"
        guests.write_text(guest_notice(breach, settings, lang, subjects_file), encoding="utf-8")
        written += [authority, guests]
    return written
