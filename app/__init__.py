"""incident-bridge: turns alerts about machine-learning models into well-run incidents."""

import sys

__version__ = "0.1.0"

# httpx imports its command-line client whenever click, rich and pygments are installed (as
# test and developer tools often bring them): some 5 MB and 40 ms in every process, for a
# command incident-bridge never runs. A None entry makes that import fail, and httpx falls
# back to a stub; the client is unchanged.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
