"""Each stage's logic as Prefect-free functions; `tasks/<stage>.py` wraps it in one thin @task.

May import `errors`, `store`, `config`, `data`, `model` and `results` (the typed results the stages
hand on); never Prefect, MLflow, the registry adapter or `orchestration`.
"""
