"""Where jobs run: a launcher's child processes, submitit and Slurm."""
