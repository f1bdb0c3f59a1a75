"""The structural check of a rendered vhost: it says exactly what the panel meant to write.

The template is rendered a second time with every value replaced by a placeholder token (only
the keys that choose the template's branches keep their real value). Both texts are parsed
with crossplane, nginx's own grammar in Python, and must give the same tree of directives and
blocks, where each argument of the real render equals the placeholder render's argument with
the tokens replaced by the real values. A value that smuggles in a `;`, a brace, a newline or a
space shows up as an extra directive, an extra block or an extra argument, whichever field it
came through and however the template changes later. A value must also keep clear of the
characters nginx reads specially inside one argument (`$` variables, quotes, backslashes).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Collection, Mapping
from typing import Any

import crossplane
from django.utils.translation import gettext as _

_TOKEN = re.compile(r"npvalue[0-9]{3}x")
_SPECIAL = re.compile(r"[\s;{}#$\"'\\\x00-\x1f\x7f]")


class VhostCheckError(Exception):
    """The rendered vhost is not what the template means with these values."""


# The placeholder render depends only on the template and the branch-choosing values, so a
# burst of sites parses it once per combination instead of once per site (crossplane was a fifth
# of a 500-site batch's preparation). Keyed by the caller's name for the template.
_EXPECTED: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
_EXPECTED_MAX = 128


def verify(
    text: str,
    render: Callable[[Mapping[str, Any]], str],
    context: Mapping[str, Any],
    control: Collection[str],
    cache_key: str | None = None,
) -> None:
    """Raise VhostCheckError unless `text` is `render(context)` with every value inert.
    With `cache_key` (the template's name), the placeholder render's parse is reused."""
    placeholders, values = _placeholders(context, control)
    key = (cache_key, *sorted(placeholders.items())) if cache_key else None
    expected = _EXPECTED.get(key) if key else None
    if expected is None:
        expected = _parse(render(placeholders), _("the template"))
        if key:
            if len(_EXPECTED) >= _EXPECTED_MAX:
                _EXPECTED.clear()
            _EXPECTED[key] = expected
    actual = _parse(text, _("the rendered vhost"))
    difference = _compare(actual, expected, values, path="")
    if difference:
        raise VhostCheckError(
            _(
                "The rendered vhost differs from what the panel meant to write (%(difference)s); "
                "nothing was written."
            )
            % {"difference": difference}
        )
    for token, value in values.items():
        if _SPECIAL.search(value) and token in _used_tokens(expected):
            raise VhostCheckError(
                _(
                    "A value for the vhost contains characters nginx reads specially "
                    "(%(value)s); nothing was written."
                )
                % {"value": repr(value)[:100]}
            )


def _placeholders(
    context: Mapping[str, Any], control: Collection[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    placeholders: dict[str, Any] = {}
    values: dict[str, str] = {}
    counter = iter(range(1000))

    def token(value: Any) -> str:
        name = f"npvalue{next(counter):03d}x"
        values[name] = str(value)
        return name

    for key, value in sorted(context.items()):
        if key in control or value is None or isinstance(value, bool) or value == "":
            placeholders[key] = value
        elif isinstance(value, (list, tuple)):
            # A list (the names in `server_name`): one placeholder per item, so the template's
            # loops give the same number of arguments and blocks as the real values.
            placeholders[key] = tuple(token(item) for item in value)
        else:
            placeholders[key] = token(value)
    return placeholders, values


def parse_text(text: str) -> dict[str, Any]:
    """crossplane's payload for a config given as text. crossplane (0.5.8, the runtime
    dependency) parses files only: the text goes through a private temporary file."""
    with tempfile.NamedTemporaryFile("w", suffix=".conf", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        return crossplane.parse(
            fh.name, single=True, comments=False, check_ctx=False, check_args=False
        )


def _parse(text: str, what: str) -> list[dict[str, Any]]:
    payload = parse_text(text)
    if payload["status"] != "ok":
        errors = "; ".join(str(e.get("error")) for e in payload["errors"])
        raise VhostCheckError(
            _("%(what)s is not valid nginx syntax: %(errors)s; nothing was written.")
            % {"what": what, "errors": errors[:300]}
        )
    return payload["config"][0]["parsed"]


def _used_tokens(tree: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for stmt in tree:
        for part in (stmt["directive"], *stmt["args"]):
            found.update(_TOKEN.findall(part))
        found |= _used_tokens(stmt.get("block") or [])
    return found


def _substitute(value: str, values: Mapping[str, str]) -> str:
    return _TOKEN.sub(lambda m: values.get(m.group(0), m.group(0)), value)


def _compare(
    actual: list[dict[str, Any]],
    expected: list[dict[str, Any]],
    values: Mapping[str, str],
    path: str,
) -> str | None:
    """The first difference between the two trees, said for a person, or None."""
    for index in range(max(len(actual), len(expected))):
        if index >= len(expected):
            extra = actual[index]
            return _("an extra directive %(directive)s at line %(line)s") % {
                "directive": repr(f"{path}{extra['directive']}")[:120],
                "line": extra["line"],
            }
        want = expected[index]
        name = _substitute(want["directive"], values)
        if index >= len(actual):
            return _("the directive %(directive)s is missing") % {
                "directive": repr(f"{path}{name}")[:120]
            }
        got = actual[index]
        if got["directive"] != name:
            return _("%(got)s at line %(line)s where %(want)s was meant") % {
                "got": repr(f"{path}{got['directive']}")[:120],
                "want": repr(name)[:120],
                "line": got["line"],
            }
        args = [_substitute(arg, values) for arg in want["args"]]
        if got["args"] != args:
            return _("%(directive)s at line %(line)s has arguments %(got)s, not %(want)s") % {
                "directive": repr(f"{path}{name}")[:120],
                "line": got["line"],
                "got": repr(got["args"])[:200],
                "want": repr(args)[:200],
            }
        if ("block" in got) != ("block" in want):
            return _("%(directive)s at line %(line)s opens or lacks a block") % {
                "directive": repr(f"{path}{name}")[:120],
                "line": got["line"],
            }
        if "block" in want:
            inner = _compare(got["block"], want["block"], values, f"{path}{name} > ")
            if inner:
                return inner
    return None
