"""Day-two operations on a deployed box: check, logs, backup and restore, serving bench."""
