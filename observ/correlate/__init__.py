"""Correlation of traces, logs and metrics; the Prometheus client it reads metrics and exemplars with."""
