"""Traces: the span record (`model`) and, later, the spans store and the TraceQL subset."""
