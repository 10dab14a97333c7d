"""Writing the dossier: gather the facts once, build each language, write Markdown and PDF,
and record the generation with the files' SHA-256 in the audit log."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from api.runtime import Runtime
from api.vocabulary import LANGUAGES
from dbkit import writing
from vault import Actor
from vault.audit import append_event

from ..document import to_markdown, to_pdf
from .facts import gather
from .sections import build


def write_dossier(
    runtime: Runtime, out: Path, *, actor: Actor, langs: tuple[str, ...] = LANGUAGES
) -> dict[str, Any]:
    """Write ``dpia-YYYY-MM-DD.LANG.md`` and ``.pdf`` to ``out``, record the generation in
    the audit log, and return what was written with each file's SHA-256."""
    facts = gather(runtime)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"dpia-{facts.generated_at.date().isoformat()}"
    files: dict[str, str] = {}
    for lang in langs:
        doc = build(facts, lang)
        md = out / f"{stem}.{lang}.md"
        md.write_text(to_markdown(doc), encoding="utf-8")
        pdf = out / f"{stem}.{lang}.pdf"
        to_pdf(doc, pdf, generated=facts.generated_at)
        for path in (md, pdf):
            files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    details = {
        "files": files,
        "sensitive_subjects": facts.sensitive_subjects,
        "large_scale": facts.large_scale,
    }
    with writing(runtime.vault.engine) as conn:
        seq = append_event(
            conn,
            ts=facts.generated_at,
            actor=actor,
            action="compliance.dpia",
            details=details,
        )
    return {
        "out": str(out),
        "generated_at": facts.generated_at.isoformat(),
        "audit_seq": seq,
        **details,
        "placeholders": runtime.settings.placeholders(),
    }
