"""Comments and documents cite only files that exist: every repository path named in a comment
or docstring (Python), a document, a template, a shell script, .ci/run or deploy/ (`panel/...`,
`docs/....md`, `tests/...py`, `bin/...`, `deploy/...`, `templates/...`, `bench/...`,
`../shared/...`) is a file or folder of the checkout. A placeholder (`<domain>`, `*.conf`,
`{dir}`, `...`) is a pattern, not a citation, and is skipped."""

from __future__ import annotations

import io
import re
import subprocess
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = (
    r"(?:\.\./shared|panel|nusantara|docs|tests|bin|deploy|templates|bench|tools|static|\.ci)"
)
# A path starts after a space, quote, bracket or backtick (not inside a longer path or a URL)
# and ends on a letter, digit or underscore (a full stop after it ends the sentence).
PATH = re.compile(r"(?<![\w./<>{}$@:-])(" + PREFIXES + r"/[\w./<>*{}%-]*[\w*>}])")
PLACEHOLDER = re.compile(r"[<>*{}%]|\.\.\.")


def _files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        name
        for name in listed
        if not name.startswith(("locale/", "static/"))
        and (
            name.endswith((".py", ".md", ".html", ".sh"))
            or name == ".ci/run"
            or name.startswith(("deploy/", "bin/"))
        )
    ]


def _python_prose(text: str):
    """(line, text) of the comments and docstrings of a Python file: its other strings are
    data (a folder name in a test's upload), not citations."""
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    previous = tokenize.NEWLINE
    for token in tokens:
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
        elif token.type == tokenize.STRING and previous in (
            tokenize.NEWLINE,
            tokenize.NL,
            tokenize.INDENT,
            tokenize.DEDENT,
        ):
            # a string that is a statement of its own: a docstring
            for offset, line in enumerate(token.string.splitlines()):
                yield token.start[0] + offset, line
        if token.type not in (tokenize.COMMENT, tokenize.NL):
            previous = token.type


def _prose(name: str, text: str):
    if name.endswith(".py"):
        yield from _python_prose(text)
    else:
        yield from enumerate(text.splitlines(), 1)


def _exists(path: str) -> bool | None:
    if path.startswith("../shared/") and not (ROOT.parent / "shared").is_dir():
        return None  # the lead's shared folder is beside the checkout, not in it
    return (ROOT / path).exists()


def test_every_cited_path_exists():
    missing = []
    for name in _files():
        try:
            text = (ROOT / name).read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue  # binary, or deleted in the work tree
        for line, prose in _prose(name, text):
            for match in PATH.finditer(prose):
                cited = match.group(1)
                if PLACEHOLDER.search(cited):
                    continue
                if _exists(cited) is False:
                    missing.append(f"{name}:{line}: {cited}")
    assert not missing, "cited but not in the repository:\n" + "\n".join(missing)


def test_the_check_sees_a_stale_citation():
    sample = '"""See panel/web/views/sites.py."""\nx = "docs/v1"  # docs/nowhere.md\n'
    cited = [m.group(1) for _line, text in _python_prose(sample) for m in PATH.finditer(text)]
    assert cited == ["panel/web/views/sites.py", "docs/nowhere.md"]
