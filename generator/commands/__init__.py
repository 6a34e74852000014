"""Subcommands of ``rcar-k8s``: one module per command, its docstring is its manual."""
