"""The Grafana dashboard in examples/grafana: well formed, and every query in it asks for series
the app exports at GET /metrics, so a renamed metric cannot leave a panel silently empty."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.cli import migrate
from tests.support import ROOT

DASHBOARD = ROOT / "examples" / "grafana" / "incident-bridge.json"

Json = dict[str, Any]

# A metric name as the dashboard spells it: `bridge_` then the rest of the identifier.
BRIDGE_NAME = re.compile(r"(?<![A-Za-z0-9_:$.])bridge_[A-Za-z0-9_:]*")
IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
GRAFANA_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\]")
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
SUFFIXES = ("_bucket", "_count", "_sum", "_total")

# Every word of PromQL that is not a metric name: functions, aggregations, keywords, literals.
PROMQL_WORDS = frozenset(
    """
    abs absent absent_over_time acos acosh asin asinh atan atanh ceil changes clamp clamp_max
    clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg
    delta deriv double_exponential_smoothing exp floor histogram_avg histogram_count
    histogram_fraction histogram_quantile histogram_stddev histogram_stdvar histogram_sum
    holt_winters hour idelta increase info irate label_join label_replace last_over_time ln log10
    log2 mad_over_time max_over_time min_over_time minute month pi predict_linear
    present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort
    sort_by_label sort_by_label_desc sort_desc sqrt stddev_over_time stdvar_over_time
    sum_over_time tan tanh time timestamp vector year avg_over_time
    sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk
    limit_ratio
    by without on ignoring group_left group_right bool and or unless offset atan2 start end
    Inf inf NaN nan
    """.split()  # noqa: SIM905 (a hundred words read better as text than one per line)
)
# Grafana's own variables ($__rate_interval, $__range...) need no definition.
GRAFANA_BUILTIN = re.compile(r"__[A-Za-z_]+")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: which series /metrics exports does not depend on the database."""
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    migrate(url)
    return url


# --- reading the dashboard --------------------------------------------------------------------


def load_dashboard(path: Path = DASHBOARD) -> Json:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(dashboard, dict), f"{path} is not a JSON object"
    return dashboard


def walk_panels(panels: list[Json]) -> Iterator[Json]:
    """Every panel, rows included, and the panels inside rows (collapsed rows keep theirs)."""
    for panel in panels:
        yield panel
        yield from walk_panels(panel.get("panels") or [])


def is_prometheus(datasource: object) -> bool:
    """A Prometheus data source reference: the `${datasource}` variable, or a typed reference."""
    if isinstance(datasource, str):
        return datasource.startswith("$")
    return isinstance(datasource, dict) and datasource.get("type") == "prometheus"


def variable_query(variable: Json) -> str:
    """The PromQL inside a query variable: `label_values(expr, label)` and `query_result(expr)`
    give their expression; `label_values(label)` and `label_names()` query no metric."""
    query = variable.get("query")
    text = str(query.get("query", "") if isinstance(query, dict) else query or "").strip()
    wrapped = re.fullmatch(r"label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)", text, re.DOTALL)
    if wrapped:
        return wrapped.group(1)
    wrapped = re.fullmatch(r"query_result\((.*)\)", text, re.DOTALL)
    if wrapped:
        return wrapped.group(1)
    return ""


def queries(dashboard: Json) -> list[tuple[str, str]]:
    """(where, PromQL) of every query: panel targets, query variables, annotations."""
    found: list[tuple[str, str]] = []
    for panel in walk_panels(dashboard.get("panels") or []):
        for target in panel.get("targets") or []:
            if target.get("expr"):
                found.append((f"panel {panel.get('title')!r} target {target.get('refId')}", target["expr"]))
    for variable in dashboard.get("templating", {}).get("list") or []:
        if variable.get("type") == "query" and (expr := variable_query(variable)):
            found.append((f"variable ${variable.get('name')}", expr))
    for annotation in dashboard.get("annotations", {}).get("list") or []:
        if annotation.get("expr"):
            found.append((f"annotation {annotation.get('name')!r}", annotation["expr"]))
    return found


def bare(expr: str) -> str:
    """`expr` without what cannot name a metric: strings, label matchers, ranges, Grafana
    variables, and the label lists of `by (...)`, `on (...)` and their kin."""
    expr = STRING.sub('""', expr)
    expr = re.sub(r"\{[^{}]*\}", "", expr)
    expr = re.sub(r"\[[^\[\]]*\]", "", expr)
    expr = GRAFANA_VARIABLE.sub("", expr)
    return GROUPING.sub(r"\1", expr)


def bridge_names(expr: str) -> set[str]:
    return set(BRIDGE_NAME.findall(bare(expr)))


def foreign_words(expr: str) -> set[str]:
    """Words of `expr` that would be read as a metric and are neither PromQL nor `bridge_*`."""
    return {
        word
        for word in IDENTIFIER.findall(bare(expr))
        if word not in PROMQL_WORDS and not word.startswith("bridge_")
    }


def family_of(name: str) -> str:
    """`bridge_x_seconds_bucket` -> `bridge_x_seconds`, `bridge_x_total` -> `bridge_x`."""
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def defined_variables(dashboard: Json) -> set[str]:
    return {str(v.get("name")) for v in dashboard.get("templating", {}).get("list") or []}


def problems(dashboard: Json) -> list[str]:
    """What is wrong with the dashboard's shape, one line each; empty when nothing is."""
    found: list[str] = []
    if not str(dashboard.get("uid") or "").strip():
        found.append("the dashboard has no uid")
    if not str(dashboard.get("title") or "").strip():
        found.append("the dashboard has no title")
    variables = defined_variables(dashboard)
    ids: set[object] = set()
    for panel in walk_panels(dashboard.get("panels") or []):
        name = f"panel {panel.get('id')} {panel.get('title')!r}"
        if not str(panel.get("title") or "").strip():
            found.append(f"panel {panel.get('id')} ({panel.get('type')}) has no title")
        if panel.get("id") in ids:
            found.append(f"{name}: id {panel.get('id')} is used twice")
        ids.add(panel.get("id"))
        if panel.get("type") == "row":
            continue  # a row holds panels; it queries nothing
        if not is_prometheus(panel.get("datasource")):
            found.append(f"{name} has no Prometheus datasource")
        if not panel.get("targets"):
            found.append(f"{name} has no query")
        if "unit" not in panel.get("fieldConfig", {}).get("defaults", {}):
            found.append(f"{name} has no unit")
        for target in panel.get("targets") or []:
            for match in GRAFANA_VARIABLE.finditer(target.get("expr", "")):
                used = next(group for group in match.groups() if group)
                if used not in variables and not GRAFANA_BUILTIN.fullmatch(used):
                    found.append(f"{name} uses ${used}, which the dashboard does not define")
    return found


def foreign_metrics(dashboard: Json) -> dict[str, set[str]]:
    """Where -> the non-`bridge_*` metrics (or unknown functions) it queries."""
    return {where: words for where, expr in queries(dashboard) if (words := foreign_words(expr))}


# --- reading /metrics ---------------------------------------------------------------------------


def exported_series(exposition: str) -> set[str]:
    """Every series name that can be queried from this exposition: each family under the names
    its type gives it (a counter's `_total`; a histogram's `_bucket`, `_count` and `_sum`), and
    every sample name. A family with labels but no sample yet still has its `# TYPE` line."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        base = family.name
        if family.type == "counter":
            names |= {f"{base}_total", f"{base}_created"}
        elif family.type == "histogram":
            names |= {f"{base}_bucket", f"{base}_count", f"{base}_sum", f"{base}_created"}
        elif family.type == "gaugehistogram":
            names |= {f"{base}_bucket", f"{base}_gcount", f"{base}_gsum"}
        elif family.type == "summary":
            names |= {base, f"{base}_count", f"{base}_sum", f"{base}_created"}
        elif family.type == "info":
            names.add(f"{base}_info")
        else:
            names.add(base)
        names |= {sample.name for sample in family.samples}
    return names


def missing_metrics(dashboard: Json, exported: set[str]) -> dict[str, list[str]]:
    """Each `bridge_*` name the dashboard queries and the app does not export -> where it is
    queried. The family (the name without `_bucket`, `_sum`, `_count`, `_total`) is given too."""
    missing: dict[str, list[str]] = {}
    for where, expr in queries(dashboard):
        for name in bridge_names(expr):
            if name not in exported:
                missing.setdefault(f"{name} (family {family_of(name)})", []).append(where)
    return missing


def describe(missing: dict[str, list[str]]) -> str:
    return "not exported at /metrics:\n" + "\n".join(
        f"  {name}: {', '.join(sorted(set(where)))}" for name, where in sorted(missing.items())
    )


# --- the shipped dashboard ----------------------------------------------------------------------


def test_dashboard_is_well_formed() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "incident-bridge"
    assert dashboard["title"]
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert problems(dashboard) == []


def test_dashboard_queries_only_bridge_metrics() -> None:
    dashboard = load_dashboard()
    assert len(queries(dashboard)) > 30
    assert foreign_metrics(dashboard) == {}


def test_every_metric_in_the_dashboard_is_exported(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    dashboard = load_dashboard()
    used = {name for _, expr in queries(dashboard) for name in bridge_names(expr)}
    assert "bridge_time_to_acknowledge_seconds_bucket" in used
    missing = missing_metrics(dashboard, exported_series(response.text))
    assert not missing, describe(missing)


# --- the checks themselves can fail ----------------------------------------------------------


def sample_dashboard() -> Json:
    """A tiny dashboard with one mistake of each kind, one of them inside a collapsed row."""
    ds = {"type": "prometheus", "uid": "${datasource}"}
    return {
        "uid": "sample",
        "title": "Sample",
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
        "panels": [
            {
                "id": 1,
                "type": "timeseries",
                "title": "Alerts",
                "datasource": ds,
                "fieldConfig": {"defaults": {"unit": "ops"}},
                "targets": [
                    {
                        "refId": "A",
                        "expr": 'sum by (source, le) (rate(bridge_alerts_received_total{job="$job"}[5m]))',
                    }
                ],
            },
            {
                "id": 2,
                "type": "row",
                "title": "Collapsed",
                "collapsed": True,
                "panels": [
                    {
                        "id": 3,
                        "type": "stat",
                        "title": "",
                        "fieldConfig": {"defaults": {"unit": "short"}},
                        "targets": [{"refId": "A", "expr": "sum(increase(bridge_nope_total[1h]))"}],
                    },
                    {
                        "id": 4,
                        "type": "stat",
                        "title": "Foreign",
                        "datasource": ds,
                        "fieldConfig": {"defaults": {}},
                        "targets": [
                            {
                                "refId": "A",
                                "expr": 'up{job="x"} * on (instance) group_left (version) '
                                'rate(node_cpu_seconds_total{mode="idle"}[5m])',
                            }
                        ],
                    },
                ],
            },
        ],
    }


def test_a_made_up_metric_is_reported(client: TestClient) -> None:
    exported = exported_series(client.get("/metrics").text)
    assert "bridge_alerts_received_total" in exported
    assert "bridge_webhook_duration_seconds_bucket" in exported
    assert "bridge_alerts_received" not in exported  # a counter is queried by its _total

    missing = missing_metrics(sample_dashboard(), exported)

    assert missing == {"bridge_nope_total (family bridge_nope)": ["panel '' target A"]}
    assert "bridge_nope_total" in describe(missing)


def test_foreign_metrics_and_missing_fields_are_reported() -> None:
    dashboard = sample_dashboard()

    assert foreign_metrics(dashboard) == {"panel 'Foreign' target A": {"up", "node_cpu_seconds_total"}}
    assert problems(dashboard) == [
        "panel 1 'Alerts' uses $job, which the dashboard does not define",
        "panel 3 (stat) has no title",
        "panel 3 '' has no Prometheus datasource",
        "panel 4 'Foreign' has no unit",
    ]
    assert problems({"panels": []}) == ["the dashboard has no uid", "the dashboard has no title"]


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("bridge_time_to_resolve_seconds_bucket", "bridge_time_to_resolve_seconds"),
        ("bridge_webhook_duration_seconds_sum", "bridge_webhook_duration_seconds"),
        ("bridge_intake_batch_requests_count", "bridge_intake_batch_requests"),
        ("bridge_escalations_total", "bridge_escalations"),
        ("bridge_incidents_open", "bridge_incidents_open"),
    ],
)
def test_family_of(name: str, family: str) -> None:
    assert family_of(name) == family


def test_names_in_strings_and_label_lists_are_not_metrics() -> None:
    expr = (
        'label_replace(max by (bridge_label) (bridge_reviews_open{note="bridge_fake up"}), '
        '"dst", "$1", "src", "(.*)") > bool 0 or vector(1) offset 5m'
    )
    assert bridge_names(expr) == {"bridge_reviews_open"}
    assert foreign_words(expr) == set()
