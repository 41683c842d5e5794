"""The command-line skeleton: --help lists the sub-commands, --version, main() without a subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest

import freight
from freight.cli import build_parser, main

EXPECTED = {
    "work",
    "failed",
    "retry",
    "forget",
    "flush",
    "clear",
    "size",
    "queue:table",
    "cache:clear",
    "cache:forget",
    "cache:prune",
    "cache:table",
}


def subcommands() -> set[str]:
    parser = build_parser()
    for action in parser._actions:
        if action.dest == "command":
            return set(action.choices or {})
    return set()


def test_every_documented_subcommand_is_registered() -> None:
    assert EXPECTED <= subcommands()


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    for name in ("work", "cache:clear", "failed"):
        assert name in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"freight {freight.__version__}"


def test_python_dash_m_freight_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "freight", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "work" in result.stdout and "cache:clear" in result.stdout


def test_bad_config_is_a_clean_error(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["size", "--config", f"{tmp_path}/missing.toml"])
    assert code == 1
    assert "cannot read config file" in capsys.readouterr().err
