"""Temporary shim: the report of ``facekeep evaluate`` lives in :mod:`enroll.evaluation.report`
(and the modules beside it); this name stays until its last importer moves."""

from enroll.evaluation.report import (
    FIGURES,
    blocks,
    markdown,
    page,
    run,
    summary,
    terminal,
    write_report,
)

__all__ = ["FIGURES", "blocks", "markdown", "page", "run", "summary", "terminal", "write_report"]
