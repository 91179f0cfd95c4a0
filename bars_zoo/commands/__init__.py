"""Subcommands of the ``bars-zoo`` CLI, one module each (see :mod:`bars_zoo.cli`)."""
