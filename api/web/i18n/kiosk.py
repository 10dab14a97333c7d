"""Strings of the consent counter (``/kiosk``): staff sign-in, notice, photos, access code."""

VI = {
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
    "notice_changed": (
        "Thông báo về dữ liệu khuôn mặt vừa được cập nhật sau khi bạn đọc, nên chưa có gì "
        "được lưu. Vui lòng đọc thông báo mới rồi đồng ý lại."
    ),
    "notice_reload": "Đọc thông báo mới",
    "notice_reloading": "Đang tải thông báo mới…",
    "notice_reloaded": (
        "Đây là thông báo mới. Vui lòng đọc kỹ, đồng ý lại nếu bạn muốn, rồi chụp ảnh lại."
    ),
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
}

EN = {
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
    "notice_changed": (
        "The notice about your face data was updated after you read it, so nothing has been "
        "saved. Please read the new notice and agree again."
    ),
    "notice_reload": "Read the new notice",
    "notice_reloading": "Loading the new notice…",
    "notice_reloaded": (
        "This is the updated notice. Please read it, agree again if you wish, then retake "
        "the photos."
    ),
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
}
