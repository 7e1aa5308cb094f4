"""Benchmark of incident-bridge's webhook intake and what follows it; see bench/README.md.

    .venv/bin/python bench/webhook_bench.py --quick            # every scenario on SQLite, 1 run
    .venv/bin/python bench/webhook_bench.py --db both          # SQLite and PostgreSQL, 3 runs each
    .venv/bin/python bench/webhook_bench.py --only storm,big-body --quick

The scenarios live in bench/webhook/ (one module each under scenarios/); this script only runs
them. `--help` lists the scenarios and options.
"""

import sys

from webhook.cli import main  # bench/webhook/, next to this script

if __name__ == "__main__":
    sys.exit(main())
