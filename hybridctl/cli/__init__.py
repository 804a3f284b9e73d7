"""Thin Typer commands: parse options, call one core function, print."""
