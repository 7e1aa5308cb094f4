"""bridge_build_info: which version of incident-bridge, on which Python, a process runs."""

from __future__ import annotations

import platform
from collections.abc import Iterator
from importlib import metadata

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app import __version__

NAME = "bridge_build_info"
LABELS = ("version", "python_version", "python_implementation")


def version() -> str:
    """The installed package's version; the source tree's when it runs uninstalled."""
    try:
        return metadata.version("incident-bridge")
    except metadata.PackageNotFoundError:
        return __version__


class BuildInfo(Collector):
    """Always 1; the labels carry the information (join it onto other series by instance)."""

    def __init__(self) -> None:
        self.values = (version(), platform.python_version(), platform.python_implementation())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        info = GaugeMetricFamily(
            NAME, "Always 1: the version of incident-bridge and of Python this process runs", labels=LABELS
        )
        info.add_metric(list(self.values), 1)
        yield info


BUILD_INFO = BuildInfo()
REGISTRY.register(BUILD_INFO)
