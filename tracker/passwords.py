"""Passwords, kept as bcrypt hashes, and the check that takes as long whether or not the person exists."""

from __future__ import annotations

from collections.abc import Callable

import bcrypt

ROUNDS = 10
# The hash of a random word nobody knows, at the cost of real ones: checked in place of a person who does not
# exist, so that a wrong name takes as long to refuse as a wrong password and names cannot be found by timing.
DUMMY_HASH = "$2b$10$a5EUdkubJtzy6zLfz.T5QuxL/G2bJqxM.R5wrjVxECCWIm8okHIXu"


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=ROUNDS)).decode()


def check_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:
        return False


def password_matches(
    password: str, stored_hash: str | None, check: Callable[[str, str], bool] = check_password
) -> bool:
    """Whether `password` matches the stored hash; with no stored hash (no such person, or deactivated), a
    dummy hash is checked all the same and the answer is no."""
    if stored_hash is None:
        check(password, DUMMY_HASH)
        return False
    return check(password, stored_hash)
