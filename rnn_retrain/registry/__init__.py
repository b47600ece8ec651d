"""The MLflow adapter: the one part of the project that talks to MLflow's tracking store and
model registry.

`tracking` is the connection (which store, its creation, the fluent API pointed at it),
`versions` one registered model's versions, aliases and tags, `champion` the champion alias's
recorded moves, rollback and the promotion lock, `files` what a version's run logged (the
servable model, its test predictions, baseline, data profile), `runs` how a training run and its
servable model are logged, and `gate` the champion/challenger decision taken against the
registry (the decision's rules are pure, in `rnn_retrain.stages.register`).

May import every part of the core below it (`errors`, `environment`, `store`, `config`, `data`,
`model`, `results`, `stages`); `orchestration` and the layers above may import it.
"""
