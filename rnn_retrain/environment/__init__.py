"""The environment a run meets: faults of the machine told in one line, checks that the services a
command needs answer, and keeping framework chatter off the terminal.

May import `rnn_retrain.errors` only.
"""
