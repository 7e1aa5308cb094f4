"""Alertmanager label matchers, read exactly as Alertmanager reads a route's `matchers`.

=, !=, =~ and !~; values are unquoted and unescaped as Alertmanager's pkg/labels does; regexes
are RE2 (Go's regexp syntax) anchored as `^(?:value)$`; a label the alert lacks has the value "".
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import re2

OPERATORS = ("=", "!=", "=~", "!~")

# Alertmanager's own pattern for one matcher. Spelled out because Go's \s is ASCII [\t\n\f\r ]
# (Python's is Unicode) and Go's $ is the end of the text (Python's also matches before a final \n).
_GO_SPACE = "[\t\n\f\r ]*"
_MATCHER = re.compile(
    rf"{_GO_SPACE}([a-zA-Z_:][a-zA-Z0-9_:]*){_GO_SPACE}(=~|=|!=|!~){_GO_SPACE}(.*?){_GO_SPACE}", re.DOTALL
)
# What Go's strings.TrimSpace (unicode.IsSpace) trims from the last matcher of a list.
_TRIM_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)
_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}
_CAPTURE_NAME = re.compile("[A-Za-z0-9_]+")

# RE2 options equal to Go's regexp.Compile: Perl syntax (\d \b \pL (?flags) lazy quantifiers; POSIX
# classes such as [[:alpha:]] work in both), leftmost-first rather than longest match, UTF-8, `.`
# stopping at a newline unless (?s). Errors are reported to the rule author, not logged by RE2.
_OPTIONS = re2.Options()
_OPTIONS.posix_syntax = False
_OPTIONS.longest_match = False
_OPTIONS.encoding = re2.Options.Encoding.UTF8
_OPTIONS.dot_nl = False
_OPTIONS.never_nl = False
_OPTIONS.never_capture = True  # only "does it match" is ever asked
_OPTIONS.log_errors = False

# A regex made only of these characters and `|` is a list of literal alternatives.
_LITERAL_CHARS = frozenset(string.ascii_letters + string.digits + "_-:/ |")
# Results remembered per regex matcher: label values repeat (alertname, model, severity), and one
# call into RE2 costs several times a dict lookup. Bounded for high-cardinality labels.
_CACHE_LIMIT = 1024


class MatcherError(ValueError):
    """A matcher that cannot be parsed or whose regex does not compile."""


class _BadRegex(MatcherError):
    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"bad regex {value!r}: {reason}")
        self.reason = reason


def _class_end(pattern: str, start: int) -> int:
    """The index just past the character class opening at `start`, as Go's parser delimits it."""
    i = start + 1
    if pattern.startswith("^", i):
        i += 1
    if pattern.startswith("]", i):  # a leading ] is a literal
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
        elif pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            i = i + 1 if end < 0 else end + 2
        elif pattern[i] == "]":
            return i + 1
        else:
            i += 1
    return i


def _go_refuses(pattern: str) -> str | None:
    """Why Go's regexp (so Alertmanager) refuses a pattern that RE2 itself accepts, if it does."""
    if "\\C" not in pattern and "(?" not in pattern:
        return None
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if pattern.startswith("C", i + 1):
                return "\\C (any byte) is not supported"
            if pattern.startswith("Q", i + 1):  # literal text up to \E
                end = pattern.find("\\E", i + 2)
                i = len(pattern) if end < 0 else end + 2
                continue
            i += 2
        elif pattern[i] == "[":
            i = _class_end(pattern, i)
        elif pattern.startswith("(?<", i):
            return "(?<...) is not supported: write a named group as (?P<name>re)"
        elif pattern.startswith("(?P<", i):
            end = pattern.find(">", i + 4)
            if end > i + 4 and not _CAPTURE_NAME.fullmatch(pattern, i + 4, end):
                return "a group name may hold only ASCII letters, digits and _"
            i += 4
        else:
            i += 1
    return None


def _compile(value: str) -> Callable[[bytes], object]:
    """The search function of the regex Alertmanager builds from a matcher value: `^(?:value)$`."""
    refused = _go_refuses(value)
    if refused:
        raise _BadRegex(value, refused)
    try:
        search: Callable[[bytes], object] = re2.compile(f"^(?:{value})$", _OPTIONS).search
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if isinstance(exc.args[0], bytes) else exc.args[0]
        raise _BadRegex(value, reason) from None
    return search


def _utf8(value: str) -> bytes:
    try:
        return value.encode()
    except UnicodeEncodeError:  # lone surrogates: Go's JSON decoder would have made them U+FFFD
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value).encode()


def _tester(op: str, value: str) -> Callable[[str], bool]:
    """A function of the label value answering the matcher, built once."""
    if op == "=":
        return value.__eq__
    if op == "!=":
        return value.__ne__
    if op not in OPERATORS:
        raise MatcherError(f"unknown matcher operator {op!r}: use one of {', '.join(OPERATORS)}")
    search = _compile(value)  # compiled even for literals: the same errors as Alertmanager
    positive = op == "=~"
    if _LITERAL_CHARS.issuperset(value):
        alternatives = frozenset(value.split("|"))
        return alternatives.__contains__ if positive else lambda actual: actual not in alternatives
    cache: dict[str, bool] = {}

    def test(actual: str) -> bool:
        answer = cache.get(actual)
        if answer is None:
            answer = (search(_utf8(actual)) is not None) is positive
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[actual] = answer
        return answer

    return test


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher; a regex is compiled when the matcher is made, never per alert."""

    name: str
    op: str
    value: str
    _test: Callable[[str], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_test", _tester(self.op, self.value))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether `labels` satisfy the matcher; a missing label has the value ""."""
        actual = labels.get(self.name, "")
        if self.op == "=":  # the common case, compared here: cheaper than a call
            return actual == self.value
        return self._test(actual)

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def _unquote(raw: str) -> str:
    """The value part of a matcher, unquoted and unescaped as Alertmanager does it."""
    try:
        raw.encode()
    except UnicodeEncodeError:
        raise MatcherError(f"value {raw!r} is not valid UTF-8") from None
    expect_quote = raw.startswith('"')
    body = raw[1:] if expect_quote else raw
    out: list[str] = []
    escaped, last = False, len(body) - 1
    for i, char in enumerate(body):
        if escaped:
            escaped = False
            out.append(_ESCAPES.get(char, "\\" + char))  # \q is a backslash and a q
        elif char == "\\" and i < last:
            escaped = True
        elif char == '"':
            if not expect_quote or i < last:
                raise MatcherError(f"value {raw} contains an unescaped double quote")
            expect_quote = False
        else:
            out.append(char)
    if expect_quote:
        raise MatcherError(f"value {raw} has no closing double quote")
    return "".join(out)


def _split(text: str) -> list[str]:
    """The matchers of a list such as `{a="1", b=~"x,y"}`: commas outside quotes separate them."""
    body = text.removeprefix("{").removesuffix("}")
    tokens: list[str] = []
    token: list[str] = []
    inside_quotes = escaped = False
    for char in body:
        if char == ",":
            if not inside_quotes:
                tokens.append("".join(token))
                token = []
                continue
        elif char == '"':
            if escaped:
                escaped = False
            else:
                inside_quotes = not inside_quotes
        elif char == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(char)
    tail = "".join(token).strip(_TRIM_SPACE)
    return [*tokens, tail] if tail else tokens


def parse_matchers(text: str) -> list[Matcher]:
    """Parse one entry of an Alertmanager `matchers` list: one matcher, or several separated by commas."""
    if not isinstance(text, str):
        raise MatcherError(f"matcher must be a string, got {text!r}")
    matchers: list[Matcher] = []
    for token in _split(text):
        found = _MATCHER.fullmatch(token)
        if not found:
            part = "" if token == text else f" ({token!r})"
            raise MatcherError(f'cannot parse matcher {text!r}{part}: expected label="value" (or !=, =~, !~)')
        try:
            matchers.append(Matcher(found.group(1), found.group(2), _unquote(found.group(3))))
        except _BadRegex as exc:
            raise MatcherError(f"bad regex in matcher {text!r}: {exc.reason}") from None
        except MatcherError as exc:
            raise MatcherError(f"cannot parse matcher {text!r}: {exc}") from None
    return matchers


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as `alertname=~"Fairness.*"`."""
    matchers = parse_matchers(text)
    if len(matchers) != 1:
        if not matchers:
            raise MatcherError(f'cannot parse matcher {text!r}: expected label="value" (or !=, =~, !~)')
        raise MatcherError(
            f"cannot parse matcher {text!r}: it holds {len(matchers)} matchers (commas outside quotes"
            " separate matchers, as in Alertmanager); write one per list item or quote the value"
        )
    return matchers[0]
