"""`tracker plans` as an operator runs it: a real subprocess on a SQLite database in a data folder."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tracker(*args: str | Path, cwd: Path, input: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "tracker", *map(str, args)],
        cwd=cwd,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_it_shows_the_seeds_hash_before_the_draw_and_verifies_the_draw_from_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    csv = tmp_path / "facilities.csv"
    towns = ["汇龙镇", "南阳镇", "北新镇"]
    csv.write_text(
        "code,name,type,town,head_name,head_email\n"
        + "".join(
            f"N{n},{towns[n % 3]}{n}号敬老院,nursing_home,{towns[n % 3]},王{n},n{n}@example.cn\n"
            for n in range(6)
        ),
        encoding="utf-8",
    )
    assert tracker("db", "upgrade", "--data", data, cwd=tmp_path).returncode == 0
    assert tracker("facilities", "import", csv, "--data", data, cwd=tmp_path).returncode == 0
    for n, town in enumerate(towns):
        added = tracker(
            "users", "add", "--role", "inspector", "--username", f"i{n}", "--warrant-no", f"3206{n}",
            "--town", town, "--password-stdin", "--data", data, cwd=tmp_path, input="long-enough-1\n",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr

    drawn = tracker(
        "plans", "draw", "--name", "2027Q1", "--from", "2027-01-01", "--to", "2027-03-31", "--share", "0.5",
        "--team-size", "2", "--seed", "s1", "--data", data, cwd=tmp_path,
    )  # fmt: skip
    assert drawn.returncode == 0, drawn.stderr
    digest = hashlib.sha256(b"s1").hexdigest()
    assert drawn.stdout.index(digest) < drawn.stdout.index("drawn 3 of 6 facilities")
    assert "s1" not in drawn.stdout.replace(digest, "")  # the seed itself is not printed with the draw

    verified = tracker("plans", "verify", "2027Q1", "--data", data, cwd=tmp_path)
    assert verified.returncode == 0 and "the draw matches" in verified.stdout

    with sqlite3.connect(data / "tracker.db") as db:
        db.execute("UPDATE plans SET seed = 's2'")
    tampered = tracker("plans", "verify", "2027Q1", "--data", data, cwd=tmp_path)
    assert tampered.returncode == 1 and "does NOT match" in tampered.stdout

    unseeded = tracker(
        "plans", "draw", "--name", "2027Q2", "--from", "2027-04-01", "--to", "2027-06-30", "--count", "2",
        "--data", data, cwd=tmp_path,
    )  # fmt: skip
    assert unseeded.returncode == 0 and "drawn 2 of 6 facilities" in unseeded.stdout
    again = tracker(
        "plans", "draw", "--name", "2027Q2", "--from", "2027-04-01", "--to", "2027-06-30", "--data", data,
        cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 2 and "exists already" in again.stderr
    too_big = tracker(
        "plans", "draw", "--name", "big", "--from", "2027-04-01", "--to", "2027-06-30", "--team-size", "4",
        "--data", data, cwd=tmp_path,
    )  # fmt: skip
    assert too_big.returncode == 2 and "--team-size" in too_big.stderr

    assert tracker("plans", "close", "2027Q2", "--data", data, cwd=tmp_path).returncode == 0
    listed = tracker("plans", "list", "--data", data, cwd=tmp_path).stdout
    assert "2027Q1" in listed and "0/3 fulfilled  drawn" in listed and "0/2 fulfilled  closed" in listed
