"""What happens on a box over SSH or here: hand-over, host keys, serving, verification, nodes."""
