"""Recipe files: the shipped ones (vqtool/_recipes in a wheel, ./recipes in a source tree),
reading one by name or path, and writing a resolved config back as TOML."""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path

from vqtool.core.errors import ConfigError


def recipes_dir() -> Path:
    """Recipes shipped in the wheel (vqtool/_recipes) or, in a source tree, ./recipes."""
    packaged = resources.files("vqtool") / "_recipes"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "recipes"


def list_recipes() -> dict[str, Path]:
    d = recipes_dir()
    return {p.stem: p for p in sorted(d.glob("*.toml"))} if d.is_dir() else {}


def recipe_header(path: Path) -> str:
    """The opening comment block of a recipe file, without the '#' marks."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return "\n".join(lines)


def read_recipe_data(name_or_path: str) -> tuple[dict, str]:
    """TOML data of a recipe given by shipped name or file path, and where it came from."""
    path = Path(name_or_path)
    known = list_recipes()
    if name_or_path in known:
        path = known[name_or_path]
    elif not (path.suffix == ".toml" and path.is_file()):
        import difflib

        close = difflib.get_close_matches(name_or_path, known, n=3, cutoff=0.6)
        if close:
            raise ConfigError(f"unknown recipe {name_or_path!r}; did you mean {' or '.join(map(repr, close))}? "
                              "(`vqtool recipes list` shows them all, or give a path to a .toml file)")
        if path.suffix == ".toml":
            raise ConfigError(f"recipe file not found: {path}")
        raise ConfigError(f"unknown recipe {name_or_path!r}; shipped recipes: {', '.join(known) or '(none)'} "
                          "(or give a path to a .toml file)")
    try:
        return tomllib.loads(path.read_text()), str(path)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"recipe {path} is not valid TOML: {e}") from None


def to_toml(d: dict, prefix: str = "") -> str:
    """Plain data -> TOML text (the resolved config written beside a run)."""
    flat, tables = [], []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append((k, v))
        else:
            flat.append(f"{k} = {json.dumps(v)}")
    text = "\n".join(flat) + ("\n" if flat else "")
    for k, v in tables:
        name = f"{prefix}{k}"
        text += f"\n[{name}]\n" + to_toml(v, name + ".")
    return text
