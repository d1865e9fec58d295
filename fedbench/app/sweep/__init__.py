"""The sweep: fedbench's Hydra sweeper, what it tells each job, and the sweep's summary."""
