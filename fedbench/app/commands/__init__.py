"""The two commands, ``fedbench`` and ``fedbench-partition``: Hydra app, errors, exit status."""
