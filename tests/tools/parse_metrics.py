"""Parses a /metrics answer with the Prometheus Python client's own parsers and prints its
samples as JSON: [[name, {labels}, value], ...].

    python3 parse_metrics.py prometheus < metrics.txt    # text format 0.0.4
    python3 parse_metrics.py openmetrics < metrics.txt   # OpenMetrics 1.0.0 (strict)

A malformed exposition makes the parser raise, and this script exit non-zero.
"""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as prometheus

parse = {"prometheus": prometheus, "openmetrics": openmetrics}[sys.argv[1]]
samples = []
for family in parse(sys.stdin.read()):
    for s in family.samples:
        samples.append([s.name, s.labels, s.value, family.type])
json.dump(samples, sys.stdout)
