"""What the payload pool is made of: the alerting rules of an ML platform and their label values.

Each AlertKind is one Prometheus alerting rule as it would be evaluated over the models of the
pool: its alertname (those of the shipped rules, plus one no rule matches), how often it fires
relative to the others, and the label that tells the series of one notification group apart.
"""

from __future__ import annotations

from dataclasses import dataclass


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


DOMAINS = {
    "fraud": "risk-ml",
    "credit": "risk-ml",
    "kyc": "risk-ml",
    "churn": "growth-ml",
    "ltv": "growth-ml",
    "ads-ctr": "growth-ml",
    "pricing": "marketplace-ml",
    "demand": "marketplace-ml",
    "eta": "marketplace-ml",
    "matching": "marketplace-ml",
    "routing": "marketplace-ml",
    "forecast": "marketplace-ml",
    "search": "search-ml",
    "ranking": "search-ml",
    "recsys": "search-ml",
    "spam": "trust-safety-ml",
    "toxicity": "trust-safety-ml",
    "moderation": "trust-safety-ml",
    "anomaly": "ml-platform",
    "ocr": "ml-platform",
    "asr": "ml-platform",
    "translation": "nlp-ml",
    "sentiment": "nlp-ml",
    "support-llm": "nlp-ml",
    "summarizer": "nlp-ml",
}
MODEL_SUFFIXES = (
    "scorer",
    "model",
    "classifier",
    "ranker",
    "v2",
    "v3",
    "canary",
    "gbm",
    "transformer",
    "lite",
)
CLUSTERS = words(
    "prod-eu-west-1 prod-eu-central-1 prod-us-east-1 prod-us-west-2 prod-ap-southeast-1 staging-eu-west-1"
)
SEGMENTS = words("all new-users returning-users mobile web eu us apac latam enterprise smb high-value")
FEATURES = words(
    "tenure amount country device_type account_age_days txn_count_24h avg_basket "
    "merchant_category hour_of_day session_length clicks_7d email_domain credit_limit "
    "utilization days_since_login num_products support_tickets_30d price_delta distance_km "
    "query_length embedding_norm lang browser ip_risk velocity_1h refund_ratio age_band "
    "income_band region plan"
)
PIPELINES = words(
    "features-hourly features-daily labels-daily embeddings-refresh reference-window "
    "training-snapshot ground-truth-join clickstream-agg feature-store-sync backfill-daily "
    "scores-export drift-monitor-input"
)
PROTECTED_GROUPS = words(
    "age-18-25 age-65-plus female male non-binary rural urban lang-es lang-fr lang-en disability veteran"
)
HARM_CATEGORIES = words(
    "toxicity self-harm violence pii-leak medical-advice jailbreak hate sexual misinformation "
    "copyright financial-advice"
)
PROVIDERS = ("llm-gateway-a", "llm-gateway-b", "vision-api", "speech-api", "embeddings-api")


@dataclass(frozen=True)
class AlertKind:
    """One alerting rule as Prometheus would evaluate it, and how its series differ."""

    alertname: str
    weight: int
    severities: tuple[str, ...]
    job: str
    member: str  # the label that differs between the alerts of one notification group
    members: tuple[str, ...]  # its values; empty: generated pod addresses for `instance`
    expr: str  # {model} is filled in
    description: str  # {model}, {member} and {value} are filled in
    value: tuple[float, float]
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()  # labels fixed per group


KINDS = (
    AlertKind(
        "ModelAccuracyDrop",
        12,
        ("warning", "critical"),
        "model-monitor",
        "segment",
        SEGMENTS,
        'model_accuracy{{model="{model}"}} < 0.92',
        "Online accuracy of {model} on segment {member} is {value:.3f}, below the 0.92 baseline.",
        (0.70, 0.919),
    ),
    AlertKind(
        "FeatureDrift",
        16,
        ("warning", "warning", "critical"),
        "model-monitor",
        "feature",
        FEATURES,
        'feature_psi{{model="{model}"}} > 0.2',
        "Population stability index of feature {member} for {model} is {value:.2f} (threshold 0.20).",
        (0.2, 0.9),
    ),
    AlertKind(
        "PredictionDrift",
        10,
        ("warning", "critical"),
        "model-monitor",
        "segment",
        SEGMENTS,
        'prediction_js_distance{{model="{model}"}} > 0.1',
        "Prediction distribution of {model} on {member} moved: JS distance {value:.3f}.",
        (0.1, 0.5),
    ),
    AlertKind(
        "DataPipelineStale",
        8,
        ("warning", "critical"),
        "pipeline-exporter",
        "pipeline",
        PIPELINES,
        'time() - pipeline_last_success_timestamp_seconds{{model="{model}"}} > 3600',
        "Pipeline {member} feeding {model} last succeeded {value:.0f} minutes ago (SLA 60).",
        (61, 600),
    ),
    AlertKind(
        "DataPipelineFailed",
        4,
        ("warning",),
        "pipeline-exporter",
        "pipeline",
        PIPELINES,
        'pipeline_last_run_failed{{model="{model}"}} == 1',
        "The last run of pipeline {member} feeding {model} failed ({value:.0f} retries).",
        (1, 5),
    ),
    AlertKind(
        "ModelServingErrors",
        12,
        ("warning", "critical"),
        "model-serving",
        "instance",
        (),
        'sum by (instance) (rate(inference_errors_total{{model="{model}"}}[5m])) > 0.05',
        "{value:.1%} of inference requests to {model} on {member} fail (SLO 1%).",
        (0.05, 0.6),
    ),
    AlertKind(
        "ModelServingLatencyHigh",
        12,
        ("warning",),
        "model-serving",
        "instance",
        (),
        'histogram_quantile(0.99, rate(inference_seconds_bucket{{model="{model}"}}[5m])) > 0.5',
        "p99 inference latency of {model} on {member} is {value:.2f}s (SLO 0.5s).",
        (0.5, 4.0),
    ),
    AlertKind(
        "ThirdPartyModelAPIErrors",
        6,
        ("warning", "critical"),
        "model-serving",
        "instance",
        (),
        'rate(provider_call_errors_total{{model="{model}"}}[5m]) > 1',
        "{model} on {member} gets {value:.1f} errors/s from its model provider.",
        (1, 40),
        (("provider", PROVIDERS),),
    ),
    AlertKind(
        "FairnessViolation",
        5,
        ("warning", "critical"),
        "fairness-monitor",
        "protected_group",
        PROTECTED_GROUPS,
        'abs(demographic_parity_gap{{model="{model}"}}) > 0.1',
        "Demographic parity gap of {model} for group {member} is {value:.3f} (limit 0.10).",
        (0.1, 0.3),
    ),
    AlertKind(
        "DisparateImpactRatioLow",
        3,
        ("warning", "critical"),
        "fairness-monitor",
        "group",
        PROTECTED_GROUPS,
        'disparate_impact_ratio{{model="{model}"}} < 0.8',
        "Disparate impact ratio of {model} for group {member} is {value:.2f} (four-fifths rule).",
        (0.4, 0.79),
    ),
    AlertKind(
        "HarmfulOutputRate",
        4,
        ("warning", "critical"),
        "llm-guard",
        "category",
        HARM_CATEGORIES,
        'rate(llm_guard_flagged_total{{model="{model}"}}[15m]) > 0.01',
        "{value:.2%} of {model} outputs were flagged as {member}.",
        (0.01, 0.2),
    ),
    # Matches no shipped rule: exercises the catch-all classification.
    AlertKind(
        "ModelCanaryMismatch",
        2,
        ("warning",),
        "model-serving",
        "instance",
        (),
        'canary_prediction_mismatch_ratio{{model="{model}"}} > 0.05',
        "Canary of {model} on {member} disagrees with the stable model on {value:.1%} of requests.",
        (0.05, 0.5),
    ),
)
