"""Property test: classifying any label set against the shipped rules is total and deterministic."""

from __future__ import annotations

from pathlib import Path

from app.catalog.loader import load_catalog
from app.rules.engine import MAX_KEY_LENGTH, SEVERITIES, UNCLASSIFIED, RuleSet
from tests.support import require_module

require_module("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402 (only once it is known to import)
from hypothesis import strategies as st  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHIPPED: RuleSet = load_catalog(ROOT / "rules", ROOT / "runbooks").ruleset
KEY_OWNER = {r.name: r.group_with or r.name for r in SHIPPED.rules} | {UNCLASSIFIED: UNCLASSIFIED}
# Values the shipped matchers look for, so generated alerts also hit the rules, not only `unclassified`.
INTERESTING_VALUES = sorted({m.value for r in SHIPPED.rules for m in r.matchers} | {"critical", "warning"})

label_names = st.one_of(
    st.sampled_from(["alertname", "model", "severity", "group", "pipeline", "provider"]),
    st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
)
label_values = st.one_of(st.sampled_from(INTERESTING_VALUES), st.text(max_size=500))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(label_names, label_values, max_size=10))
def test_classify_never_raises_and_is_deterministic(labels: dict[str, str]) -> None:
    first = SHIPPED.classify(labels)
    second = SHIPPED.classify(dict(labels))

    assert first == second
    assert first.severity in SEVERITIES
    assert first.rule in KEY_OWNER
    assert first.key.startswith(f"{KEY_OWNER[first.rule]}:")
    assert len(first.key) <= MAX_KEY_LENGTH
    assert set(first.group_labels.values()) <= set(labels.values()) | {""}
