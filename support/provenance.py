"""Where a result came from: the code version, the threads, and the machine that produced it."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path

import torch

#: version of the layout of ``results.json`` (bump when keys that readers rely on change)
SCHEMA_VERSION = 2

_ROOT = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``git:<short commit>`` (with ``+dirty`` when the work tree has uncommitted changes to tracked
    files) inside a git checkout, else ``support <package version>``."""
    if (_ROOT / ".git").exists():
        try:
            commit = subprocess.run(["git", "-C", str(_ROOT), "rev-parse", "--short=10", "HEAD"],
                                    capture_output=True, text=True, timeout=10, check=True).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(_ROOT), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10, check=True).stdout.strip()
            return f"git:{commit}{'+dirty' if dirty else ''}"
        except (OSError, subprocess.SubprocessError):
            pass
    from importlib.metadata import PackageNotFoundError, version
    try:
        return f"support {version('support')}"
    except PackageNotFoundError:
        return "support (unknown version)"


def describe_machine(devices: dict[str, str]) -> str:
    """The accelerator if any part of the run used one, else the CPU, its cores and torch threads."""
    if any(str(d).startswith("cuda") for d in devices.values()) and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (cuda) + {os.cpu_count()}-core CPU"
    return f"CPU, {os.cpu_count()} cores ({platform.machine()})"
