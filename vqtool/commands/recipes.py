from __future__ import annotations

from typing import Annotated

import typer

from vqtool.commands._options import user_errors

app = typer.Typer(help="The shipped recipes.", no_args_is_help=True)


@app.command("list")
@user_errors
def list_():
    """Name, kind and first header line of every shipped recipe."""
    import tomllib

    from vqtool.commands import _ui
    from vqtool.core.config.recipes import list_recipes, recipe_header

    rows = []
    for name, path in list_recipes().items():
        kind = tomllib.loads(path.read_text()).get("kind", "?")
        rows.append({"recipe": name, "kind": kind, "what": recipe_header(path).splitlines()[0]})
    if _ui.stdout_is_terminal():  # a person: the table alone (names on stdout too would show the list twice)
        _ui.table("recipes", rows)
        return
    for r in rows:  # a script: the names, one per line
        _ui.result(r["recipe"])


@app.command("show")
@user_errors
def show(name: Annotated[str, typer.Argument(help="Recipe name or path.")]):
    """Print a recipe file."""
    from vqtool.core.config.recipes import read_recipe_data

    _, where = read_recipe_data(name)
    print(open(where).read(), end="")
