"""The README's commands after the README's install: the bare wheel in a fresh virtualenv."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.readme_commands import REPO_ROOT, DocCommand, readme_commands

COMMANDS = readme_commands()
INSTALL_HINT = "Install it with: "
PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]


@dataclass(frozen=True)
class FreshVenv:
    """A virtualenv holding the plain hybridctl wheel (no extras) and a folder to run it in."""

    root: Path
    work: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def hybridctl(self) -> Path:
        return self.root / "bin" / "hybridctl"

    def env(self, home: Path) -> dict[str, str]:
        """The user's environment as a newcomer has it: no PYTHONPATH into the checkout."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["HOME"] = str(home)
        env["HYBRIDCTL_STATE_DIR"] = str(home / "state")
        env["COLUMNS"] = "120"
        return env


def _run(argv: list[str], *, timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload, no-any-return]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> FreshVenv:
    """Build the wheel, make a venv, `pip install` the wheel alone (dependencies from the index)."""
    base = tmp_path_factory.mktemp("fresh-install")
    dist = base / "dist"
    built = _run(
        [*PIP_WHEEL, "-w", str(dist), str(REPO_ROOT)],
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("hybridctl-*.whl")
    venv = FreshVenv(base / "venv", base / "work")
    made = _run([sys.executable, "-m", "venv", str(venv.root)], timeout=120)
    assert made.returncode == 0, made.stderr
    installed = _run(
        [str(venv.python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        timeout=600,
    )
    assert installed.returncode == 0, (
        f"pip install of the wheel failed:\n{installed.stderr[-2000:]}"
    )
    venv.work.mkdir()
    return venv


def test_the_fresh_venv_is_bare(fresh: FreshVenv) -> None:
    """No extra came along, and the installed copy (not the checkout) is what runs."""
    code = (
        "import importlib.util as u, hybridctl, sys\n"
        "print(hybridctl.__file__)\n"
        "print(*[m for m in ('pulumi', 'llama_cpp', 'psutil', 'pytest') if u.find_spec(m)])\n"
    )
    done = _run([str(fresh.python), "-c", code], timeout=60, cwd=fresh.work)
    assert done.returncode == 0, done.stderr
    where, extras = done.stdout.splitlines()
    assert "site-packages" in where and not where.startswith(str(REPO_ROOT))
    assert extras == ""


def test_the_readme_has_each_kind_of_command() -> None:
    assert any(c.needs is None for c in COMMANDS)
    assert {c.extra for c in COMMANDS} >= {"deploy", "bench"}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: f"{c.source} {c}")
def test_readme_command_after_the_documented_install(
    fresh: FreshVenv, command: DocCommand, isolated_env: Path
) -> None:
    """Plain: exit 0. `# needs [extra]`: exit 2 naming the extra and the exact install command.

    A line needing what no package brings (`# needs Docker`, `# needs a deployment`) is run with
    `--help` after it: its command and options must exist in the installed copy.
    """
    argv = [str(fresh.hybridctl), *command.argv]
    if command.needs is not None and command.extra is None:
        argv.append("--help")
    done = _run(argv, timeout=180, cwd=fresh.work, env=fresh.env(isolated_env))
    output = done.stdout + done.stderr
    assert "internal error" not in output and "Traceback" not in output, output
    if command.extra is None:
        assert done.returncode == 0, (
            f"{command.source}: `{command}` exited {done.returncode}:\n{output}"
        )
        return
    assert done.returncode == 2, f"{command.source}: `{command}`:\n{output}"
    assert f"[{command.extra}] extra" in done.stderr
    words = _install_words(done.stderr)
    assert Path(words[0]).resolve() == fresh.python.resolve(), words  # this venv's interpreter
    assert words[1:] == ["-m", "pip", "install", f"hybridctl[{command.extra}]"], words


def _install_words(stderr: str) -> list[str]:
    """The install command of a missing-extra message, as words."""
    assert INSTALL_HINT in stderr, stderr
    return shlex.split(" ".join(stderr.split()).split(INSTALL_HINT, 1)[1])


@pytest.mark.parametrize("extra", ["deploy", "bench"])
def test_the_printed_install_command_resolves(
    fresh: FreshVenv, extra: str, isolated_env: Path
) -> None:
    """pip, asked the printed command with --dry-run, keeps the installed hybridctl and would add
    the extra's packages."""
    command = next(c for c in COMMANDS if c.extra == extra)
    done = _run(
        [str(fresh.hybridctl), *command.argv],
        timeout=180,
        cwd=fresh.work,
        env=fresh.env(isolated_env),
    )
    words = _install_words(done.stderr)
    assert words[1:4] == ["-m", "pip", "install"], words
    dry = _run(
        [*words[:5], "--dry-run", "--disable-pip-version-check"],
        timeout=600,
        cwd=fresh.work,
        env=fresh.env(isolated_env),
    )
    assert dry.returncode == 0, dry.stderr[-2000:]
    would = next(line for line in dry.stdout.splitlines() if line.startswith("Would install"))
    wanted = {"deploy": "pulumi-", "bench": "psutil-"}[extra]
    assert wanted in would.replace("_", "-").lower(), would
    assert "hybridctl-" not in would, would  # the installed copy is kept, not replaced


# --- every command that needs an extra says so before it starts --------------------------------


def _record(name: str, provider: str) -> None:
    """A deployment record, in the state dir the fresh venv's hybridctl reads."""
    from tests.record_fixtures import save_test_record

    save_test_record(name, provider=provider, outputs={"ip": "192.0.2.10", "ssh_user": "hybrid"})


EXTRA_COMMANDS = [
    (
        "bench",
        ["bench", "--tier", "2", "--model", "tinyllama-1.1b-chat-q4_k_m=absent.gguf", "--tune"],
    ),
    ("bench", ["bench", "--tier", "1"]),
    ("bench", ["bench", "--tier", "1", "--local", "--repetitions", "1"]),
    ("bench", ["bench", "--model", "absent.gguf"]),
    ("bench", ["bench", "--deployment", "local-box"]),
    ("deploy", ["deploy", "--tier", "2.5", "--provider", "hetzner", "--plan"]),
    ("deploy", ["deploy", "--tier", "1", "--provider", "aws", "--admin-cidr", "203.0.113.7/32"]),
    ("deploy", ["deploy", "--resume", "cloud-box"]),
    ("deploy", ["deploy", "--cancel", "cloud-box"]),
    ("deploy", ["destroy", "cloud-box", "--yes"]),
    ("deploy", ["upgrade", "cloud-box", "--tier", "2", "--yes"]),
]


@pytest.mark.parametrize(
    ("extra", "argv"), EXTRA_COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_a_command_that_needs_an_extra_exits_2_before_any_work(
    fresh: FreshVenv, extra: str, argv: list[str], isolated_env: Path
) -> None:
    """Without the extra: exit 2 with its install command, and nothing else done or printed
    (no per-model errors, no credentials check, no backup of a box first)."""
    _record("cloud-box", "hetzner")
    _record("local-box", "local")  # a box on this machine: its bench runs here
    before = _tree(isolated_env) | _tree(fresh.work)
    done = _run(
        [str(fresh.hybridctl), *argv], timeout=180, cwd=fresh.work, env=fresh.env(isolated_env)
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output and "ModuleNotFoundError" not in output, output
    assert f"[{extra}] extra" in done.stderr
    words = _install_words(done.stderr)
    assert words[1:] == ["-m", "pip", "install", f"hybridctl[{extra}]"], words
    assert done.stdout == "" and done.stderr.startswith("error: "), output  # the one error only
    assert _tree(isolated_env) | _tree(fresh.work) == before, "it started work"


def _tree(folder: Path) -> set[tuple[str, int]]:
    """Every file under folder, with its size (the parsed-catalog cache aside: reading the
    catalog to check the arguments is not work)."""
    files = (p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts)
    return {(str(p), p.stat().st_size) for p in files}


def test_a_load_test_needs_no_extra(fresh: FreshVenv, isolated_env: Path) -> None:
    """`bench --serve URL` uses the standard library only: it runs (here: nothing listens)."""
    argv = ["bench", "--serve", "http://127.0.0.1:9", "--clients", "1", "--requests", "1"]
    done = _run(
        [str(fresh.hybridctl), *argv], timeout=180, cwd=fresh.work, env=fresh.env(isolated_env)
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output  # the server fell short (refused): not a usage error
    assert "extra" not in output and "Traceback" not in output, output


def test_make_model_without_its_packages_says_how_to_install_them(
    fresh: FreshVenv, isolated_env: Path
) -> None:
    """The documented way to make a test model, in an environment without the gguf package."""
    script = REPO_ROOT / "scripts" / "make_model.py"
    argv = [str(fresh.python), str(script), "--shape", "tiny", "--out", "tiny.gguf"]
    done = _run(argv, timeout=120, cwd=fresh.work, env=fresh.env(isolated_env))
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr and "needs gguf and numpy" in done.stderr
    words = shlex.split(done.stderr.split("install with: ", 1)[1])
    assert Path(words[0]).resolve() == fresh.python.resolve(), words
    assert words[1:4] == ["-m", "pip", "install"] and {"gguf>=0.10", "numpy"} <= set(words)
    assert not (fresh.work / "tiny.gguf").exists()
