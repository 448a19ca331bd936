"""The kinds of certificate a facility's register holds, as data (checklists/certificates/kinds.yaml): each names
the checklist item a lapse raises a finding on. Loaded like the checklists, every fault as `file.yaml:LINE: message`,
and checked against the catalog: a kind may only name an item that exists."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tracker.checklists.loader import _Fields, _Map, _Problems, _read_yaml, _Seq, default_directory
from tracker.checklists.model import Catalog, ChecklistInvalid

KINDS_FILE = Path("certificates") / "kinds.yaml"
_KIND_KEYS = {"code", "zh", "en", "label", "item"}


@dataclass(frozen=True)
class CertificateKind:
    code: str
    zh: str
    en: str
    label_zh: str
    label_en: str
    item: str  # the checklist item a lapse raises a finding on


def load_kinds(catalog: Catalog, directory: Path | None = None) -> dict[str, CertificateKind]:
    """The kinds by code, in the file's order; raise ChecklistInvalid listing every problem."""
    root = Path(directory) if directory is not None else default_directory()
    name = str(KINDS_FILE)
    problems = _Problems()
    data = _read_yaml(root / KINDS_FILE, problems, name)
    kinds: dict[str, CertificateKind] = {}
    if data is not None:
        top = _Fields(name, data, problems, "")
        top.only({"kinds"})
        listed = data.get("kinds")
        if not isinstance(listed, _Seq) or not listed:
            top.fail("kinds", "kinds must be a non-empty list")
            listed = _Seq()
        for entry, line in zip(listed, getattr(listed, "item_lines", []), strict=False):
            if not isinstance(entry, _Map):
                problems.add(name, line, "each kind must be a mapping")
                continue
            fields = _Fields(name, entry, problems, f"kind {entry.get('code', '?')}")
            fields.only(_KIND_KEYS)
            code, zh, en, item = (
                fields.text("code"),
                fields.text("zh"),
                fields.text("en"),
                fields.text("item"),
            )
            label = fields.bilingual("label")
            if code in kinds:
                fields.fail("code", f"kind {code!r} is listed twice")
                continue
            if item is not None and not catalog.has(item):
                fields.fail("item", f"no checklist item {item!r}")
                continue
            if None in (code, zh, en, item, label):
                continue
            assert code and zh and en and item and label
            kinds[code] = CertificateKind(code, zh, en, label[0], label[1], item)
    if problems.messages:
        raise ChecklistInvalid(problems.messages)
    return kinds
