"""Characters that have no place in a one-line value: a name, a code, a mail subject."""

from __future__ import annotations

import re
import unicodedata

# Control characters (C0, DEL, C1 with NEL), format characters (bidi overrides, zero-width), the line and
# paragraph separators U+2028/U+2029, lone surrogates: each either breaks a line where a mail header or a
# table has none, or makes text read otherwise than it is.
INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_SPACES = re.compile(r"\s+")


def hidden_characters(text: str) -> list[str]:
    """The invisible characters in `text`, named as U+XXXX, each once, in order of appearance."""
    found: list[str] = []
    for ch in text:
        name = f"U+{ord(ch):04X}"
        if unicodedata.category(ch) in INVISIBLE and name not in found:
            found.append(name)
    return found


def one_line(text: str) -> str:
    """`text` on one line: every invisible character a space, runs of spaces one."""
    shown = "".join(" " if unicodedata.category(ch) in INVISIBLE else ch for ch in text)
    return _SPACES.sub(" ", shown).strip()
