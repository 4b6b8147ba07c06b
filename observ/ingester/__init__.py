"""The Kafka ingester: a consumer group writing the log and span topics into the stores, exactly once.

`ingester` is the loop, `lanes` what it needs of a topic and its store, `records` the decoders, `metrics` the
counters. It depends on the stores; nothing in `observ.store` or `observ.traces` depends on it.
"""
