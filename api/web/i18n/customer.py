"""Strings of the customer's page (``/me``): consents, withdrawal, erasure, receipts kept."""

VI = {
    "me_title": "Dữ liệu khuôn mặt của tôi",
    "code_heading": "Nhập mã truy cập",
    "code_label": "Mã truy cập",
    "code_help": "Mã in trên biên nhận đồng ý của bạn, ví dụ ABCD-EFGH-JKLM-NPQR-STUV.",
    "open": "Mở",
    "forget_code": "Xóa mã khỏi máy này",
    "me_customer": "Mã khách hàng: {id}",
    "me_key": "Khóa dữ liệu: {id} ({state})",
    "consents_heading": "Sự đồng ý của tôi",
    "consent_granted": "Đồng ý lúc",
    "consent_expires": "Hết hạn",
    "consent_never": "đến khi rút lại",
    "consent_notice": "Thông báo",
    "purpose_active": "đang hiệu lực",
    "purpose_revoked": "đã rút lại lúc {date}",
    "purpose_ended": "không còn hiệu lực",
    "templates_heading": "Mẫu khuôn mặt của tôi",
    "templates_count": "{n} mẫu được lưu, đã mã hóa. Không ảnh nào được giữ lại.",
    "templates_count_one": "1 mẫu được lưu, đã mã hóa. Không ảnh nào được giữ lại.",
    "template_row": "Tạo lúc {date} · mô hình {model}",
    "matches_heading": "Khuôn mặt tôi được nhận ra ở đâu, khi nào",
    "matches_none": "Chưa lần nào.",
    "col_time": "Thời điểm",
    "col_venue": "Địa điểm",
    "col_purpose": "Mục đích",
    "actions_heading": "Quyền của tôi",
    "revoked_done": "Đã rút lại đồng ý cho {purpose}.",
    "objected_done": "Đã ghi nhận phản đối; tiếp thị đã dừng.",
    "nothing_active": "Không còn mục đích nào đang hiệu lực.",
    "retake_heading": "Chụp lại ảnh",
    "retake_text": "Thay các mẫu khuôn mặt của bạn bằng mẫu tính từ ảnh mới.",
    "retake_label": "Ảnh mới (1 đến 5)",
    "retake_submit": "Thay mẫu khuôn mặt",
    "retake_done": "Đã thay bằng {n} mẫu mới.",
    "retake_done_one": "Đã thay bằng 1 mẫu mới.",
    "retake_need": "Hãy chọn từ 1 đến 5 ảnh.",
    "files_chosen": "Đã chọn {n} ảnh.",
    "files_chosen_one": "Đã chọn 1 ảnh.",
    "receipts_heading": "Biên nhận của tôi",
    "erase_heading": "Xóa toàn bộ",
    "erase_text": (
        "Khóa của bạn bị hủy, mọi sự đồng ý bị rút lại, và mẫu khuôn mặt của bạn không thể "
        "đọc được nữa, kể cả trong bản sao dự phòng."
    ),
    "erase_button": "Xóa toàn bộ…",
    "erase_confirm_title": "Xóa toàn bộ dữ liệu?",
    "erase_confirm_text": (
        "Việc này không thể hoàn tác. Khóa của bạn sẽ bị hủy, mọi sự đồng ý bị rút lại, mẫu "
        "khuôn mặt không bao giờ đọc được nữa, và mã truy cập sẽ hết tác dụng."
    ),
    "erase_confirm_yes": "Có, xóa toàn bộ",
    "erase_confirm_no": "Hủy",
    "erased_heading": "Đã xóa toàn bộ",
    "erased_text": "Dữ liệu khuôn mặt của bạn đã bị hủy. Hãy giữ biên nhận này làm bằng chứng.",
    "erased_forget": "Đóng biên nhận…",
    "go_back": "Quay lại",
    "stop_checkin": "Dừng nhận diện khi check-in…",
    "stop_marketing": "Dừng tiếp thị…",
    "confirm_checkin_title": "Rút lại đồng ý check-in bằng khuôn mặt?",
    "confirm_checkin_text": (
        "Khuôn mặt của bạn sẽ không còn được nhận ra khi check-in, ở mọi địa điểm. Muốn dùng "
        "lại, bạn cần đăng ký lại tại quầy."
    ),
    "confirm_marketing_title": "Dừng tiếp thị?",
    "confirm_marketing_text": (
        "Các lần bạn đến sẽ không còn được dùng để gửi ưu đãi. Việc này được ghi nhận là bạn "
        "phản đối tiếp thị."
    ),
    "confirm_stop": "Có, dừng lại",
    "erase_after_text": (
        "Mẫu khuôn mặt của bạn sẽ tự động bị xóa vào ngày {date}. Bạn cũng có thể xóa ngay."
    ),
    "erase_after_kept": "Mẫu khuôn mặt vẫn được giữ cho mục đích còn hiệu lực: {purposes}.",
    "erase_now": "Xóa ngay…",
    "close_receipt_title": "Đóng biên nhận?",
    "close_receipt_text": (
        "Biên nhận sẽ không hiện lại trên máy này. Hãy lưu nó (PDF, ảnh hoặc tệp JSON) trước "
        "khi đóng."
    ),
    "close_receipt_yes": "Đóng biên nhận",
}

EN = {
    "me_title": "My face data",
    "code_heading": "Enter your access code",
    "code_label": "Access code",
    "code_help": "The code on your consent receipt, for example ABCD-EFGH-JKLM-NPQR-STUV.",
    "open": "Open",
    "forget_code": "Remove the code from this device",
    "me_customer": "Customer id: {id}",
    "me_key": "Data key: {id} ({state})",
    "consents_heading": "My consents",
    "consent_granted": "Given",
    "consent_expires": "Expires",
    "consent_never": "until withdrawn",
    "consent_notice": "Notice",
    "purpose_active": "active",
    "purpose_revoked": "withdrawn on {date}",
    "purpose_ended": "no longer active",
    "templates_heading": "My face templates",
    "templates_count": "{n} templates stored, encrypted. No photo is ever kept.",
    "templates_count_one": "1 template stored, encrypted. No photo is ever kept.",
    "template_row": "Created {date} · model {model}",
    "matches_heading": "Where and when my face was matched",
    "matches_none": "Never yet.",
    "col_time": "Time",
    "col_venue": "Venue",
    "col_purpose": "Purpose",
    "actions_heading": "My rights",
    "revoked_done": "Consent for {purpose} withdrawn.",
    "objected_done": "Your objection is recorded; marketing has stopped.",
    "nothing_active": "No purpose is active any more.",
    "retake_heading": "Retake my photos",
    "retake_text": "Replace your face templates with ones computed from new photos.",
    "retake_label": "New photos (1 to 5)",
    "retake_submit": "Replace my templates",
    "retake_done": "Replaced with {n} new templates.",
    "retake_done_one": "Replaced with 1 new template.",
    "retake_need": "Choose 1 to 5 photos.",
    "files_chosen": "{n} photos chosen.",
    "files_chosen_one": "1 photo chosen.",
    "receipts_heading": "My receipts",
    "erase_heading": "Erase everything",
    "erase_text": (
        "Your key is destroyed, every consent withdrawn, and your face templates can never be "
        "read again, not even in backups."
    ),
    "erase_button": "Erase everything…",
    "erase_confirm_title": "Erase everything?",
    "erase_confirm_text": (
        "This cannot be undone. Your key will be destroyed, every consent withdrawn, your face "
        "templates can never be read again, and your access code will stop working."
    ),
    "erase_confirm_yes": "Yes, erase everything",
    "erase_confirm_no": "Cancel",
    "erased_heading": "Everything is erased",
    "erased_text": "Your face data has been destroyed. Keep this receipt as proof.",
    "erased_forget": "Close the receipt…",
    "go_back": "Go back",
    "stop_checkin": "Stop face check-in…",
    "stop_marketing": "Stop marketing…",
    "confirm_checkin_title": "Withdraw your consent to face check-in?",
    "confirm_checkin_text": (
        "Your face will no longer be recognised at check-in, at any venue. To use it again "
        "you would enrol again at the counter."
    ),
    "confirm_marketing_title": "Stop marketing?",
    "confirm_marketing_text": (
        "Your visits will no longer be used to send you offers. This is recorded as your "
        "objection to marketing."
    ),
    "confirm_stop": "Yes, stop it",
    "erase_after_text": (
        "Your face templates will be erased automatically on {date}. You can also erase them now."
    ),
    "erase_after_kept": (
        "Your face templates are still kept for the purposes still active: {purposes}."
    ),
    "erase_now": "Erase now…",
    "close_receipt_title": "Close the receipt?",
    "close_receipt_text": (
        "The receipt will not be shown again on this device. Save it (PDF, image or JSON "
        "file) before closing it."
    ),
    "close_receipt_yes": "Close the receipt",
}
