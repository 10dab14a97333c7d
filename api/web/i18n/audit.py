"""Strings of the auditor's page (``/audit``): the signed log, key states, destruction receipts.

Vietnamese first; both dictionaries have the same keys. Merged by :mod:`api.web.i18n`.
"""

from __future__ import annotations

from typing import Final

VI: Final[dict[str, str]] = {
    "audit_title": "Kiểm toán",
    "auditor_heading": "Kiểm toán viên đăng nhập",
    "auditor_key_label": "Khóa kiểm toán",
    "sign_in": "Đăng nhập",
    "head_heading": "Đầu cây Merkle đã ký mới nhất",
    "head_size": "Số mục trong nhật ký",
    "head_root": "Mã băm gốc",
    "head_time": "Ký lúc",
    "head_key": "Khóa ký",
    "refresh": "Làm mới",
    "sig_ok": "Chữ ký hợp lệ",
    "sig_bad": "Chữ ký KHÔNG hợp lệ",
    "sig_unchecked": "Chưa kiểm chữ ký: trình duyệt này không kiểm được Ed25519",
    "search_heading": "Tìm khách hàng hoặc khóa",
    "search_label": "Mã khách hàng hoặc mã khóa",
    "search_submit": "Tìm",
    "search_none": "Không tìm thấy gì cho “{q}”.",
    "result_heading": "Kết quả cho {customer}",
    "keys_heading": "Khóa dữ liệu",
    "col_key": "Mã khóa",
    "col_state": "Trạng thái",
    "col_destroyed": "Hủy lúc",
    "col_reason": "Lý do",
    "col_epoch": "Thế hệ khóa chủ",
    "col_commitment": "Cam kết khóa",
    "no_destruction": "Chưa có biên nhận hủy: dữ liệu của khách hàng này chưa bị xóa.",
    "checks_heading": "Kiểm tra trong trang",
    "check_signature": "Chữ ký của biên nhận",
    "check_logged": "Mã băm của biên nhận nằm ở mục nhật ký {i}",
    "check_leaf": "Mã băm lá của mục {i} khớp với nội dung của nó",
    "check_inclusion": "Mục {i} nằm trong cây Merkle đã ký có {n} mục (bằng chứng bao hàm)",
    "check_erase_event": "Biên nhận chỉ đúng sự kiện xóa ở mục {i}",
    "check_commitment": "Khóa đã hủy và cam kết khớp với kho khóa",
    "check_ok": "đạt",
    "check_fail": "KHÔNG ĐẠT",
    "check_skipped": "chưa kiểm",
    "export_heading": "Xuất dữ liệu để kiểm tra ngoại tuyến",
    "export_text": (
        "Tệp zip gồm nhật ký, các đầu cây Merkle đã ký, biên nhận, trạng thái khóa và khóa "
        "công khai (không có dữ liệu sinh trắc học). Kiểm tra bằng: facekeep audit verify THƯ_MỤC"
    ),
    "export_button": "Tải tệp xuất (.zip)",
    "export_done": "Đã tải {name}.",
}

EN: Final[dict[str, str]] = {
    "audit_title": "Audit",
    "auditor_heading": "Auditor sign-in",
    "auditor_key_label": "Auditor key",
    "sign_in": "Sign in",
    "head_heading": "Latest signed tree head",
    "head_size": "Entries in the log",
    "head_root": "Root hash",
    "head_time": "Signed at",
    "head_key": "Signing key",
    "refresh": "Refresh",
    "sig_ok": "Signature valid",
    "sig_bad": "Signature NOT valid",
    "sig_unchecked": "Signature not checked: this browser cannot verify Ed25519",
    "search_heading": "Find a customer or a key",
    "search_label": "Customer id or key id",
    "search_submit": "Search",
    "search_none": "Nothing found for “{q}”.",
    "result_heading": "Results for {customer}",
    "keys_heading": "Data keys",
    "col_key": "Key id",
    "col_state": "State",
    "col_destroyed": "Destroyed at",
    "col_reason": "Reason",
    "col_epoch": "KEK epoch",
    "col_commitment": "Key commitment",
    "no_destruction": "No destruction receipt: this customer's data has not been erased.",
    "checks_heading": "Checked in this page",
    "check_signature": "The receipt's signature",
    "check_logged": "The receipt's hash is in log entry {i}",
    "check_leaf": "The leaf hash of entry {i} matches its content",
    "check_inclusion": "Entry {i} is included in the signed tree of {n} entries (inclusion proof)",
    "check_erase_event": "The receipt points at the erase event in entry {i}",
    "check_commitment": "The destroyed keys and commitments match the key store",
    "check_ok": "passed",
    "check_fail": "FAILED",
    "check_skipped": "not checked",
    "export_heading": "Export for offline verification",
    "export_text": (
        "A zip of the log, the signed tree heads, the receipts, the key states and the public "
        "key (no biometric data). Check it with: facekeep audit verify FOLDER"
    ),
    "export_button": "Download the export (.zip)",
    "export_done": "Downloaded {name}.",
}
