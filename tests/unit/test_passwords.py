"""The password check costs the same whether or not the person exists."""

from __future__ import annotations

from tracker.passwords import DUMMY_HASH, ROUNDS, check_password, hash_password, password_matches


class CountingCheck:
    def __init__(self) -> None:
        self.hashes: list[str] = []

    def __call__(self, password: str, hashed: str) -> bool:
        self.hashes.append(hashed)
        return check_password(password, hashed)


def test_it_runs_bcrypt_for_an_unknown_person_too_and_says_no() -> None:
    check = CountingCheck()
    assert password_matches("anything-at-all", None, check) is False
    assert check.hashes == [DUMMY_HASH]


def test_a_known_person_takes_the_same_one_bcrypt_check() -> None:
    stored = hash_password("right-password-1")
    check = CountingCheck()
    assert password_matches("right-password-1", stored, check) is True
    assert password_matches("wrong-password-1", stored, check) is False
    assert check.hashes == [stored, stored]


def test_the_dummy_hash_costs_what_a_real_one_costs() -> None:
    # bcrypt's cost is in the hash ("$2b$10$..."): a cheaper dummy would make unknown names quicker to refuse.
    assert DUMMY_HASH.split("$")[1:3] == hash_password("x" * 12).split("$")[1:3] == ["2b", f"{ROUNDS:02d}"]
    assert check_password("", DUMMY_HASH) is False
