"""One module per scenario. Each measures one run on one database and summarises every run as a
section of the report with its targets.

The first four share one server per run and database, started on an empty database, in this
order: idle-memory needs it fresh, paced and page-latency need the peak rate. The others start
a server of their own: big-body and storm on an empty database, history on a copy of a database
filled with past incidents.
"""

from __future__ import annotations

NAMES = ("idle-memory", "peak", "paced", "page-latency", "big-body", "storm", "history")
SHARED_SERVER = ("idle-memory", "peak", "paced", "page-latency")
DESCRIPTIONS = {
    "idle-memory": "RSS of the serve process and its children after start-up and one webhook",
    "peak": "closed-loop sweep over connection counts, 1- and 10-alert bodies, against the parse-only app",
    "paced": "open loop at half the peak request rate, 1- and 10-alert bodies",
    "page-latency": "webhook 2xx to the page at the local sink, idle and under the half-peak load",
    "big-body": "one body of 50,000 alerts while 1-alert webhooks keep coming on another connection",
    "storm": "10,000 alerts over 100 incident keys in Alertmanager-sized bursts and repeats",
    "history": "intake peak on a database of 1,000,000 alerts and 100,000 resolved incidents",
}
