"""How retraining runs are scheduled and started: prefect.yaml and the `retrain serve` entry point."""
