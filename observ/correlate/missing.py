"""What a correlation answer carries in place of a part it could not get, so the rest can still be answered."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Missing(BaseModel):
    """`part` is absent from the answer because of `reason`, a sentence for the user, e.g. part="metrics",
    reason="prometheus unreachable at http://127.0.0.1:9090: connection refused (circuit open, retry in 12 s)"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    part: str
    reason: str
