"""What the product says and how it is laid out: one message catalogue per language (`catalogue`), the labels
taken from it (`labels`) and the one Jinja environment that pages, mail and printed documents render with
(`templating`)."""
