"""The correlation API (trace, service, log line), a thin layer over observ.correlate.correlator."""
