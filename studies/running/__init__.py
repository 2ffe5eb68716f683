"""Running trials: the loop that trains them, worker processes, signals, pruners and the
per-trial callbacks."""
