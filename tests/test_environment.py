"""A test cannot change the environment of the tests, and chapter kernels, that run after it.

Dask's LocalCluster writes OMP_NUM_THREADS=MKL_NUM_THREADS=OPENBLAS_NUM_THREADS=1 into this
process's environment and leaves it there; before the ``environment_restored`` fixture
(tests/conftest.py) every chapter that nbval ran after tests/test_executor.py started its kernel with
those caps and ran torch on one thread (allen_cahn: 48 s alone, 226 s in the suite). The two tests
run in file order: the first leaves the caps set, the second sees them gone."""

from __future__ import annotations

import os

CAPS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_BEFORE = {k: os.environ.get(k) for k in CAPS}


def test_a_local_cluster_sets_thread_caps_in_this_process():
    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster):
        pass
    assert any(os.environ.get(k) == "1" for k in CAPS)     # what the fixture has to undo


def test_the_next_test_has_the_environment_back():
    assert {k: os.environ.get(k) for k in CAPS} == _BEFORE
