"""The processing impact-assessment dossier ("hồ sơ đánh giá tác động xử lý dữ liệu cá
nhân"), written from the live deployment in Vietnamese and English, as Markdown and PDF.

The facts come from the running system: the settings (controller, DPO, location, rules),
the databases (how many people, which notices, the registers) and the real configuration
of the technical measures (KEK provider, databases, keys per role, the audit log). What
facekeep cannot know (contracts, policies) is marked for the venue to attach. Each
generation is recorded in the audit log with the files' SHA-256.
"""

from __future__ import annotations

from .dossier import write_dossier
from .facts import Facts, gather
from .sections import build

__all__ = ["Facts", "build", "gather", "write_dossier"]
