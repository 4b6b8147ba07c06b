"""The sidecar as an OTLP ambassador: apps export spans and logs to localhost, the sidecar ships them to Kafka."""


class StartError(RuntimeError):
    """The ambassador cannot listen where it was told to; the message is one line for the user."""
