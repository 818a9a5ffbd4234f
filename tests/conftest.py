"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os

import pytest
import torch


def _restore(before: dict) -> None:
    if dict(os.environ) != before:
        os.environ.clear()
        os.environ.update(before)


@pytest.fixture(autouse=True, scope="module")
def module_environment_restored():
    """Give the tests after a module the process environment the module started with. Dask's
    LocalCluster sets OMP_NUM_THREADS=MKL_NUM_THREADS=OPENBLAS_NUM_THREADS=1 (and
    MALLOC_TRIM_THRESHOLD_) in this process's ``os.environ`` for its workers and leaves them there;
    every chapter kernel nbval started afterwards inherited them and ran torch on one thread —
    2–4× slower chapters in the suite (allen_cahn: 48 s alone, 226–247 s after
    tests/test_executor.py). Module scope, autouse: set up before, and torn down after, a module's
    own fixtures (test_executor's module-wide cluster)."""
    before = dict(os.environ)
    yield
    _restore(before)


@pytest.fixture(autouse=True)
def environment_restored():
    """The same for every test (a cluster started inside one test)."""
    before = dict(os.environ)
    yield
    _restore(before)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests with one torch thread (tiny networks train several times faster)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class CommandResult:
    """What ``python -m support ARGS`` returned: exit status and the two streams."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def support_cli(monkeypatch, capsys):
    """Run the command line's ``main(ARGS)`` in this process (no interpreter start-up per case), with
    extra environment variables; an input check that lets a run start fails the test at once instead
    of running the experiment. One subprocess test per module keeps the real ``python -m support``
    covered (tests/test_claims_and_results.py, tests/test_config_limits.py)."""
    import support.__main__ as cli
    import support.executor as executor

    def started(*_args, **_kwargs):
        raise AssertionError("the input checks let the experiment start")

    def run(*args: str, env: dict | None = None) -> CommandResult:
        with monkeypatch.context() as patch:
            patch.setattr(executor, "using", started)
            for key, value in (env or {}).items():
                patch.setenv(key, value)
            capsys.readouterr()
            try:
                code = cli.main(list(args))
            except SystemExit as stop:          # argparse's own errors
                code = stop.code
            out = capsys.readouterr()
        return CommandResult(code, out.out, out.err)
    return run
