from collectors.log_adapter.sinks.kafka.config import KafkaSinkConfig
from collectors.log_adapter.sinks.kafka.sink import KafkaSink

__all__ = ["KafkaSink", "KafkaSinkConfig"]
