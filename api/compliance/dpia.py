"""The processing impact-assessment dossier ("hồ sơ đánh giá tác động xử lý dữ liệu cá
nhân"), written from the live deployment in Vietnamese and English, as Markdown and PDF.

The facts come from the running system: the settings (controller, DPO, location, rules),
the databases (how many people, which notices, the registers) and the real configuration
of the technical measures (KEK provider, databases, keys per role, the audit log). What
facekeep cannot know (contracts, policies) is marked for the venue to attach. Each
generation is recorded in the audit log with the files' SHA-256.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, distinct, func, select
from sqlalchemy.engine import make_url

from api.compliance import breach_register, request_register
from api.notices import available, notice_for
from api.runtime import Runtime
from api.settings import Settings
from api.vocabulary import LANGUAGES
from dbkit import writing
from keys.store import data_keys
from vault import Actor
from vault.audit import append_event
from vault.models import (
    api_keys,
    audit_events,
    consent_purposes,
    consents,
    customers,
    templates,
    venues,
)
from vault.requests import summary

from .document import Attach, Bullets, Document, Flow, Grid, Heading, Para, to_markdown, to_pdf

LANGS = LANGUAGES


@dataclass
class Facts:
    """What the dossier states, read from the deployment at one moment."""

    generated_at: datetime
    settings: Settings
    customers: dict[str, int]
    consenting: int
    by_purpose: dict[str, int]
    templates: int
    models: dict[str, int]
    venues: int
    notices: list[dict[str, Any]]
    keys_by_role: dict[str, int]
    key_states: dict[str, int]
    kek_epochs: list[int]
    audit_events: int
    signed_head: dict[str, Any] | None
    last_rotation: datetime | None
    requests: dict[str, int]
    breaches_open: int
    breaches_late: int
    databases: dict[str, str] = field(default_factory=dict)

    @property
    def sensitive_subjects(self) -> int:
        """People whose face templates the vault holds (sensitive data is processed)."""
        return self.customers.get("active", 0)

    @property
    def large_scale(self) -> bool:
        """Over the threshold above which the law asks more of the assessment."""
        return self.sensitive_subjects > self.settings.dpia_large_scale_subjects


def _where(url: str) -> str:
    """Engine and host of a database URL, never its credentials."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {Path(parsed.database or '').name or '(memory)'}"
    return f"PostgreSQL at {parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"


def _counts(engine: Engine, query: Any) -> dict[str, int]:
    with engine.connect() as conn:
        return {str(k): int(v) for k, v in conn.execute(query).all()}


def gather(runtime: Runtime) -> Facts:
    """Read the facts of the dossier from the deployment."""
    vault, settings = runtime.vault, runtime.settings
    engine, now = vault.engine, vault.now()
    live = (
        select(consents.c.customer_id, consent_purposes.c.purpose)
        .select_from(consent_purposes.join(consents).join(customers))
        .where(consent_purposes.c.revoked_at.is_(None))
        .where(consents.c.expires_at.is_(None) | (consents.c.expires_at > now))
        .where(customers.c.status == "active")
    ).subquery()
    with engine.connect() as conn:
        consenting = int(
            conn.execute(select(func.count(distinct(live.c.customer_id)))).scalar_one()
        )
        by_purpose = {
            str(p): int(n)
            for p, n in conn.execute(
                select(live.c.purpose, func.count(distinct(live.c.customer_id))).group_by(
                    live.c.purpose
                )
            )
        }
        total_templates = int(
            conn.execute(select(func.count()).select_from(templates)).scalar_one()
        )
        venue_count = int(
            conn.execute(
                select(func.count()).select_from(venues).where(venues.c.disabled_at.is_(None))
            ).scalar_one()
        )
        events = int(conn.execute(select(func.count()).select_from(audit_events)).scalar_one())
        rotated = conn.execute(
            select(func.max(audit_events.c.ts)).where(audit_events.c.action == "kek.rotate")
        ).scalar()
        in_force = conn.execute(
            select(
                consents.c.notice_version,
                consents.c.notice_lang,
                func.count(distinct(consents.c.customer_id)),
            )
            .select_from(consents.join(customers))
            .where(customers.c.status == "active")
            .group_by(consents.c.notice_version, consents.c.notice_lang)
        ).all()
    held = {(str(v), str(lg)): int(n) for v, lg, n in in_force}
    notices = []
    for version, lang in sorted(set(available(settings.notices_dir)) | set(held)):
        try:
            digest = hashlib.sha256(notice_for(settings, version, lang).encode("utf-8")).hexdigest()
        except LookupError:
            digest = ""
        notices.append(
            {
                "version": version,
                "lang": lang,
                "customers": held.get((version, lang), 0),
                "sha256": digest,
            }
        )
    head = vault.audit.latest_head() if vault.audit is not None else None
    requests = request_register(runtime)
    breaches = breach_register(runtime).find(open_only=True)
    return Facts(
        generated_at=now,
        settings=settings,
        customers=_counts(
            engine, select(customers.c.status, func.count()).group_by(customers.c.status)
        ),
        consenting=consenting,
        by_purpose=by_purpose,
        templates=total_templates,
        models=_counts(
            engine,
            select(templates.c.model_version, func.count()).group_by(templates.c.model_version),
        ),
        venues=venue_count,
        notices=notices,
        keys_by_role=_counts(
            engine,
            select(api_keys.c.role, func.count())
            .where(api_keys.c.disabled_at.is_(None))
            .group_by(api_keys.c.role),
        ),
        key_states=_counts(
            runtime.keys.engine,
            select(data_keys.c.state, func.count()).group_by(data_keys.c.state),
        ),
        kek_epochs=runtime.keys.kek.epochs(),
        audit_events=events,
        signed_head=(
            {"tree_size": head.tree_size, "timestamp": head.timestamp.isoformat()} if head else None
        ),
        last_rotation=rotated,
        requests=summary(requests.find(limit=100_000), now),
        breaches_open=len(breaches),
        breaches_late=sum(1 for b in breaches if b.late(now)),
        databases={"vault": _where(settings.vault_url()), "keys": _where(settings.keys_url())},
    )


# --------------------------------------------------------------------------- wording

_T: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Hồ sơ đánh giá tác động xử lý dữ liệu cá nhân",
        "subtitle": "Lập tự động từ hệ thống facekeep {version} đang chạy, lúc {at}. "
        "Các số liệu phản ánh thời điểm này; hãy lập lại khi có thay đổi.",
        "attach": "Địa điểm cần bổ sung",
        "yes": "có",
        "no": "không",
        "check": "cần tự kiểm",
        "none": "không có",
        "s1": "1. Bên kiểm soát dữ liệu và người phụ trách bảo vệ dữ liệu cá nhân",
        "legal_name": "Tên pháp lý",
        "address": "Địa chỉ",
        "contact": "Liên hệ về dữ liệu cá nhân",
        "dpo": "Người phụ trách bảo vệ dữ liệu cá nhân",
        "jurisdiction": "Pháp luật áp dụng",
        "placeholder": "CHƯA CẤU HÌNH ({names})",
        "no_dpo": "chưa chỉ định",
        "s2": "2. Mục đích xử lý và cơ sở pháp lý",
        "purpose": "Mục đích",
        "basis": "Cơ sở pháp lý",
        "people": "Số người đang đồng ý",
        "p_checkin": "Check-in: nhận ra khách bằng khuôn mặt khi khách đến",
        "p_marketing": "Tiếp thị: dùng các lần đến để gửi ưu đãi (lựa chọn riêng)",
        "consent": "Sự đồng ý rõ ràng, riêng cho từng mục đích, không đánh dấu sẵn; "
        "có thể rút lại bất cứ lúc nào",
        "notices": "Các phiên bản thông báo đang có hiệu lực (văn bản đầy đủ và SHA-256 được "
        "lưu cùng mỗi sự đồng ý):",
        "version": "Phiên bản",
        "lang": "Ngôn ngữ",
        "holders": "Khách đang giữ",
        "s3": "3. Loại dữ liệu cá nhân",
        "category": "Loại dữ liệu",
        "sensitive": "Nhạy cảm",
        "stored": "Cách lưu",
        "c_template": "Mẫu khuôn mặt (dữ liệu sinh trắc học)",
        "c_template_how": "Mã hóa AES-256-GCM bằng khóa riêng của từng khách; ảnh không bao "
        "giờ được lưu",
        "c_consent": "Hồ sơ đồng ý: mục đích, địa điểm, thời điểm, văn bản thông báo",
        "c_consent_how": "Cơ sở dữ liệu vault, không kèm tên hay số điện thoại",
        "c_id": "Mã khách hàng giả danh, mã băm của mã truy cập",
        "c_id_how": "Không suy ra được danh tính; mã truy cập chỉ lưu dạng băm SHA-256",
        "c_audit": "Nhật ký kiểm toán: thời điểm và địa điểm nhận diện, các thay đổi",
        "c_audit_how": "Cây Merkle có chữ ký Ed25519; không chứa ảnh, mẫu hay bí mật",
        "s4": "4. Chủ thể dữ liệu",
        "subjects_held": "Khách có mẫu khuôn mặt đang được lưu (dữ liệu nhạy cảm)",
        "subjects_consenting": "Khách có ít nhất một mục đích đang hiệu lực",
        "subjects_erased": "Khách đã bị xóa (khóa đã hủy)",
        "templates": "Số mẫu khuôn mặt",
        "venues": "Số địa điểm đang hoạt động",
        "large": "CÓ: hơn {n} chủ thể có dữ liệu nhạy cảm được xử lý; nội dung đánh giá "
        "tác động phải theo yêu cầu chặt chẽ hơn của pháp luật.",
        "not_large": "Không: {count} chủ thể có dữ liệu nhạy cảm (ngưỡng {n}).",
        "large_label": "Xử lý dữ liệu nhạy cảm của hơn {n} chủ thể",
        "s5": "5. Luồng dữ liệu và sơ đồ hệ thống",
        "flow_text": "Ảnh được chụp tại quầy sau khi khách đồng ý, gửi qua HTTPS, chuyển thành "
        "mẫu khuôn mặt trong bộ nhớ rồi bị bỏ ngay. Mẫu được mã hóa bằng khóa dữ liệu riêng "
        "của khách; khóa dữ liệu được bọc bằng khóa chủ (KEK) nằm ngoài cơ sở dữ liệu.",
        "b_kiosk": "Quầy đăng ký / máy check-in",
        "b_kiosk_d": "Máy tính bảng tại địa điểm; ảnh chỉ nằm trong bộ nhớ",
        "b_api": "Dịch vụ facekeep (API)",
        "b_api_d": "Ảnh → mẫu khuôn mặt trong bộ nhớ; ảnh bị bỏ ngay",
        "b_vault": "Cơ sở dữ liệu vault",
        "b_keys": "Kho khóa (khóa dữ liệu đã bọc)",
        "b_kek": "Khóa chủ (KEK)",
        "a_https": "HTTPS: ảnh, sự đồng ý",
        "a_sealed": "mẫu đã mã hóa, sự đồng ý, nhật ký",
        "a_key": "một khóa dữ liệu cho mỗi khách",
        "a_wrap": "bọc / mở khóa",
        "s6": "6. Nơi lưu trữ và chuyển dữ liệu ra nước ngoài",
        "country": "Quốc gia lưu trữ",
        "vault_db": "Cơ sở dữ liệu vault",
        "keys_db": "Kho khóa",
        "abroad": "Chuyển dữ liệu ra nước ngoài",
        "abroad_none": "Không có",
        "s7": "7. Thời hạn lưu trữ và quy tắc xóa",
        "r_validity": "Thời hạn đồng ý quầy đăng ký đưa ra: {days} ngày (mặc định {default})",
        "r_grace": "Mẫu khuôn mặt tự động bị xóa {grace} ngày sau khi mọi sự đồng ý của khách "
        "hết hạn hoặc bị rút lại; quét mỗi {interval} giây",
        "r_sweep_off": "CẢNH BÁO: việc quét xóa tự động đang tắt",
        "r_erase": "Xóa theo yêu cầu được thực hiện ngay: khóa dữ liệu của khách bị hủy, mọi "
        "bản sao mẫu (kể cả bản sao dự phòng) không còn đọc được",
        "r_backup": "Bản sao dự phòng: xoay vòng khóa chủ ít nhất thường xuyên như thời hạn "
        "giữ bản sao dự phòng; lần xoay vòng gần nhất: {last}",
        "r_requests": "Yêu cầu của chủ thể dữ liệu: xác nhận trong {ack} ngày làm việc, hoàn "
        "thành trong {days} ngày",
        "r_breach": "Vi phạm: thông báo trong {hours} giờ; lưu hồ sơ {years} năm",
        "never": "chưa lần nào",
        "s8": "8. Biện pháp kỹ thuật (theo cấu hình thực tế)",
        "m_kek": "Khóa chủ (KEK)",
        "m_kek_local": "tệp khóa cục bộ (CHỈ DÙNG ĐỂ PHÁT TRIỂN)",
        "m_kek_pkcs11": "HSM qua PKCS#11 (khóa không thể trích xuất)",
        "m_kek_transit": "Vault/OpenBao transit (KMS)",
        "m_epochs": "Thế hệ khóa chủ đang dùng",
        "m_crypto": "Mã hóa",
        "m_crypto_v": "AES-256-GCM, một khóa dữ liệu cho mỗi khách, dữ liệu liên kết gồm mã "
        "khách, mã mẫu và phiên bản mô hình",
        "m_keys": "Trạng thái khóa dữ liệu",
        "m_roles": "Quyền truy cập (khóa API đang hoạt động)",
        "m_audit": "Nhật ký kiểm toán",
        "m_audit_v": "{n} sự kiện; cây Merkle (RFC 9162); đầu cây đã ký mới nhất: {head}",
        "m_witness": "Bên chứng kiến độc lập",
        "m_witness_v": "chưa cấu hình; kiểm toán viên giữ và so sánh các đầu cây đã ký",
        "m_https": "Địa chỉ công khai",
        "m_rate": "Giới hạn tần suất",
        "m_rate_v": "{rate}/giây cho mỗi máy check-in; {codes} lần thử mã sai mỗi phút",
        "s9": "9. Bên xử lý dữ liệu",
        "no_processors": "Chưa khai báo bên xử lý nào (FACEKEEP_PROCESSORS).",
        "attach_processors": "Hợp đồng với từng bên xử lý (máy chủ, HSM/KMS, bảo trì), "
        "trong đó có điều khoản bảo vệ dữ liệu cá nhân.",
        "s10": "10. Yêu cầu của chủ thể dữ liệu và vi phạm",
        "q_open": "Yêu cầu đang mở",
        "q_late": "Yêu cầu quá hạn",
        "q_done": "Yêu cầu đã hoàn thành",
        "q_refused": "Yêu cầu bị từ chối",
        "b_open": "Hồ sơ vi phạm đang mở",
        "b_late": "Hồ sơ vi phạm quá hạn thông báo",
        "s11": "11. Tự đánh giá (ngày {date})",
        "item": "Nội dung",
        "result": "Kết quả",
        "k_controller": "Tên bên kiểm soát và liên hệ về dữ liệu cá nhân đã cấu hình",
        "k_dpo": "Đã chỉ định người phụ trách bảo vệ dữ liệu cá nhân",
        "k_notice": "Thông báo mới nhất nêu dữ liệu nhạy cảm, bên kiểm soát, mục đích, thời "
        "hạn, quyền và tính tự nguyện",
        "k_refuse": "Khách có thể từ chối (nút “Không đồng ý”); từ chối không ghi lại gì",
        "k_kek": "Khóa chủ nằm ngoài máy chủ ứng dụng (HSM hoặc KMS)",
        "k_sweep": "Xóa tự động khi hết thời hạn đang bật",
        "k_head": "Nhật ký kiểm toán có đầu cây đã ký bao trùm mọi sự kiện",
        "k_requests": "Không có yêu cầu của chủ thể dữ liệu nào quá hạn",
        "k_breaches": "Không có vi phạm nào quá hạn thông báo",
        "k_location": "Dữ liệu lưu tại Việt Nam, không chuyển ra nước ngoài",
        "k_https": "Trang cho khách được phục vụ qua HTTPS",
        "k_rotation": "Khóa chủ được xoay vòng ít nhất thường xuyên như thời hạn giữ bản sao "
        "dự phòng",
        "s12": "12. Tài liệu địa điểm cần đính kèm",
        "att_policy": "Quy định nội bộ về bảo vệ dữ liệu cá nhân",
        "att_dpo": "Quyết định chỉ định người hoặc bộ phận phụ trách bảo vệ dữ liệu cá nhân",
        "att_incident": "Quy trình xử lý sự cố và vi phạm dữ liệu",
        "att_training": "Hồ sơ đào tạo nhân viên về bảo vệ dữ liệu cá nhân",
        "att_risk": "Đánh giá rủi ro và biện pháp giảm thiểu cho người bị ảnh hưởng",
        "att_backup": "Chính sách sao lưu (thời hạn giữ bản sao dự phòng)",
    },
    "en": {
        "title": "Personal data processing impact assessment",
        "subtitle": "Generated from the running facekeep {version} at {at}. "
        "Figures are as of this moment; generate it again after changes.",
        "attach": "For the venue to complete",
        "yes": "yes",
        "no": "no",
        "check": "to check",
        "none": "none",
        "s1": "1. Controller and data protection officer",
        "legal_name": "Legal name",
        "address": "Address",
        "contact": "Contact for privacy requests",
        "dpo": "Data protection officer",
        "jurisdiction": "Jurisdiction",
        "placeholder": "NOT CONFIGURED ({names})",
        "no_dpo": "none designated",
        "s2": "2. Purposes and legal basis",
        "purpose": "Purpose",
        "basis": "Legal basis",
        "people": "People consenting now",
        "p_checkin": "Check-in: recognise guests by face when they arrive",
        "p_marketing": "Marketing: use visits to send offers (a separate choice)",
        "consent": "Explicit consent, separate for each purpose, never pre-ticked; "
        "withdrawable at any time",
        "notices": "Notice versions in force (the full text and its SHA-256 are stored with "
        "each consent):",
        "version": "Version",
        "lang": "Language",
        "holders": "Customers holding",
        "s3": "3. Categories of personal data",
        "category": "Category",
        "sensitive": "Sensitive",
        "stored": "How it is stored",
        "c_template": "Face templates (biometric data)",
        "c_template_how": "AES-256-GCM under each customer's own key; photos are never stored",
        "c_consent": "Consent records: purposes, venues, times, notice text",
        "c_consent_how": "Vault database, with no name or telephone number",
        "c_id": "Pseudonymous customer id, hash of the access code",
        "c_id_how": "Does not identify anyone by itself; access codes kept as SHA-256 only",
        "c_audit": "Audit log: when and where faces matched, every change",
        "c_audit_how": "Merkle tree with Ed25519-signed heads; no image, template or secret",
        "s4": "4. Data subjects",
        "subjects_held": "Customers whose face templates are held (sensitive data)",
        "subjects_consenting": "Customers with at least one active purpose",
        "subjects_erased": "Customers erased (key destroyed)",
        "templates": "Face templates",
        "venues": "Active venues",
        "large": "YES: sensitive data of more than {n} data subjects is processed; the "
        "assessment must meet the law's stricter content requirements.",
        "not_large": "No: {count} data subjects with sensitive data (threshold {n}).",
        "large_label": "Sensitive data of more than {n} data subjects",
        "s5": "5. Data flows and system diagram",
        "flow_text": "Photos are taken at the counter after the guest consents, sent over "
        "HTTPS, turned into a face template in memory and dropped at once. The template is "
        "encrypted under the guest's own data key; data keys are wrapped by a key-encryption "
        "key (KEK) kept outside the database.",
        "b_kiosk": "Consent counter / check-in tablet",
        "b_kiosk_d": "Tablet at the venue; photos only in memory",
        "b_api": "facekeep service (API)",
        "b_api_d": "Photo → face template in memory; photo dropped at once",
        "b_vault": "Vault database",
        "b_keys": "Key store (wrapped data keys)",
        "b_kek": "Key-encryption key (KEK)",
        "a_https": "HTTPS: photos, consent",
        "a_sealed": "encrypted templates, consents, log",
        "a_key": "one data key per customer",
        "a_wrap": "wrap / unwrap",
        "s6": "6. Where the data is stored, and transfers abroad",
        "country": "Country of storage",
        "vault_db": "Vault database",
        "keys_db": "Key store",
        "abroad": "Transfers abroad",
        "abroad_none": "None",
        "s7": "7. Retention and deletion rules",
        "r_validity": "Consent periods the counter offers: {days} days (default {default})",
        "r_grace": "Face templates are erased automatically {grace} days after all of a "
        "customer's consents expired or were withdrawn; swept every {interval} seconds",
        "r_sweep_off": "WARNING: the automatic erasure sweep is off",
        "r_erase": "Erasure on request is done at once: the customer's data key is destroyed "
        "and every copy of their templates (backups too) becomes unreadable",
        "r_backup": "Backups: rotate the key-encryption key at least as often as backups "
        "expire; last rotation: {last}",
        "r_requests": "Data-subject requests: acknowledged within {ack} working days, "
        "completed within {days} days",
        "r_breach": "Breaches: notified within {hours} hours; the file is kept {years} years",
        "never": "never",
        "s8": "8. Technical measures (from the running configuration)",
        "m_kek": "Key-encryption key (KEK)",
        "m_kek_local": "local key file (DEVELOPMENT ONLY)",
        "m_kek_pkcs11": "HSM through PKCS#11 (non-extractable key)",
        "m_kek_transit": "Vault/OpenBao transit (KMS)",
        "m_epochs": "KEK epochs in use",
        "m_crypto": "Encryption",
        "m_crypto_v": "AES-256-GCM, one data key per customer, associated data binding "
        "customer, template and model version",
        "m_keys": "Data key states",
        "m_roles": "Access roles (active API keys)",
        "m_audit": "Audit log",
        "m_audit_v": "{n} events; Merkle tree (RFC 9162); latest signed head: {head}",
        "m_witness": "Independent witnesses",
        "m_witness_v": "none configured; auditors keep and compare signed tree heads",
        "m_https": "Public address",
        "m_rate": "Rate limits",
        "m_rate_v": "{rate}/s per check-in kiosk; {codes} wrong access codes per minute",
        "s9": "9. Processors",
        "no_processors": "No processor declared (FACEKEEP_PROCESSORS).",
        "attach_processors": "The contract with each processor (hosting, HSM/KMS, "
        "maintenance), with its personal data protection terms.",
        "s10": "10. Data-subject requests and breaches",
        "q_open": "Requests open",
        "q_late": "Requests late",
        "q_done": "Requests completed",
        "q_refused": "Requests refused",
        "b_open": "Breach files open",
        "b_late": "Breach files past the notification deadline",
        "s11": "11. Self-assessment (dated {date})",
        "item": "Item",
        "result": "Result",
        "k_controller": "Controller name and privacy contact configured",
        "k_dpo": "A data protection officer is designated",
        "k_notice": "The newest notice states sensitive data, controller, purposes, retention, "
        "rights and that consent is voluntary",
        "k_refuse": "Guests can refuse (\u201cI do not agree\u201d); a refusal records nothing",
        "k_kek": "The key-encryption key is outside the application server (HSM or KMS)",
        "k_sweep": "Automatic erasure at the end of retention is on",
        "k_head": "A signed tree head covers every audit event",
        "k_requests": "No data-subject request is late",
        "k_breaches": "No breach is past its notification deadline",
        "k_location": "Data stored in Vietnam, no transfer abroad",
        "k_https": "Guest pages are served over HTTPS",
        "k_rotation": "The key-encryption key is rotated at least as often as backups expire",
        "s12": "12. Documents the venue attaches",
        "att_policy": "Internal personal data protection policy",
        "att_dpo": "Decision designating the data protection officer or department",
        "att_incident": "Incident and breach response procedure",
        "att_training": "Staff training records on personal data protection",
        "att_risk": "Risk assessment and measures to limit harm to the people affected",
        "att_backup": "Backup policy (how long backups are kept)",
    },
}


def _local(at: datetime, settings: Settings) -> str:
    zone = timezone(timedelta(hours=settings.utc_offset_hours))
    return at.astimezone(zone).strftime("%d/%m/%Y %H:%M (UTC%z)")


def build(facts: Facts, lang: str) -> Document:
    """The dossier in ``lang`` as a document."""
    t = _T[lang]
    s = facts.settings
    yes, no, check = t["yes"], t["no"], t["check"]
    fk_version = package_version("facekeep")
    doc = Document(
        title=t["title"],
        subtitle=t["subtitle"].format(version=fk_version, at=_local(facts.generated_at, s)),
        attach_label=t["attach"],
    )
    add = doc.blocks.append
    missing = s.placeholders()

    add(Heading(1, t["s1"]))
    name = (
        s.controller
        if "FACEKEEP_CONTROLLER" not in missing
        else t["placeholder"].format(names="FACEKEEP_CONTROLLER")
    )
    contact = s.privacy_contact or t["placeholder"].format(names="FACEKEEP_PRIVACY_CONTACT")
    add(
        Grid(
            ("", ""),
            (
                (t["legal_name"], name),
                (
                    t["address"],
                    s.controller_address
                    or t["placeholder"].format(names="FACEKEEP_CONTROLLER_ADDRESS"),
                ),
                (t["contact"], contact),
                (t["dpo"], s.dpo or t["no_dpo"]),
                (t["jurisdiction"], s.jurisdiction),
            ),
        )
    )

    add(Heading(1, t["s2"]))
    add(
        Grid(
            (t["purpose"], t["basis"], t["people"]),
            (
                (t["p_checkin"], t["consent"], str(facts.by_purpose.get("checkin", 0))),
                (t["p_marketing"], t["consent"], str(facts.by_purpose.get("marketing", 0))),
            ),
        )
    )
    add(Para(t["notices"]))
    add(
        Grid(
            (t["version"], t["lang"], t["holders"], "SHA-256"),
            tuple(
                (n["version"], n["lang"], str(n["customers"]), n["sha256"][:16] + "…")
                for n in facts.notices
            ),
        )
    )

    add(Heading(1, t["s3"]))
    add(
        Grid(
            (t["category"], t["sensitive"], t["stored"]),
            (
                (t["c_template"], yes, t["c_template_how"]),
                (t["c_consent"], no, t["c_consent_how"]),
                (t["c_id"], no, t["c_id_how"]),
                (t["c_audit"], no, t["c_audit_how"]),
            ),
        )
    )

    add(Heading(1, t["s4"]))
    threshold = s.dpia_large_scale_subjects
    add(
        Grid(
            ("", ""),
            (
                (t["subjects_held"], str(facts.sensitive_subjects)),
                (t["subjects_consenting"], str(facts.consenting)),
                (t["subjects_erased"], str(facts.customers.get("erased", 0))),
                (t["templates"], str(facts.templates)),
                (t["venues"], str(facts.venues)),
                (
                    t["large_label"].format(n=f"{threshold:,}"),
                    t["large"].format(n=f"{threshold:,}")
                    if facts.large_scale
                    else t["not_large"].format(count=facts.sensitive_subjects, n=f"{threshold:,}"),
                ),
            ),
        )
    )

    add(Heading(1, t["s5"]))
    add(Para(t["flow_text"]))
    kek = t[f"m_kek_{s.kek_provider}"]
    add(
        Flow(
            boxes=(
                (t["b_kiosk"], t["b_kiosk_d"]),
                (t["b_api"], t["b_api_d"]),
                (t["b_vault"], facts.databases["vault"]),
                (t["b_keys"], facts.databases["keys"]),
                (t["b_kek"], kek),
            ),
            arrows=(t["a_https"], t["a_sealed"], t["a_key"], t["a_wrap"]),
        )
    )

    add(Heading(1, t["s6"]))
    add(
        Grid(
            ("", ""),
            (
                (t["country"], s.data_location),
                (t["vault_db"], facts.databases["vault"]),
                (t["keys_db"], facts.databases["keys"]),
                (t["abroad"], s.transfers_abroad or t["abroad_none"]),
            ),
        )
    )

    add(Heading(1, t["s7"]))
    last = _local(facts.last_rotation, s) if facts.last_rotation else t["never"]
    rules = [
        t["r_validity"].format(
            days=", ".join(str(d) for d in s.consent_validity_days),
            default=s.default_validity_days,
        ),
        t["r_grace"].format(
            grace=f"{s.retention_grace_days:g}", interval=f"{s.retention_interval_seconds:g}"
        ),
        t["r_erase"],
        t["r_backup"].format(last=last),
        t["r_requests"].format(ack=s.request_ack_working_days, days=s.request_complete_days),
        t["r_breach"].format(hours=f"{s.breach_notify_hours:g}", years=s.breach_retain_years),
    ]
    if s.retention_interval_seconds <= 0:
        rules.insert(2, t["r_sweep_off"])
    add(Bullets(tuple(rules)))
    add(Attach(t["att_backup"]))

    add(Heading(1, t["s8"]))
    head = facts.signed_head
    head_text = f"{head['tree_size']} @ {head['timestamp']}" if head else t["none"]
    add(
        Grid(
            ("", ""),
            (
                (t["m_kek"], kek),
                (t["m_epochs"], ", ".join(str(e) for e in facts.kek_epochs)),
                (t["m_crypto"], t["m_crypto_v"]),
                (t["m_keys"], _pairs(facts.key_states)),
                (t["m_roles"], _pairs(facts.keys_by_role) or t["none"]),
                (t["m_audit"], t["m_audit_v"].format(n=facts.audit_events, head=head_text)),
                (t["m_witness"], t["m_witness_v"]),
                (t["m_https"], s.public_url or t["none"]),
                (
                    t["m_rate"],
                    t["m_rate_v"].format(
                        rate=f"{s.match_rate:g}", codes=f"{s.code_failures_per_minute:g}"
                    ),
                ),
            ),
        )
    )

    add(Heading(1, t["s9"]))
    add(Bullets(tuple(s.processors)) if s.processors else Para(t["no_processors"]))
    add(Attach(t["attach_processors"]))

    add(Heading(1, t["s10"]))
    q = facts.requests
    add(
        Grid(
            ("", ""),
            (
                (t["q_open"], str(q["open"])),
                (t["q_late"], str(q["late"])),
                (t["q_done"], str(q["completed"])),
                (t["q_refused"], str(q["refused"])),
                (t["b_open"], str(facts.breaches_open)),
                (t["b_late"], str(facts.breaches_late)),
            ),
        )
    )

    add(Heading(1, t["s11"].format(date=_local(facts.generated_at, s).split(" ")[0])))
    latest = notice_for(s, max(v for v, _ in available(s.notices_dir)), lang)

    def mark(ok: bool | None) -> str:
        return check if ok is None else (yes if ok else no)

    checklist = [
        (t["k_controller"], not missing),
        (t["k_dpo"], bool(s.dpo)),
        (t["k_notice"], "{" not in latest and s.controller in latest),
        (t["k_refuse"], True),
        (t["k_kek"], s.kek_provider != "local"),
        (t["k_sweep"], s.retention_interval_seconds > 0),
        (t["k_head"], bool(head and head["tree_size"] == facts.audit_events)),
        (t["k_requests"], q["late"] == 0),
        (t["k_breaches"], facts.breaches_late == 0),
        (t["k_location"], s.data_location.upper() == "VN" and not s.transfers_abroad),
        (t["k_https"], (s.public_url or "").startswith("https://")),
        (t["k_rotation"], None),
    ]
    add(Grid((t["item"], t["result"]), tuple((item, mark(ok)) for item, ok in checklist)))

    add(Heading(1, t["s12"]))
    for key in ("att_policy", "att_dpo", "att_incident", "att_training", "att_risk"):
        add(Attach(t[key]))
    return doc


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))


def write_dossier(
    runtime: Runtime, out: Path, *, actor: Actor, langs: tuple[str, ...] = LANGS
) -> dict[str, Any]:
    """Write ``dpia-YYYY-MM-DD.LANG.md`` and ``.pdf`` to ``out``, record the generation in
    the audit log, and return what was written with each file's SHA-256."""
    facts = gather(runtime)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"dpia-{facts.generated_at.date().isoformat()}"
    files: dict[str, str] = {}
    for lang in langs:
        doc = build(facts, lang)
        md = out / f"{stem}.{lang}.md"
        md.write_text(to_markdown(doc), encoding="utf-8")
        pdf = out / f"{stem}.{lang}.pdf"
        to_pdf(doc, pdf, generated=facts.generated_at)
        for path in (md, pdf):
            files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    details = {
        "files": files,
        "sensitive_subjects": facts.sensitive_subjects,
        "large_scale": facts.large_scale,
    }
    with writing(runtime.vault.engine) as conn:
        seq = append_event(
            conn,
            ts=facts.generated_at,
            actor=actor,
            action="compliance.dpia",
            details=details,
        )
    return {
        "out": str(out),
        "generated_at": facts.generated_at.isoformat(),
        "audit_seq": seq,
        **details,
        "placeholders": runtime.settings.placeholders(),
    }
