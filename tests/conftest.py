"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest
import torch


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
