"""How the commands draw their results: tables, panels and summary lines."""
