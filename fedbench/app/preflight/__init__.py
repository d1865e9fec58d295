"""Pre-flight: a job's composed config becomes a checked, prepared run before anything trains."""
