"""The `retrain` command and its terminal output: the top layer, which nothing below imports."""
