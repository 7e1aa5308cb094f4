"""Alertmanager label matchers: =, !=, =~, !~ with anchored regexes; a missing label is ""."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_MATCHER = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*$""",
    re.DOTALL,
)
_LEADING_FLAGS = re.compile(r"^\(\?[ims]+\)")
_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}


class MatcherError(ValueError):
    """A matcher that cannot be parsed or whose regex does not compile."""


def _unquote(raw: str) -> str:
    if not (len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"'):
        if '"' in raw:
            raise MatcherError(f"unbalanced quotes in value {raw!r}")
        return raw
    out: list[str] = []
    body, i = raw[1:-1], 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        if char == '"':
            raise MatcherError(f"unescaped quote inside value {raw!r}")
        out.append(char)
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.pattern is not None
        found = self.pattern.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as `alertname=~"Fairness.*"`."""
    if not isinstance(text, str):
        raise MatcherError(f"matcher must be a string, got {text!r}")
    found = _MATCHER.match(text)
    if not found:
        raise MatcherError(f'cannot parse matcher {text!r}: expected label="value" (or !=, =~, !~)')
    name, op = found.group("name"), found.group("op")
    try:
        value = _unquote(found.group("value"))
    except MatcherError as exc:
        raise MatcherError(f"cannot parse matcher {text!r}: {exc}") from None
    pattern = None
    if op in ("=~", "!~"):
        # Leading inline flags such as (?i) stay in front of the anchoring group (Go RE2 allows them).
        flags = _LEADING_FLAGS.match(value)
        prefix, body = (flags.group(0), value[flags.end() :]) if flags else ("", value)
        try:
            pattern = re.compile(f"{prefix}(?:{body})")
        except re.error as exc:
            raise MatcherError(f"bad regex in matcher {text!r}: {exc}") from exc
    return Matcher(name=name, op=op, value=value, pattern=pattern)
