"""The product's name, in the two languages people read it in: set here once; pages, mails, documents, the API's
description and the command line all take it from here."""

NAME = {"zh": "安全检查与隐患闭环整改", "en": "Safety inspection and hazard closure"}
PLACEHOLDER = "{product}"


def named(lang: str, text: str) -> str:
    """`text` with the product's name in `lang` where it says {product}."""
    return text.replace(PLACEHOLDER, NAME.get(lang, NAME["zh"]))
