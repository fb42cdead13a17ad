"""Type checkers see field values and query results with the model's own types."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.level1

HERE = Path(__file__).parent


def test_mypy_accepts_typed_usage() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-incremental",
            "--follow-imports=silent",
            str(HERE / "typing" / "models_typed.py"),
        ],
        capture_output=True,
        text=True,
        cwd=HERE.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_rejects_wrong_types(tmp_path: Path) -> None:
    bad = tmp_path / "bad_usage.py"
    bad.write_text(
        "from models_typed import TypedUser\n"
        "async def f() -> None:\n"
        "    user = await TypedUser.get(id='x')\n"
        "    number: int = user.username\n"
    )
    env = {**os.environ, "MYPYPATH": str(HERE / "typing")}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent", str(bad)],
        capture_output=True,
        text=True,
        cwd=HERE.parent,
        env=env,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        'Incompatible types in assignment (expression has type "str", variable has type "int")'
        in result.stdout
    )
