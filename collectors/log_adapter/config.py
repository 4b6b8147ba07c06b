"""The adapter's one config model, loadable from YAML with errors that say where."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from collectors.log_adapter.sinks.kafka.config import KafkaSinkConfig
from collectors.log_adapter.sources.otlp.config import OtlpSourceConfig
from collectors.log_adapter.sources.tail.config import TailConfig
from collectors.log_adapter.transforms.config import ParseConfig

KiB = 1024
MiB = 1024 * KiB
CHECKPOINT_FILE = "adapter-checkpoints.json"


class AdapterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: Path = Path("./observ-data")
    """The adapter's folder, as `--data` is in every command: its checkpoints live there
    (`<data>/adapter-checkpoints.json` unless `tail.checkpoint_path` says otherwise). In a container,
    mount a volume here, or a restart reads every file again from where the lost checkpoint began."""
    tail: TailConfig = Field(default_factory=lambda: TailConfig(include=[]))
    stdin: bool = False
    """Read stdin instead of files (`-` on the command line)."""
    otlp: OtlpSourceConfig = OtlpSourceConfig()
    """The OTLP ambassador (`--otlp`): apps send spans and logs to localhost, the adapter ships them to Kafka."""
    parse: ParseConfig = ParseConfig()
    kafka: KafkaSinkConfig = KafkaSinkConfig()
    tenant: str = "default"
    service: str | None = None
    labels: dict[str, str] = {}
    batch_max_entries: int = Field(1000, ge=1)
    batch_max_bytes: int = Field(512 * KiB, ge=1024)
    batch_linger_ms: int = Field(200, ge=0)
    max_inflight_bytes: int = Field(8 * MiB, ge=64 * KiB)
    """Bytes handed to Kafka and not yet acknowledged; past it reading pauses (backpressure)."""
    read_budget_bytes: int = Field(1 * MiB, ge=4 * KiB)
    checkpoint_interval_ms: int = Field(1000, ge=10)
    shutdown_timeout_ms: int = Field(10_000, ge=0)
    status_interval_ms: int = Field(10_000, ge=0)
    """`observ ship` prints what it is doing on stderr: a live table on a terminal, else a line this often;
    0 = neither."""
    http_host: str = "127.0.0.1"
    http_port: int = 9180
    """/metrics, /healthz, /readyz; 0 disables."""

    @model_validator(mode="after")
    def _checkpoint_in_data(self) -> AdapterConfig:
        if "checkpoint_path" not in self.tail.model_fields_set:
            self.tail.checkpoint_path = str(self.data / CHECKPOINT_FILE)
            # Still derived, not given: a later `data` (a flag over a config file) moves it along.
            self.tail.model_fields_set.discard("checkpoint_path")
        return self


class ConfigError(ValueError):
    pass


def load_config(path: str | Path) -> AdapterConfig:
    """Parse YAML; errors name the file, the line where known, and the field."""
    import yaml  # only with --config: the sidecar starts (and stays) ~1 MiB and 20 ms lighter without it

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(e, 'problem', e)}") from e
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from e
    try:
        return AdapterConfig.model_validate(raw)
    except ValidationError as e:
        lines = [f"{path}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
        raise ConfigError("\n".join(lines)) from e
