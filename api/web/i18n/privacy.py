"""Strings of the public privacy page (``/privacy``): controller, retention schedule, rights."""

VI = {
    "privacy_title": "Quyền riêng tư: dữ liệu khuôn mặt của bạn",
    "privacy_intro": (
        "Trang này cho biết ai giữ dữ liệu khuôn mặt của bạn, giữ trong bao lâu và bạn dùng "
        "quyền của mình thế nào. Nó được công bố trước khi bất kỳ dữ liệu nào được thu thập."
    ),
    "privacy_unset": "Địa điểm chưa cấu hình: {names}",
    "pv_controller": "Ai giữ dữ liệu của bạn",
    "pv_name": "Bên kiểm soát dữ liệu",
    "pv_address": "Địa chỉ",
    "pv_contact": "Liên hệ về dữ liệu cá nhân",
    "pv_dpo": "Người phụ trách bảo vệ dữ liệu cá nhân",
    "pv_location": "Nơi lưu dữ liệu",
    "pv_transfers": "Chuyển dữ liệu ra nước ngoài",
    "pv_none": "Không có",
    "pv_what": "Chúng tôi thu thập gì và để làm gì",
    "pv_what_text": (
        "Chỉ khi bạn đồng ý: một mẫu khuôn mặt (dữ liệu cá nhân nhạy cảm) tính từ ảnh chụp "
        "tại quầy, được mã hóa; ảnh không bao giờ được lưu, và không có tên hay số điện "
        "thoại. Dùng cho check-in, và cho tiếp thị nếu bạn chọn riêng. Chúng tôi không bán và "
        "không chia sẻ dữ liệu này, trừ khi pháp luật yêu cầu. Từ chối không ảnh hưởng gì: "
        "bạn vẫn check-in tại quầy."
    ),
    "pv_schedule": "Lịch lưu trữ và xóa",
    "pv_what_col": "Dữ liệu hoặc việc",
    "pv_when_col": "Thời hạn",
    "pv_s_consent": "Sự đồng ý (bạn chọn thời hạn khi đăng ký)",
    "pv_s_consent_v": "{days} ngày",
    "pv_s_templates": "Mẫu khuôn mặt sau khi sự đồng ý hết hạn hoặc bị rút lại",
    "pv_s_templates_v": (
        "tự động xóa trong vòng {grace} ngày; muộn nhất {max} ngày sau khi bạn đồng ý"
    ),
    "pv_s_erase": "Xóa theo yêu cầu",
    "pv_s_erase_v": (
        "ngay lập tức (khóa của bạn bị hủy; mọi bản sao, kể cả bản sao dự phòng, không còn "
        "đọc được)"
    ),
    "pv_s_requests": "Yêu cầu của bạn (xem, sửa, rút lại, phản đối, hạn chế, xóa)",
    "pv_s_requests_v": (
        "xác nhận trong {ack} ngày làm việc, hoàn thành trong {days} ngày; phần lớn làm ngay"
    ),
    "pv_s_breach": "Khi có vi phạm liên quan đến dữ liệu của bạn",
    "pv_s_breach_v": "thông báo cho cơ quan chức năng và cho bạn trong vòng {hours} giờ",
    "pv_rights": "Cách dùng quyền của bạn",
    "pv_right_col": "Quyền",
    "pv_how_col": "Cách làm",
    "pv_r_see": "Xem dữ liệu của mình",
    "pv_r_see_how": "Mở trang của bạn bằng mã truy cập in trên biên nhận (hoặc quét mã QR).",
    "pv_r_correct": "Chỉnh sửa",
    "pv_r_correct_how": "Chụp lại ảnh trên trang của bạn hoặc tại quầy.",
    "pv_r_withdraw": "Rút lại sự đồng ý",
    "pv_r_withdraw_how": "Trên trang của bạn, mỗi mục đích có một nút riêng; hoặc hỏi tại quầy.",
    "pv_r_object": "Phản đối tiếp thị",
    "pv_r_object_how": "Nút “Dừng tiếp thị” trên trang của bạn; hoặc hỏi tại quầy.",
    "pv_r_restrict": "Hạn chế xử lý",
    "pv_r_restrict_how": "Hỏi tại quầy hoặc gửi yêu cầu đến địa chỉ liên hệ ở trên.",
    "pv_r_erase": "Xóa toàn bộ",
    "pv_r_erase_how": "Nút “Xóa toàn bộ” trên trang của bạn (có biên nhận hủy), hoặc tại quầy.",
    "pv_r_complain": "Khiếu nại",
    "pv_r_complain_how": (
        "Gửi đến địa chỉ liên hệ ở trên, hoặc đến cơ quan chuyên trách bảo vệ dữ liệu cá nhân."
    ),
    "pv_lost_code": (
        "Mất mã truy cập? Nhân viên có thể cấp mã mới sau khi xác minh đúng là bạn; mã cũ hết "
        "tác dụng ngay."
    ),
    "pv_notices": "Các phiên bản thông báo đang có hiệu lực",
    "pv_notice_item": "Phiên bản {version} ({lang}) · SHA-256 {sha}",
    "pv_open_me": "Mở trang của tôi",
}

EN = {
    "privacy_title": "Privacy: your face data",
    "privacy_intro": (
        "This page says who holds your face data, for how long, and how you use your rights. "
        "It is published before any data is collected."
    ),
    "privacy_unset": "The venue has not configured: {names}",
    "pv_controller": "Who holds your data",
    "pv_name": "Data controller",
    "pv_address": "Address",
    "pv_contact": "Privacy requests",
    "pv_dpo": "Data protection officer",
    "pv_location": "Where the data is stored",
    "pv_transfers": "Transfers abroad",
    "pv_none": "None",
    "pv_what": "What we collect and why",
    "pv_what_text": (
        "Only with your consent: a face template (sensitive personal data) computed from "
        "photos taken at the counter, stored encrypted; photos are never stored, and there is "
        "no name or telephone number. It is used for check-in, and for marketing only if you "
        "choose that separately. We do not sell this data and do not share it, except where "
        "the law requires it. Refusing changes nothing: you check in at the counter."
    ),
    "pv_schedule": "Retention and deletion schedule",
    "pv_what_col": "Data or event",
    "pv_when_col": "How long / when",
    "pv_s_consent": "Consent (you choose the period when you enrol)",
    "pv_s_consent_v": "{days} days",
    "pv_s_templates": "Face templates after the consent expired or was withdrawn",
    "pv_s_templates_v": (
        "erased automatically within {grace} days; at the latest {max} days after you consented"
    ),
    "pv_s_erase": "Erasure on request",
    "pv_s_erase_v": "at once (your key is destroyed; every copy, backups too, becomes unreadable)",
    "pv_s_requests": "Your requests (see, correct, withdraw, object, restrict, erase)",
    "pv_s_requests_v": (
        "acknowledged within {ack} working days, completed within {days} days; most at once"
    ),
    "pv_s_breach": "A breach involving your data",
    "pv_s_breach_v": "the authority and you are notified within {hours} hours",
    "pv_rights": "How to use your rights",
    "pv_right_col": "Right",
    "pv_how_col": "How",
    "pv_r_see": "See your data",
    "pv_r_see_how": (
        "Open your own page with the access code printed on your receipt (or scan the QR code)."
    ),
    "pv_r_correct": "Correct it",
    "pv_r_correct_how": "Retake your photos on your page or at the counter.",
    "pv_r_withdraw": "Withdraw your consent",
    "pv_r_withdraw_how": "On your page, one button per purpose; or ask at the counter.",
    "pv_r_object": "Object to marketing",
    "pv_r_object_how": "The “Stop marketing” button on your page; or ask at the counter.",
    "pv_r_restrict": "Restrict the processing",
    "pv_r_restrict_how": "Ask at the counter or write to the privacy contact above.",
    "pv_r_erase": "Erase everything",
    "pv_r_erase_how": (
        "The “Erase everything” button on your page (with a destruction receipt), or at the "
        "counter."
    ),
    "pv_r_complain": "Complain",
    "pv_r_complain_how": (
        "Write to the privacy contact above, or to the authority in charge of personal data "
        "protection."
    ),
    "pv_lost_code": (
        "Lost your access code? Staff can issue a new one after checking it is you; the old "
        "code stops working at once."
    ),
    "pv_notices": "Notice versions in force",
    "pv_notice_item": "Version {version} ({lang}) · SHA-256 {sha}",
    "pv_open_me": "Open my page",
}
