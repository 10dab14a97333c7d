"""Strings every page shares: navigation, the home page, the footer, errors, purposes and states.

Vietnamese first; both dictionaries have the same keys. Merged by :mod:`api.web.i18n`.
"""

from __future__ import annotations

from typing import Final

VI: Final[dict[str, str]] = {
    "skip_link": "Chuyển đến nội dung chính",
    "lang_label": "Ngôn ngữ",
    "nav_label": "Các trang",
    "nav_kiosk": "Quầy đăng ký khuôn mặt",
    "nav_me": "Trang của tôi",
    "nav_audit": "Kiểm toán",
    "home_title": "facekeep: kho dữ liệu khuôn mặt dựa trên sự đồng ý",
    "home_intro": "Chọn trang bạn cần.",
    "home_kiosk": "Dành cho nhân viên: ghi nhận sự đồng ý của khách và chụp ảnh tại quầy.",
    "home_me": "Dành cho khách: xem, rút lại hoặc xóa dữ liệu khuôn mặt bằng mã truy cập.",
    "home_audit": "Dành cho kiểm toán viên: nhật ký ký số, trạng thái khóa, biên nhận hủy.",
    "footer": "facekeep chạy trên máy chủ của địa điểm; trang này không tải gì từ bên ngoài.",
    "sign_out": "Đăng xuất",
    "loading": "Đang tải…",
    "working": "Đang xử lý…",
    "print": "Lưu PDF hoặc in",
    "download_json": "Tải về (tệp JSON)",
    "yes": "Có",
    "none": "Không có",
    "secret_help": "Chỉ được giữ trong thẻ trình duyệt này và tự xóa khi đóng thẻ.",
    "err_generic": "Đã có lỗi: {detail}",
    "err_network": "Không kết nối được máy chủ. Hãy thử lại.",
    "err_unauthorized": "Khóa hoặc mã không đúng, hoặc đã bị vô hiệu hóa.",
    "err_forbidden": "Khóa này không có quyền thực hiện thao tác này.",
    "err_rate_limited": "Quá nhiều lần thử. Hãy đợi một lát rồi thử lại.",
    "err_busy": "Máy chủ đang bận. Hãy thử lại sau giây lát.",
    "err_no_face": "Không thấy khuôn mặt nào trong ảnh.",
    "err_multiple_faces": "Trong ảnh có nhiều hơn một khuôn mặt. Mỗi lần chỉ một người.",
    "err_face_too_small": "Khuôn mặt quá nhỏ. Hãy lại gần máy ảnh hơn.",
    "err_not_an_image": "Tệp này không phải ảnh (JPEG, PNG hoặc WebP).",
    "err_image_too_large": "Ảnh quá lớn.",
    "err_payload_too_large": "Dữ liệu gửi lên quá lớn.",
    "err_customer_erased": "Dữ liệu này đã bị xóa.",
    "err_unknown_venue": "Không có địa điểm này, hoặc địa điểm đã bị tắt.",
    "err_key_not_found": "Không tìm thấy khóa này.",
    "err_customer_not_found": "Không tìm thấy khách hàng này.",
    "purpose_checkin": "Check-in",
    "purpose_marketing": "Tiếp thị",
    "status_active": "Đang hiệu lực",
    "status_revoked": "Đã rút lại",
    "status_expired": "Đã hết hạn",
    "state_active": "đang dùng",
    "state_destroyed": "đã hủy",
    "nav_staff": "Yêu cầu và vi phạm",
    "nav_privacy": "Quyền riêng tư",
    "home_staff": (
        "Dành cho nhân viên: yêu cầu của khách về dữ liệu (việc đang mở, việc quá hạn) và sổ "
        "vi phạm."
    ),
    "home_privacy": (
        "Cho mọi người: ai giữ dữ liệu khuôn mặt, giữ bao lâu và cách dùng quyền của bạn."
    ),
    "err_faces_differ": (
        "Các ảnh cho thấy những người khác nhau. Hãy bỏ các ảnh rồi chụp lại, chỉ để khách "
        "trong khung hình."
    ),
    "err_reenrol_at_counter": "Không so được ảnh mới với mẫu đã lưu. Hãy đăng ký lại tại quầy.",
    "err_gallery_full": "Địa điểm này đã đủ số khách đăng ký nhận diện khuôn mặt. Hãy hỏi quản lý.",
    "err_invalid_customer": "Hãy ghi mã khách hàng (sau khi đã xác minh đúng người).",
    "err_invalid_outcome": "Hãy ghi rõ đã làm gì.",
    "err_request_closed": "Yêu cầu này đã được xử lý xong.",
    "err_breach_closed": "Hồ sơ vi phạm này đã đóng.",
    "save_image": "Lưu thành ảnh",
    "tech_details": "Chi tiết kỹ thuật",
    "and": "và",
    "cancel": "Hủy",
}

EN: Final[dict[str, str]] = {
    "skip_link": "Skip to main content",
    "lang_label": "Language",
    "nav_label": "Pages",
    "nav_kiosk": "Face enrolment counter",
    "nav_me": "My page",
    "nav_audit": "Audit",
    "home_title": "facekeep: the consent-first face-data vault",
    "home_intro": "Choose the page you need.",
    "home_kiosk": "For staff: record a guest's consent and take their photos at the counter.",
    "home_me": "For customers: see, withdraw or erase your face data with your access code.",
    "home_audit": "For auditors: the signed log, key states and destruction receipts.",
    "footer": "facekeep runs on the venue's own server; this page loads nothing from outside.",
    "sign_out": "Sign out",
    "loading": "Loading…",
    "working": "Working…",
    "print": "Save as PDF or print",
    "download_json": "Download (JSON file)",
    "yes": "Yes",
    "none": "None",
    "secret_help": "Kept only in this browser tab and forgotten when the tab is closed.",
    "err_generic": "Something went wrong: {detail}",
    "err_network": "Cannot reach the server. Please try again.",
    "err_unauthorized": "Unknown or disabled key or code.",
    "err_forbidden": "This key may not do that.",
    "err_rate_limited": "Too many attempts. Wait a moment and try again.",
    "err_busy": "The server is busy. Try again in a moment.",
    "err_no_face": "No face was found in the photo.",
    "err_multiple_faces": "There is more than one face in the photo. One person at a time.",
    "err_face_too_small": "The face is too small. Come closer to the camera.",
    "err_not_an_image": "This file is not a photo (JPEG, PNG or WebP).",
    "err_image_too_large": "The photo is too large.",
    "err_payload_too_large": "Too much data was sent.",
    "err_customer_erased": "This data has been erased.",
    "err_unknown_venue": "No such venue, or it is disabled.",
    "err_key_not_found": "No such key.",
    "err_customer_not_found": "No such customer.",
    "purpose_checkin": "Check-in",
    "purpose_marketing": "Marketing",
    "status_active": "Active",
    "status_revoked": "Withdrawn",
    "status_expired": "Expired",
    "state_active": "active",
    "state_destroyed": "destroyed",
    "nav_staff": "Requests and breaches",
    "nav_privacy": "Privacy",
    "home_staff": (
        "For staff: guests' requests about their data (what is open, what is late) and the "
        "breach register."
    ),
    "home_privacy": "For everyone: who holds face data, for how long, and how to use your rights.",
    "err_faces_differ": (
        "The photos show different people. Remove them and retake the photos with only the "
        "guest in view."
    ),
    "err_reenrol_at_counter": (
        "The new photos cannot be compared with the stored template. Please enrol again at "
        "the counter."
    ),
    "err_gallery_full": (
        "This venue has as many guests enrolled for face recognition as it may. Ask a manager."
    ),
    "err_invalid_customer": "Give the customer id (after checking who the person is).",
    "err_invalid_outcome": "Say what was done.",
    "err_request_closed": "This request was already handled.",
    "err_breach_closed": "This breach file is closed.",
    "save_image": "Save as image",
    "tech_details": "Technical details",
    "and": "and",
    "cancel": "Cancel",
}
