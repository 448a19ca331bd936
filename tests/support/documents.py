"""A served PDF read back as the facility reads it: its text by pdftotext, as one run of words."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path


def pdf_words(pdf: bytes) -> str:
    """The PDF's text with every space and line break taken out: pdftotext breaks lines where the layout wraps
    them, so a phrase is looked for as one run (compare with `words(...)` of the expected text)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "served.pdf"
        path.write_bytes(pdf)
        done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, timeout=60, check=True)
    return words(done.stdout.decode())


def words(text: str) -> str:
    return re.sub(r"\s+", "", text)
