"""incident-bridge: turns alerts about machine-learning models into well-run incidents."""

__version__ = "0.1.0"
