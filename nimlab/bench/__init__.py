"""Load generation and reporting for the course's benchmarks (measuring and reporting kept apart)."""
