"""One scrape: this deployment's process metrics (all processes in multi-process mode) and the
database gauges, in Prometheus' text format."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from . import multiproc
from .collector import DatabaseCollector


class _ThisProcess(Collector):
    """The default registry (this process only): single-process mode."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def render(engine: Engine, clock: Callable[[], datetime], worker_max_age_s: float) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    path = multiproc.directory()
    if path is not None:
        MultiProcessCollector(registry, path=path)
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseCollector(engine, clock, worker_max_age_s))
    return generate_latest(registry)
