"""Pipeline stages: each module holds a stage's pure functions and, at the bottom, its @task."""
