"""The dossier's twelve sections, built from the facts in one language as a
:class:`~api.compliance.document.Document`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from importlib.metadata import version as package_version

from api.notices import available, notice_for
from api.settings import Settings

from ..document import Attach, Bullets, Document, Flow, Grid, Heading, Para
from .facts import Facts
from .wording import WORDING


def _local(at: datetime, settings: Settings) -> str:
    zone = timezone(timedelta(hours=settings.utc_offset_hours))
    return at.astimezone(zone).strftime("%d/%m/%Y %H:%M (UTC%z)")


def build(facts: Facts, lang: str) -> Document:
    """The dossier in ``lang`` as a document."""
    t = WORDING[lang]
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
