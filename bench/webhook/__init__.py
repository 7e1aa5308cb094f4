"""The webhook benchmark of incident-bridge, run as `bench/webhook_bench.py` (see bench/README.md).

Modules, bottom up: common (paths, addresses), alert_kinds and payloads (seeded Alertmanager
bodies), storm_traffic (the storm's bodies and sender), wrk and loadgen (load generators),
sampling (CPU and memory of processes), servers, loopback and databases (the processes under
test and their databases), history_data (a database full of past incidents), measure (one
closed-loop or paced run), accounting (what a server stored against what it acknowledged),
report and targets (results, tables, thresholds, PASS/FAIL), scenarios/ (one module per
scenario), runner (runs the selected scenarios N times) and cli (options, the report).
notification_sink, page_probe and parse_only_app are standalone programs the benchmark starts.
"""
