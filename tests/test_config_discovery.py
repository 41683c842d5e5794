"""Finding the configuration (issue 12, item 9): ``FREIGHT_CONFIG``, then the current
directory and its parents (``freight.toml``, then ``[tool.freight]`` of a pyproject),
relative paths anchored at the config file, and the source reported."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from freight.config import discover, load_config, locate
from freight.errors import ConfigurationError

NO_ENV: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(tmp_path)
    yield
    os.chdir(old)


@pytest.mark.parametrize("depth", [0, 1, 3])
@pytest.mark.parametrize("kind", ["freight.toml", "pyproject.toml"])
def test_the_config_is_found_in_a_parent_directory(tmp_path: Path, depth: int, kind: str) -> None:
    body = '[cache]\nprefix = "found"\n'
    (tmp_path / kind).write_text(
        body if kind == "freight.toml" else body.replace("[cache]", "[tool.freight.cache]")
    )
    deep = tmp_path.joinpath(*["sub"] * depth)
    deep.mkdir(parents=True, exist_ok=True)
    os.chdir(deep)
    assert discover() == (tmp_path / kind).resolve()
    config = load_config(env=NO_ENV)
    assert config["cache"]["prefix"] == "found"
    # the application imported from a subdirectory uses the worker's files, not ./storage here
    expected = f"sqlite:///{tmp_path.resolve()}/storage/queue.sqlite3"
    assert config["queue"]["connections"]["database"]["url"] == expected
    assert config["cache"]["stores"]["file"]["path"] == str(tmp_path.resolve() / "storage/cache")
    assert str(locate(None, NO_ENV)).startswith(str((tmp_path / kind).resolve()))


def test_the_nearest_config_wins(tmp_path: Path) -> None:
    (tmp_path / "freight.toml").write_text('[cache]\nprefix = "outer"\n')
    inner = tmp_path / "app"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[tool.freight.cache]\nprefix = "inner"\n')
    os.chdir(inner)
    assert load_config(env=NO_ENV)["cache"]["prefix"] == "inner"


def test_freight_config_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "freight.toml").write_text('[cache]\nprefix = "cwd"\n')
    elsewhere = tmp_path / "etc" / "app.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text('[cache]\nprefix = "named"\n[queue.connections.database]\nurl = "sqlite:///q.db"\n')
    env = {"FREIGHT_CONFIG": str(elsewhere)}
    config = load_config(env=env)
    assert config["cache"]["prefix"] == "named"
    assert config["queue"]["connections"]["database"]["url"] == f"sqlite:///{elsewhere.parent.resolve()}/q.db"
    assert "FREIGHT_CONFIG" in str(locate(None, env))
    with pytest.raises(ConfigurationError, match="missing.toml"):
        load_config(env={"FREIGHT_CONFIG": str(tmp_path / "missing.toml")})


def test_absolute_and_memory_urls_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "freight.toml").write_text(
        '[queue.connections.database]\nurl = "sqlite:////abs/q.db"\n'
        '[cache.stores.db]\ndriver = "database"\nurl = "sqlite:///:memory:"\n'
    )
    config = load_config(env=NO_ENV)
    assert config["queue"]["connections"]["database"]["url"] == "sqlite:////abs/q.db"
    assert config["cache"]["stores"]["db"]["url"] == "sqlite:///:memory:"


def test_with_no_file_the_source_says_so_and_paths_stay_relative() -> None:
    assert "embedded defaults" in str(locate(None, NO_ENV))
    assert load_config(env=NO_ENV)["cache"]["stores"]["file"]["path"] == "storage/cache"
    assert "dict" in str(locate({}, NO_ENV))
