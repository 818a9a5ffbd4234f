"""Root conftest: registers the plugin that runs the book's Jupytext chapters through nbval.

Registered here rather than with ``-p tests.nbval_jupytext`` in ``addopts``: the ``pytest`` console
script does not put the repository root on ``sys.path`` before ``-p`` plugins are imported, so
``-p tests.…`` only worked under ``python -m pytest``. A root conftest is imported with its directory
on ``sys.path``, whichever way pytest is started.
"""

pytest_plugins = ["tests.nbval_jupytext"]
