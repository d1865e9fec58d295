"""The command-line application: Hydra schemas, pre-flight, the commands, running jobs."""
