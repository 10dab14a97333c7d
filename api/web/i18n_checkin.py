"""Strings of the check-in kiosk page (``/kiosk/checkin``), Vietnamese first.

Kept apart from :mod:`api.web.i18n` (the other pages' strings). Both dictionaries have
the same keys (a test holds this); ``{name}`` marks a value the page fills in. The page
carries both languages, so a guest switches language without reloading the camera.

Wording rule: nothing on this screen may tell people standing behind the guest who the
guest is, or why a face was not recognised (stranger, withdrawn, expired or erased all
read the same).
"""

from __future__ import annotations

from typing import Final

_VI: dict[str, str] = {
    "title": "Check-in bằng khuôn mặt",
    "lang_switch": "English",
    "lang_switch_label": "Switch to English",
    "venue": "Địa điểm: {venue}",
    "signin_title": "Đăng nhập thiết bị check-in",
    "signin_help": "Dành cho nhân viên: nhập khóa kiosk của địa điểm này (mục đích "
    "check-in). Khóa được giữ trên thiết bị này, không gắn với người nào, cho đến khi "
    "đăng xuất.",
    "key_label": "Khóa kiosk",
    "signin": "Đăng nhập",
    "signing_in": "Đang kiểm tra khóa…",
    "signout": "Đăng xuất thiết bị",
    "err_unauthorized": "Khóa không đúng hoặc đã bị vô hiệu hóa.",
    "err_not_checkin": "Khóa này không dùng được cho check-in: cần khóa kiosk có mục đích "
    "check-in.",
    "err_other_venue": "Khóa này thuộc địa điểm khác ({venue}).",
    "err_server": "Máy chủ trả lời lỗi. Hãy thử lại.",
    "offline": "Mất kết nối máy chủ: vui lòng check-in tại quầy. Đang thử lại…",
    "camera_starting": "Đang mở máy ảnh…",
    "camera_denied": "Không mở được máy ảnh. Hãy cho phép trang này dùng máy ảnh rồi tải "
    "lại trang.",
    "camera_missing": "Thiết bị này không có máy ảnh dùng được.",
    "hint_look": "Mời quý khách nhìn vào màn hình",
    "hint_closer": "Mời quý khách lại gần hơn",
    "hint_one": "Mỗi lần một người",
    "hint_dark": "Chỗ này hơi tối: mời quý khách đứng ra chỗ sáng hơn",
    "hint_blur": "Xin giữ yên",
    "hint_hold": "Giữ yên một chút…",
    "checking": "Đang kiểm tra…",
    "welcome": "Chào mừng quý khách!",
    "welcome_time": "Đã check-in lúc {time}",
    "no_match": "Chúng tôi chưa nhận ra quý khách: vui lòng check-in tại quầy",
    "next_guest": "Mời quý khách tiếp theo",
    "privacy": "Khung hình không được lưu ở đâu cả. Chỉ khách đã đồng ý mới được nhận "
    "diện; màn hình không hiện tên hay mã của ai.",
    "camera_label": "Hình từ máy ảnh",
}

_EN: dict[str, str] = {
    "title": "Face check-in",
    "lang_switch": "Tiếng Việt",
    "lang_switch_label": "Chuyển sang tiếng Việt",
    "venue": "Venue: {venue}",
    "signin_title": "Sign this check-in device in",
    "signin_help": "For staff: enter this venue's kiosk key (check-in purpose). The key "
    "is kept on this device, not tied to any person, until you sign out.",
    "key_label": "Kiosk key",
    "signin": "Sign in",
    "signing_in": "Checking the key…",
    "signout": "Sign this device out",
    "err_unauthorized": "Wrong key, or the key was disabled.",
    "err_not_checkin": "This key cannot check guests in: it needs a kiosk key with the "
    "check-in purpose.",
    "err_other_venue": "This key belongs to another venue ({venue}).",
    "err_server": "The server answered with an error. Try again.",
    "offline": "The server cannot be reached: please check in at the counter. Retrying…",
    "camera_starting": "Starting the camera…",
    "camera_denied": "The camera could not be opened. Allow this page to use the camera, "
    "then reload.",
    "camera_missing": "This device has no usable camera.",
    "hint_look": "Please look at the screen",
    "hint_closer": "Please come closer",
    "hint_one": "One person at a time",
    "hint_dark": "It is too dark here: please step into the light",
    "hint_blur": "Please hold still",
    "hint_hold": "Hold still a moment…",
    "checking": "Checking…",
    "welcome": "Welcome!",
    "welcome_time": "Checked in at {time}",
    "no_match": "We could not recognise you: please check in at the counter",
    "next_guest": "Next guest, please",
    "privacy": "Camera frames are never stored. Only guests who consented are recognised; "
    "the screen never shows anyone's name or id.",
    "camera_label": "Camera picture",
}

CHECKIN_STRINGS: Final = {"vi": _VI, "en": _EN}
