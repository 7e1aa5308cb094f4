"""The communication protocol's pure parts: periods, configuration, plan, regimes, templates."""
