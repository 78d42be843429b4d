"""The ``run`` and ``show`` subcommands of ``python -m splice`` (docs/cli.md).

Modules: :mod:`~splice.cli.args` (command lines), :mod:`~splice.cli.targets`
(``FILE.py:FUNC`` / ``MODULE:Class.method`` specs and their scopes),
:mod:`~splice.cli.session` (the probes of a run), :mod:`~splice.cli.hook`
(import hook), :mod:`~splice.cli.codetree` (probes in code that has not run
yet), :mod:`~splice.cli.runner` (``run``), :mod:`~splice.cli.values`,
:mod:`~splice.cli.report` (summary, JSON, pickle), :mod:`~splice.cli.show`.
"""
