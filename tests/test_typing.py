"""Type checkers see the truth: ``mypy --strict`` and ``pyright --strict`` check a user's module
(tests/typing/blog_app.py) with ``reveal_type`` expectations, report every mistake in tests/typing/misuse.py,
and find nothing to say about the FastAPI example service (examples/fastapi_app).

Both run from a folder outside the repository, as a user's project would: matrx_orm is found through the
editable install (the ``.pth`` path entry), never through the repository's own configuration.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.level1

TYPING = Path(__file__).parent / "typing"
EXAMPLE = Path(__file__).parents[1] / "examples" / "fastapi_app"
MODULES = ("blog_app.py", "misuse.py", "fastapi_app")
#: libraries whose insides no expectation depends on: mypy skips them (a cold run takes seconds, not 15)
MYPY_CONFIG = """\
[mypy]
strict = True
python_version = 3.11

[mypy-sqlalchemy.*,alembic.*,numpy.*,asyncpg.*,pgvector.*]
follow_imports = skip
"""
PYRIGHT_CONFIG = {"typeCheckingMode": "strict", "pythonVersion": "3.11"}
_EXPECT = re.compile(r"expect(?:\[(mypy|pyright)\])?:\s*(.+?)\s*(?=expect(?:\[\w+\])?:|$)")
#: dotted module prefixes mypy prints (``builtins.int``, ``blog_app.Post``, ``decimal.Decimal``)
_QUALIFIER = re.compile(r"\b(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_])")


@dataclass(frozen=True)
class Report:
    """What a checker said: revealed types and errors by (file name, line number)."""

    revealed: dict[tuple[str, int], str]
    errors: dict[tuple[str, int], list[str]]


@pytest.fixture(scope="module")
def project() -> Path:
    """The typing modules, copied into a folder outside the repository with the checkers' configs."""
    folder = Path(tempfile.mkdtemp(prefix="matrx_orm_typing_"))
    for name in MODULES[:2]:
        (folder / name).write_text((TYPING / name).read_text(encoding="utf-8"), encoding="utf-8")
    shutil.copytree(EXAMPLE, folder / "fastapi_app", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "mypy.ini").write_text(MYPY_CONFIG, encoding="utf-8")
    (folder / "pyrightconfig.json").write_text(json.dumps(PYRIGHT_CONFIG), encoding="utf-8")
    return folder


def _mypy_cache() -> Path:
    """A cache that outlives the run (per interpreter), so a second run only checks the two modules."""
    tag = hashlib.sha1(sys.executable.encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"matrx_orm_typing_mypy_{tag}"


@pytest.fixture(scope="module")
def mypy(project: Path) -> Report:
    command = [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", str(_mypy_cache())]
    result = subprocess.run([*command, *MODULES], cwd=project, capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return _parse_mypy(result.stdout)


@pytest.fixture(scope="module")
def pyright(project: Path) -> Report:
    command = [sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable, *MODULES]
    result = subprocess.run(command, cwd=project, capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return _parse_pyright(json.loads(result.stdout))


def _parse_mypy(output: str) -> Report:
    revealed: dict[tuple[str, int], str] = {}
    errors: dict[tuple[str, int], list[str]] = {}
    for match in re.finditer(r"^(\S+?):(\d+): (error|note): (.*)$", output, re.MULTILINE):
        where = (Path(match[1]).name, int(match[2]))
        note = re.fullmatch(r'Revealed type is "(.*)"', match[4])
        if match[3] == "note" and note:
            revealed[where] = _normalized(note[1])
        elif match[3] == "error":
            errors.setdefault(where, []).append(match[4])
    return Report(revealed, errors)


def _parse_pyright(output: dict[str, list[dict[str, object]]]) -> Report:
    revealed: dict[tuple[str, int], str] = {}
    errors: dict[tuple[str, int], list[str]] = {}
    for item in output["generalDiagnostics"]:
        where = (Path(str(item["file"])).name, int(item["range"]["start"]["line"]) + 1)  # type: ignore[index]
        message = str(item["message"])
        note = re.fullmatch(r'Type of ".*" is "(.*)"', message, re.DOTALL)
        if item["severity"] == "information" and note:
            revealed[where] = _normalized(note[1])
        elif item["severity"] == "error":
            errors.setdefault(where, []).append(message)
    return Report(revealed, errors)


def _normalized(text: str) -> str:
    return _QUALIFIER.sub("", text)


@functools.cache
def _lines(name: str) -> list[str]:
    return (TYPING / name).read_text(encoding="utf-8").splitlines()


def _expectations(checker: str) -> dict[tuple[str, int], str]:
    """``reveal_type`` lines of blog_app.py and the type each must show under ``checker``."""
    found = {}
    for number, line in enumerate(_lines("blog_app.py"), start=1):
        if not line.lstrip().startswith("reveal_type(") or "# " not in line:
            continue
        comment = line.split("# ", 1)[1]
        chosen = {who or "both": text for who, text in _EXPECT.findall(comment)}
        found[("blog_app.py", number)] = chosen.get(checker, chosen.get("both", "<no expectation>"))
    return found


def _marked_errors() -> set[tuple[str, int]]:
    return {
        ("misuse.py", n) for n, line in enumerate(_lines("misuse.py"), start=1) if line.endswith("# error")
    }


@pytest.mark.parametrize("checker", ["mypy", "pyright"])
def test_revealed_types(checker: str, request: pytest.FixtureRequest) -> None:
    report: Report = request.getfixturevalue(checker)
    expected = _expectations(checker)
    assert len(expected) >= 50
    assert {where: report.revealed.get(where) for where in expected} == expected


@pytest.mark.parametrize("checker", ["mypy", "pyright"])
def test_errors_exactly_where_marked(checker: str, request: pytest.FixtureRequest) -> None:
    report: Report = request.getfixturevalue(checker)
    assert set(report.errors) == _marked_errors(), report.errors


def test_nullable_columns_read_as_optional(mypy: Report) -> None:
    """The types and the models agree: ``post.<field>`` reveals ``... | None`` exactly for nullable columns
    (JSON columns excepted: they read as ``Any``, JSON ``null`` included)."""
    spec = importlib.util.spec_from_file_location("typing_blog_app", TYPING / "blog_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    checked = 0
    for (_, number), revealed in mypy.revealed.items():
        match = re.search(r"reveal_type\((post|author)\.(\w+)\)", _lines("blog_app.py")[number - 1])
        if match is None:
            continue
        model = module.Post if match[1] == "post" else module.Author
        field = model._meta.fields[match[2]]
        if revealed != "Any":
            assert revealed.endswith("| None") == field.null, (match[0], revealed, field.null)
            checked += 1
    assert checked >= 18
