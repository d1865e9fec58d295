"""Hydra glue: the config schemas, composing a job's config, Hydra's errors in one line."""
