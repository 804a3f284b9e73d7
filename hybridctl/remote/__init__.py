"""SSH transport, and what runs on a box through it (the remote bench)."""
