"""Thin Typer commands: parse options, call one core function, print."""


def main() -> None:
    """Console-script entry point: garbage collection off before anything is imported."""
    import gc
    import os

    # A short-lived command: cyclic garbage collection during start-up costs more than it saves.
    gc.disable()
    # hybridctl's models use no pydantic plugin; looking for them reads every installed
    # package's entry points (about 14 ms). Pydantic's own switch; a value set by the user wins.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from hybridctl.cli.app import main as run

    run()
