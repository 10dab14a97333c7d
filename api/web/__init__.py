"""Server-rendered pages (consent kiosk, customer page, auditor page): templates, static
files and their Vietnamese and English strings. Everything is served by facekeep itself,
so the pages work offline in a venue."""
