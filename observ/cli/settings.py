"""One settings model for `observ up` and `observ serve`: the YAML file of `--config`, then the flags over it."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from observ.api.config import ServeConfig
from observ.cli.refusal import Refused


def load_config(path: Path | None, flags: dict[str, object]) -> ServeConfig:
    """`ServeConfig` from `path` (defaults without one), with every flag that was given (not None) replacing its key."""
    try:
        config = ServeConfig.from_yaml(path) if path else ServeConfig()
        given = {k: v for k, v in flags.items() if v is not None}
        return ServeConfig.model_validate({**config.model_dump(), **given})
    except OSError as e:
        raise Refused(f"cannot read --config {path}: {e.strerror or e}") from None
    except yaml.MarkedYAMLError as e:
        where = f"{path}:{e.problem_mark.line + 1}:{e.problem_mark.column + 1}" if e.problem_mark else str(path)
        raise Refused(f"--config {where} is not valid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise Refused(f"--config {path} is not valid YAML: {' '.join(str(e).split())}") from None
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'top level'}: {err['msg']}" for err in e.errors())
        raise Refused(f"--config {path}: {problems}" if path else problems) from None
