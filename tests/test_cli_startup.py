"""Start-up shortcuts keep the CLI's behaviour: the frozen objects at exit, pydantic's plugins."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

from hybridctl.cli.app import guarded


def _run_guarded() -> int:
    return guarded(lambda: 7)()


def test_only_the_console_script_freezes_what_is_loaded() -> None:
    before = gc.get_freeze_count()
    assert gc.isenabled()
    assert _run_guarded() == 7
    assert gc.get_freeze_count() == before  # a library or test caller: nothing frozen
    gc.disable()  # as main() does
    try:
        assert _run_guarded() == 7
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
        gc.enable()


def test_the_console_script_skips_pydantic_plugins_unless_the_user_chose() -> None:
    probe = (
        "import os, sys\n"
        "sys.argv = ['hybridctl', 'tiers', '--json']\n"
        "from hybridctl.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(os.environ.get('PYDANTIC_DISABLE_PLUGINS'), file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr.strip() == "__all__", done.stderr
    env["PYDANTIC_DISABLE_PLUGINS"] = "logfire"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert done.stderr.strip() == "logfire", done.stderr


def test_the_command_listing_loads_no_command_s_heavy_modules() -> None:
    probe = (
        "import sys\n"
        "sys.argv = ['hybridctl', '--help']\n"
        "from hybridctl.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('hybridctl.bench.loadtest', 'hybridctl.providers.registry', 'http.client',\n"
        "         'hybridctl.catalog.loader', 'hybridctl.planning.recommend', 'pulumi')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr.strip() == "[]", done.stderr
