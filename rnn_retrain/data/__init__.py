"""The data: review sources (demo, IMDB, users' files), labels, and the text processing shared by
training and serving.

May import `rnn_retrain.errors` and `rnn_retrain.store`; never the model, the stages or anything
Prefect- or MLflow-specific.
"""
