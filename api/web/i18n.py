"""The pages' strings in Vietnamese (the default) and English.

Both dictionaries have exactly the same keys (a test holds this). ``{name}`` marks a value
the page fills in. The templates and the pages' JavaScript read the same dictionary.
"""

from __future__ import annotations

from typing import Final

LANGS: Final = ("vi", "en")
DEFAULT_LANG: Final = "vi"
LANG_NAMES: Final = {"vi": "Tiếng Việt", "en": "English"}

_VI: dict[str, str] = {
    # Common
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
    # Receipts
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
    # Kiosk
    "kiosk_title": "Quầy đăng ký khuôn mặt",
    "staff_heading": "Nhân viên đăng nhập",
    "staff_key_label": "Khóa nhân viên",
    "venue_label": "Địa điểm",
    "staff_account_label": "Tài khoản nhân viên",
    "staff_account_help": (
        "Tên tài khoản do quản lý cấp cho bạn. Khóa quản trị không dùng được ở đây."
    ),
    "staff_pin_label": "Mã PIN",
    "staff_pin_help": "Mã PIN hoặc mật khẩu riêng của bạn. Trang này không lưu lại mã.",
    "signin_submit": "Đăng nhập",
    "staff_who": "Đang đăng nhập: {name} ({staff}).",
    "staff_idle": "Phiên đăng nhập tự kết thúc sau {minutes} phút không dùng.",
    "need_account": "Hãy nhập tên tài khoản nhân viên.",
    "need_pin": "Hãy nhập mã PIN.",
    "pin_wrong": "Sai tài khoản hoặc mã PIN.",
    "err_staff_locked": (
        "Nhập sai mã PIN quá nhiều lần nên tài khoản tạm thời bị khóa. Hãy thử lại sau hoặc "
        "báo quản lý."
    ),
    "session_ended": (
        "Phiên đăng nhập của nhân viên đã kết thúc (lâu không dùng hoặc đã đăng xuất). "
        "Hãy đăng nhập lại."
    ),
    "guest_kept": (
        "Lựa chọn và ảnh của khách đang đăng ký được giữ trong {minutes} phút: hãy đăng nhập "
        "lại tại cùng địa điểm để tiếp tục."
    ),
    "signed_out": "Đã đăng xuất. Máy tính bảng không còn giữ phiên đăng nhập nào.",
    "venue_none": "Tài khoản của bạn chưa có địa điểm nào đang hoạt động. Hãy báo quản lý.",
    "validity_label": "Thời hạn đồng ý",
    "days": "{n} ngày",
    "staff_submit": "Bắt đầu",
    "staff_bar": "Địa điểm: {venue} · đồng ý có hiệu lực {days} ngày",
    "staff_change": "Đổi",
    "notice_version": "Thông báo phiên bản {version}, tiếng Việt",
    "purposes_heading": "Bạn đồng ý cho mục đích nào?",
    "purposes_help": "Đánh dấu từng mục bạn muốn. Không mục nào được chọn sẵn.",
    "purpose_checkin_choice": "Check-in: nhận ra khuôn mặt tôi khi tôi check-in tại đây",
    "purpose_marketing_choice": (
        "Tiếp thị: dùng các lần tôi đến để gửi ưu đãi cho tôi (lựa chọn riêng, không bắt buộc)"
    ),
    "retention_heading": "Giữ trong bao lâu",
    "retention_text": (
        "Sự đồng ý có hiệu lực {days} ngày (đến {date}), trừ khi bạn rút lại sớm hơn. "
        "Khi hết hiệu lực, mẫu khuôn mặt của bạn tự động bị xóa trong vòng {grace} ngày."
    ),
    "erasure_heading": "Xóa nghĩa là gì",
    "erasure_text": (
        "Bạn có thể xóa toàn bộ bất cứ lúc nào trên trang của mình bằng mã truy cập. Việc xóa "
        "sẽ hủy khóa dùng để mã hóa mẫu khuôn mặt của bạn, nên không còn bản sao nào (trong "
        "cơ sở dữ liệu, bản sao dự phòng hay bản lưu trữ) đọc được nữa. Việc này không thể "
        "hoàn tác; muốn check-in bằng khuôn mặt lại, bạn cần đăng ký mới."
    ),
    "confirm_label": (
        "Tôi đã đọc thông báo trên và đồng ý rõ ràng cho các mục đích tôi đã đánh dấu."
    ),
    "continue": "Đồng ý và chụp ảnh",
    "need_purpose": "Hãy đánh dấu ít nhất một mục đích.",
    "need_confirm": "Hãy đánh dấu ô xác nhận.",
    "photo_heading": "Ảnh của bạn",
    "photo_intro": (
        "Hãy nhìn vào máy ảnh, chỉ một người trong khung hình. Ảnh chỉ dùng để tính mẫu khuôn "
        "mặt rồi bị xóa ngay, không bao giờ được lưu."
    ),
    "consent_summary": "Bạn đã đồng ý cho: {purposes}",
    "camera_start": "Bật máy ảnh",
    "camera_stop": "Tắt máy ảnh",
    "take_photo": "Chụp {n} ảnh",
    "camera_label": "Hình từ máy ảnh",
    "camera_unavailable": "Không dùng được máy ảnh ở đây; hãy chọn ảnh từ tệp.",
    "upload_label": "Hoặc chọn ảnh (1 đến 5)",
    "hint_checking": "Đang tìm khuôn mặt…",
    "hint_none": "Không thấy khuôn mặt. Hãy nhìn thẳng vào máy ảnh, đủ ánh sáng.",
    "hint_one": "Thấy một khuôn mặt. Có thể chụp.",
    "hint_many": "Thấy {n} khuôn mặt. Chỉ để khách trong khung hình rồi mới chụp được.",
    "photos_heading": "Ảnh dùng được ({n}/5)",
    "photo_alt": "Ảnh {n}",
    "photo_remove": "Bỏ ảnh {n}",
    "photo_status_one": "Ảnh {n}: thấy một khuôn mặt",
    "photos_too_many": "Đã đủ 5 ảnh dùng được. Hãy bỏ bớt một ảnh trước khi chụp thêm.",
    "enrol_submit": "Đăng ký với sự đồng ý của tôi",
    "enrolling": "Đang đăng ký…",
    "back": "Quay lại thông báo",
    "done_heading": "Bạn đã đăng ký xong",
    "access_code_heading": "Mã truy cập của bạn",
    "access_code_help": (
        "Hãy giữ mã này: với mã này, bạn có thể xem, rút lại hoặc xóa dữ liệu của mình bất cứ "
        "lúc nào. Mã chỉ hiện một lần này."
    ),
    "qr_help": "Quét để mở trang của bạn trên điện thoại",
    "qr_alt": "Mã QR mở trang của bạn",
    "next_customer": "Khách tiếp theo",
    # Customer page
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
    # Auditor page
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
    # Compliance pack: refusals, receipts in plain words, privacy and staff pages
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
    "refuse": "Không đồng ý",
    "refused_heading": "Không sao cả",
    "refused_text": (
        "Chúng tôi không ghi lại bất cứ thông tin nào về bạn. Bạn vẫn check-in bình thường "
        "tại quầy."
    ),
    "refused_done": "Xong",
    "staff_unlock": "Nhân viên",
    "unlock_title": "Chức năng nhân viên",
    "unlock_text": (
        "Nhập mã PIN để mở chức năng nhân viên: đổi địa điểm, cấp mã mới hoặc đăng xuất."
    ),
    "unlock_submit": "Mở",
    "signout_title": "Đăng xuất khỏi quầy?",
    "signout_text": "Nhập mã PIN để đăng xuất. Phiên đăng nhập sẽ kết thúc ngay trên máy chủ.",
    "cancel": "Hủy",
    "to_guest": "Giao máy cho khách",
    "new_code": "Cấp mã truy cập mới",
    "new_code_label": "Mã khách hàng",
    "new_code_help": "Chỉ cấp sau khi đã xác minh đúng là khách đó. Mã cũ hết tác dụng ngay.",
    "new_code_submit": "Cấp mã mới",
    "new_code_heading": "Mã truy cập mới",
    "public_url_warning": (
        "FACEKEEP_PUBLIC_URL chưa được đặt: mã QR sẽ trỏ tới địa chỉ của chính máy này "
        "({origin}), điện thoại của khách có thể không mở được."
    ),
    "take_need_one": "Chỉ chụp được khi thấy đúng một khuôn mặt.",
    "photo_err_many": "Ảnh {n} có {count} khuôn mặt: hãy chụp lại, chỉ để khách trong khung hình.",
    "photo_err_none": (
        "Ảnh {n} không thấy khuôn mặt: hãy nhìn thẳng vào máy ảnh, đủ ánh sáng, rồi chụp lại."
    ),
    "photo_err_small": "Ảnh {n} có khuôn mặt quá nhỏ: hãy lại gần máy ảnh hơn rồi chụp lại.",
    "photo_err_other": "Ảnh {n}: {error} Hãy chụp lại hoặc chọn tệp khác.",
    "photo_not_sent": "Ảnh lỗi không tính vào giới hạn 5 ảnh và không được gửi.",
    "enrol_reason_none": "Cần ít nhất một ảnh có đúng một khuôn mặt.",
    "enrol_reason_checking": "Đang kiểm tra ảnh…",
    "code_timer": "Mã sẽ được xóa khỏi màn hình sau {time}.",
    "code_saved": "Tôi đã lưu mã",
    "code_cleared": (
        "Mã đã được xóa khỏi màn hình này. Nếu chưa kịp lưu, hãy nhờ nhân viên cấp mã mới."
    ),
    "next_confirm_title": "Chuyển sang khách tiếp theo?",
    "next_confirm_text": (
        "Mã truy cập và biên nhận sẽ bị xóa khỏi màn hình này. Nhân viên nhập mã PIN để tiếp tục."
    ),
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
    "staff_title": "Yêu cầu của khách và vi phạm dữ liệu",
    "rq_heading": "Yêu cầu của khách về dữ liệu",
    "rq_summary": "{open} đang mở, {late} quá hạn, {done} đã xong",
    "rq_only_open": "Chỉ hiện yêu cầu đang mở",
    "rq_none": "Không có yêu cầu nào.",
    "rq_col_request": "Yêu cầu",
    "rq_col_received": "Nhận lúc",
    "rq_col_ack": "Xác nhận trước",
    "rq_col_due": "Hoàn thành trước",
    "rq_col_status": "Trạng thái",
    "rq_late": "quá hạn",
    "rq_ack": "Đã xác nhận",
    "rq_complete": "Thực hiện",
    "rq_refuse": "Từ chối",
    "rq_new": "Ghi nhận yêu cầu mới",
    "rq_kind": "Loại yêu cầu",
    "rq_channel": "Nhận qua",
    "rq_customer": "Mã khách hàng (nếu đã biết)",
    "rq_received": "Nhận lúc (để trống: bây giờ)",
    "rq_note": "Ghi chú",
    "rq_submit": "Ghi nhận",
    "rq_outcome": "Đã làm gì (bắt buộc với yêu cầu chỉnh sửa)",
    "rq_reason": "Lý do từ chối",
    "rq_done": "Đã cập nhật yêu cầu {id}.",
    "kind_access": "Xem dữ liệu",
    "kind_correction": "Chỉnh sửa",
    "kind_withdrawal": "Rút lại đồng ý",
    "kind_objection": "Phản đối",
    "kind_erasure": "Xóa",
    "kind_restriction": "Hạn chế xử lý",
    "channel_self-service": "Trang của khách",
    "channel_counter": "Tại quầy",
    "channel_phone": "Điện thoại",
    "channel_letter": "Thư",
    "channel_email": "Thư điện tử",
    "channel_authority": "Cơ quan chức năng",
    "rqstatus_open": "đang mở",
    "rqstatus_acknowledged": "đã xác nhận",
    "rqstatus_completed": "đã xong",
    "rqstatus_refused": "đã từ chối",
    "br_heading": "Sổ vi phạm dữ liệu",
    "br_none": "Chưa có hồ sơ vi phạm nào.",
    "br_new": "Mở hồ sơ vi phạm",
    "br_description": "Mô tả",
    "br_discovered": "Phát hiện lúc (để trống: bây giờ)",
    "br_venues": "Chỉ khách của các địa điểm (mã, cách nhau bởi dấu phẩy; để trống: tất cả)",
    "br_submit": "Mở hồ sơ",
    "br_left": "còn {h} giờ để thông báo",
    "br_overdue": "QUÁ HẠN thông báo",
    "br_affected": "{n} khách có thể bị ảnh hưởng",
    "br_step": "Ghi bước",
    "br_step_contained": "Đã ngăn chặn",
    "br_step_authority_notified": "Đã báo cơ quan chức năng",
    "br_step_subjects_notified": "Đã báo khách",
    "br_step_note": "Ghi chú",
    "br_step_closed": "Đóng hồ sơ",
    "br_step_opened": "Mở hồ sơ",
    "br_step_drafted": "Soạn thông báo",
    "br_drafts": "Xem bản thảo thông báo",
    "br_keep": "Lưu hồ sơ đến {date}",
}

_EN: dict[str, str] = {
    # Common
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
    # Receipts
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
    # Kiosk
    "kiosk_title": "Face enrolment counter",
    "staff_heading": "Staff sign-in",
    "staff_key_label": "Staff key",
    "venue_label": "Venue",
    "staff_account_label": "Staff account",
    "staff_account_help": (
        "The account name your manager gave you. Operators' keys are not accepted here."
    ),
    "staff_pin_label": "PIN",
    "staff_pin_help": "Your personal PIN or password. This page never keeps it.",
    "signin_submit": "Sign in",
    "staff_who": "Signed in as {name} ({staff}).",
    "staff_idle": "The session ends by itself after {minutes} minutes unused.",
    "need_account": "Enter your staff account name.",
    "need_pin": "Enter your PIN.",
    "pin_wrong": "Wrong staff account or PIN.",
    "err_staff_locked": (
        "Too many wrong PINs: this account is locked for a while. Try again later or ask "
        "your manager."
    ),
    "session_ended": (
        "The staff session has ended (unused for a while, or signed out). Sign in again."
    ),
    "guest_kept": (
        "The guest's choices and photos are kept for {minutes} minutes: sign in again at the "
        "same venue to carry on."
    ),
    "signed_out": "Signed out. This tablet no longer holds a staff session.",
    "venue_none": "No active venue is assigned to your account. Ask your manager.",
    "validity_label": "Consent valid for",
    "days": "{n} days",
    "staff_submit": "Start",
    "staff_bar": "Venue: {venue} · consent valid for {days} days",
    "staff_change": "Change",
    "notice_version": "Notice version {version}, English",
    "purposes_heading": "What do you agree to?",
    "purposes_help": "Tick each one you want. Nothing is ticked for you.",
    "purpose_checkin_choice": "Check-in: recognise my face when I check in here",
    "purpose_marketing_choice": (
        "Marketing: use my visits to send me offers (a separate, optional choice)"
    ),
    "retention_heading": "How long it is kept",
    "retention_text": (
        "Your consent lasts {days} days (until {date}) unless you withdraw it sooner. "
        "When it ends, your face template is erased automatically within {grace} days."
    ),
    "erasure_heading": "What erasure means",
    "erasure_text": (
        "You can erase everything at any time from your own page with your access code. "
        "Erasure destroys the key that encrypts your face template, so no copy of it (in the "
        "database, in replicas or in backups) can ever be read again. It cannot be undone; "
        "to use face check-in again you would enrol anew."
    ),
    "confirm_label": (
        "I have read the notice above and I give my explicit consent to the purposes I ticked."
    ),
    "continue": "I agree: take my photo",
    "need_purpose": "Tick at least one purpose.",
    "need_confirm": "Tick the confirmation box.",
    "photo_heading": "Your photo",
    "photo_intro": (
        "Look at the camera, with only one person in the picture. Photos are used to compute "
        "your face template and then discarded at once; they are never stored."
    ),
    "consent_summary": "You agreed to: {purposes}",
    "camera_start": "Start the camera",
    "camera_stop": "Stop the camera",
    "take_photo": "Take {n} photos",
    "camera_label": "Camera picture",
    "camera_unavailable": "The camera cannot be used here; choose a photo file instead.",
    "upload_label": "Or choose photos (1 to 5)",
    "hint_checking": "Looking for a face…",
    "hint_none": "No face seen. Face the camera, in good light.",
    "hint_one": "One face seen. Ready to take the photos.",
    "hint_many": "{n} faces seen. Only the guest may be in view before photos can be taken.",
    "photos_heading": "Usable photos ({n} of 5)",
    "photo_alt": "Photo {n}",
    "photo_remove": "Remove photo {n}",
    "photo_status_one": "Photo {n}: one face seen",
    "photos_too_many": "There are already 5 usable photos. Remove one before taking more.",
    "enrol_submit": "Enrol with my consent",
    "enrolling": "Enrolling…",
    "back": "Back to the notice",
    "done_heading": "You are enrolled",
    "access_code_heading": "Your access code",
    "access_code_help": (
        "Keep this code: with it you can see, withdraw or erase your data at any time. "
        "It is shown only this once."
    ),
    "qr_help": "Scan to open your page on your phone",
    "qr_alt": "QR code that opens your page",
    "next_customer": "Next guest",
    # Customer page
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
    # Auditor page
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
    # Compliance pack: refusals, receipts in plain words, privacy and staff pages
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
    "r_sentence_consent": (
        "On {date} you agreed that {venues} may recognise your face for {purposes}, {until}."
    ),
    "r_until_date": "until the end of {date}",
    "r_until_open": "until you withdraw your consent",
    "r_sentence_destroyed": "On {date} {controller} permanently destroyed your face data {why}.",
    "why_request": "at your request",
    "why_retention": "because your consent had ended",
    "why_other": "(reason: {reason})",
    "refuse": "I do not agree",
    "refused_heading": "That is fine",
    "refused_text": "Nothing about you has been recorded. You check in as usual at the counter.",
    "refused_done": "Done",
    "staff_unlock": "Staff",
    "unlock_title": "Staff controls",
    "unlock_text": (
        "Enter your PIN to open the staff controls: change the venue, issue a new code or sign out."
    ),
    "unlock_submit": "Open",
    "signout_title": "Sign out of the counter?",
    "signout_text": "Enter your PIN to sign out. The session ends on the server at once.",
    "cancel": "Cancel",
    "to_guest": "Hand the tablet to the guest",
    "new_code": "Issue a new access code",
    "new_code_label": "Customer id",
    "new_code_help": (
        "Only after checking that it is that guest. The old code stops working at once."
    ),
    "new_code_submit": "Issue a new code",
    "new_code_heading": "Your new access code",
    "public_url_warning": (
        "FACEKEEP_PUBLIC_URL is not set: the QR code will point at this tablet's own address "
        "({origin}), which guests' phones may not reach."
    ),
    "take_need_one": "Photos can be taken only while exactly one face is seen.",
    "photo_err_many": "Photo {n} shows {count} faces: retake it with only the guest in view.",
    "photo_err_none": "Photo {n} shows no face: face the camera, in good light, and retake it.",
    "photo_err_small": (
        "In photo {n} the face is too small: come closer to the camera and retake it."
    ),
    "photo_err_other": "Photo {n}: {error} Retake it or choose another file.",
    "photo_not_sent": "A bad photo does not count toward the limit of 5 and is not sent.",
    "enrol_reason_none": "At least one photo with exactly one face is needed.",
    "enrol_reason_checking": "Checking the photos…",
    "code_timer": "The code will be cleared from this screen in {time}.",
    "code_saved": "I have saved it",
    "code_cleared": (
        "The code has been cleared from this screen. If you did not save it, ask staff for a "
        "new one."
    ),
    "next_confirm_title": "Move on to the next guest?",
    "next_confirm_text": (
        "The access code and the receipt will be cleared from this screen. Staff: enter your "
        "PIN to continue."
    ),
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
    "staff_title": "Guests' data requests and breaches",
    "rq_heading": "Guests' requests about their data",
    "rq_summary": "{open} open, {late} late, {done} done",
    "rq_only_open": "Show only open requests",
    "rq_none": "No request.",
    "rq_col_request": "Request",
    "rq_col_received": "Received",
    "rq_col_ack": "Acknowledge by",
    "rq_col_due": "Complete by",
    "rq_col_status": "Status",
    "rq_late": "late",
    "rq_ack": "Acknowledged",
    "rq_complete": "Carry out",
    "rq_refuse": "Refuse",
    "rq_new": "Record a new request",
    "rq_kind": "Kind of request",
    "rq_channel": "Received by",
    "rq_customer": "Customer id (if known)",
    "rq_received": "Received at (empty: now)",
    "rq_note": "Note",
    "rq_submit": "Record",
    "rq_outcome": "What was done (needed for a correction)",
    "rq_reason": "Why it is refused",
    "rq_done": "Request {id} updated.",
    "kind_access": "Access",
    "kind_correction": "Correction",
    "kind_withdrawal": "Withdrawal",
    "kind_objection": "Objection",
    "kind_erasure": "Erasure",
    "kind_restriction": "Restriction",
    "channel_self-service": "Guest's page",
    "channel_counter": "At the counter",
    "channel_phone": "Telephone",
    "channel_letter": "Letter",
    "channel_email": "E-mail",
    "channel_authority": "Authority",
    "rqstatus_open": "open",
    "rqstatus_acknowledged": "acknowledged",
    "rqstatus_completed": "done",
    "rqstatus_refused": "refused",
    "br_heading": "Breach register",
    "br_none": "No breach file yet.",
    "br_new": "Open a breach file",
    "br_description": "Description",
    "br_discovered": "Discovered at (empty: now)",
    "br_venues": "Only guests of these venues (ids, comma-separated; empty: everyone)",
    "br_submit": "Open the file",
    "br_left": "{h} hours left to notify",
    "br_overdue": "notification OVERDUE",
    "br_affected": "{n} guests possibly affected",
    "br_step": "Record a step",
    "br_step_contained": "Contained",
    "br_step_authority_notified": "Authority notified",
    "br_step_subjects_notified": "Guests notified",
    "br_step_note": "Note",
    "br_step_closed": "Close the file",
    "br_step_opened": "File opened",
    "br_step_drafted": "Notices drafted",
    "br_drafts": "Show the draft notices",
    "br_keep": "Keep the file until {date}",
}

STRINGS: Final[dict[str, dict[str, str]]] = {"vi": _VI, "en": _EN}


def pick_lang(asked: str | None) -> str:
    """The page language: ``vi`` or ``en``; anything else falls back to Vietnamese."""
    return asked if asked in LANGS else DEFAULT_LANG


def strings(lang: str) -> dict[str, str]:
    """Every string of the pages in ``lang``."""
    return STRINGS[pick_lang(lang)]
