"""The embedding engine's OpenMP team: threads per serving process, bound when it owns its cores."""

from __future__ import annotations

import pytest

from policy_index import embedding

VARIABLES = ("OMP_NUM_THREADS", "OMP_PLACES", "OMP_PROC_BIND")


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def cores(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    monkeypatch.setattr(embedding, "_cpus", lambda: list(range(n)))


def team() -> tuple[str | None, ...]:
    return tuple(embedding.os.environ.get(name) for name in VARIABLES)


def test_one_process_on_two_cores_binds_a_thread_to_each(machine: pytest.MonkeyPatch) -> None:
    cores(machine, 2)
    embedding.engine_cores()
    assert team() == ("2", "{0},{1}", "close")


def test_one_process_on_a_large_machine_takes_two_threads_left_free(
    machine: pytest.MonkeyPatch,
) -> None:
    cores(machine, 8)
    embedding.engine_cores()
    assert team() == ("2", None, None)


def test_two_workers_on_two_cores_each_take_one_unbound_thread(
    machine: pytest.MonkeyPatch,
) -> None:
    cores(machine, 2)
    embedding.engine_cores(share=(1, 2))
    assert team() == ("1", None, None)


def test_workers_on_a_large_machine_each_get_their_own_slice(machine: pytest.MonkeyPatch) -> None:
    cores(machine, 8)
    embedding.engine_cores(share=(1, 2))
    assert team() == ("4", "{4},{5},{6},{7}", "close")


def test_the_operators_settings_win(machine: pytest.MonkeyPatch) -> None:
    cores(machine, 2)
    machine.setenv("OMP_PROC_BIND", "false")
    embedding.engine_cores()
    assert team() == ("2", None, "false")
    machine.setenv("OMP_NUM_THREADS", "1")
    machine.delenv("OMP_PROC_BIND")
    embedding.engine_cores()
    assert team() == ("1", None, None)
