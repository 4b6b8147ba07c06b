"""Arrow's allocator in observ's processes: jemalloc where pyarrow has it, pyarrow's default otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from observ.api.otlp.receiver import DecoderPool
from observ.cli.main import app
from observ.memory_pool import use_jemalloc


@pytest.fixture(autouse=True)
def _restored() -> Iterator[None]:
    before = pa.default_memory_pool()
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    yield
    pa.set_memory_pool(before)


def backend() -> str:
    return pa.default_memory_pool().backend_name


def test_arrow_allocates_from_jemalloc_after_it() -> None:
    use_jemalloc()
    assert backend() == "jemalloc"
    assert pa.array(["x"] * 1000).to_pylist() == ["x"] * 1000


def test_a_pyarrow_without_jemalloc_keeps_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> pa.MemoryPool:
        raise NotImplementedError("This Arrow build does not enable jemalloc")

    monkeypatch.setattr(pa, "jemalloc_memory_pool", missing)
    use_jemalloc()
    assert backend() == "mimalloc"


def test_every_observ_command_and_each_decoder_process_uses_it() -> None:
    assert CliRunner().invoke(app, ["store", "--help"]).exit_code == 0
    assert backend() == "jemalloc"
    with DecoderPool(1) as pool:
        assert pool._pool.submit(backend).result(timeout=60) == "jemalloc"
