from collectors.log_adapter.sinks.store.sink import StoreSink

__all__ = ["StoreSink"]
