"""Strings of the consent and destruction receipts, in fields and in plain sentences.

Vietnamese first; both dictionaries have the same keys. Merged by :mod:`api.web.i18n`.
"""

from __future__ import annotations

from typing import Final

VI: Final[dict[str, str]] = {
    "receipt_consent": "Biên nhận đồng ý",
    "receipt_destruction": "Biên nhận hủy dữ liệu",
    "r_receipt_id": "Mã biên nhận",
    "r_timestamp": "Thời điểm",
    "r_controller": "Bên kiểm soát dữ liệu",
    "r_jurisdiction": "Pháp luật áp dụng",
    "r_customer": "Mã khách hàng (không chứa tên hay số điện thoại)",
    "r_consent_id": "Mã đồng ý",
    "r_method": "Cách thu thập",
    "r_device": "Thiết bị",
    "r_language": "Ngôn ngữ thông báo",
    "r_notice": "Thông báo",
    "r_purposes": "Mục đích",
    "r_venues": "Địa điểm",
    "r_until": "Hiệu lực đến",
    "r_until_withdrawn": "đến khi rút lại",
    "r_sensitive": "Dữ liệu nhạy cảm: sinh trắc học",
    "r_third_party": "Chia sẻ cho bên thứ ba",
    "r_destroyed_keys": "Khóa đã hủy",
    "r_commitment": "cam kết khóa",
    "r_destroy_method": "Phương pháp",
    "r_reason": "Lý do",
    "r_log_index": "Mục nhật ký kiểm toán",
    "r_kek_epoch": "Thế hệ khóa chủ",
    "r_signature": "Chữ ký (Ed25519)",
    "r_signing_key": "Khóa ký",
    "r_sentence_consent": (
        "Ngày {date}, bạn đã đồng ý để {venues} nhận ra khuôn mặt của bạn cho mục đích "
        "{purposes}, {until}."
    ),
    "r_until_date": "có hiệu lực đến hết ngày {date}",
    "r_until_open": "cho đến khi bạn rút lại",
    "r_sentence_destroyed": (
        "Ngày {date}, {controller} đã hủy vĩnh viễn dữ liệu khuôn mặt của bạn {why}."
    ),
    "why_request": "theo yêu cầu của bạn",
    "why_retention": "vì sự đồng ý của bạn đã hết hiệu lực",
    "why_other": "(lý do: {reason})",
}

EN: Final[dict[str, str]] = {
    "receipt_consent": "Consent receipt",
    "receipt_destruction": "Destruction receipt",
    "r_receipt_id": "Receipt id",
    "r_timestamp": "Time",
    "r_controller": "Data controller",
    "r_jurisdiction": "Jurisdiction",
    "r_customer": "Customer id (holds no name or phone number)",
    "r_consent_id": "Consent id",
    "r_method": "Collection method",
    "r_device": "Device",
    "r_language": "Notice language",
    "r_notice": "Notice",
    "r_purposes": "Purposes",
    "r_venues": "Venues",
    "r_until": "Valid until",
    "r_until_withdrawn": "until withdrawn",
    "r_sensitive": "Sensitive data: biometric",
    "r_third_party": "Disclosure to third parties",
    "r_destroyed_keys": "Destroyed keys",
    "r_commitment": "key commitment",
    "r_destroy_method": "Method",
    "r_reason": "Reason",
    "r_log_index": "Audit log entry",
    "r_kek_epoch": "Key-encryption-key epoch",
    "r_signature": "Signature (Ed25519)",
    "r_signing_key": "Signing key",
    "r_sentence_consent": (
        "On {date} you agreed that {venues} may recognise your face for {purposes}, {until}."
    ),
    "r_until_date": "until the end of {date}",
    "r_until_open": "until you withdraw your consent",
    "r_sentence_destroyed": "On {date} {controller} permanently destroyed your face data {why}.",
    "why_request": "at your request",
    "why_retention": "because your consent had ended",
    "why_other": "(reason: {reason})",
}
