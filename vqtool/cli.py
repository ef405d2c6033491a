"""The vqtool command line: a thin Typer layer over vqtool's core."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vqtool.commands import _options, bench, recipes
from vqtool.commands.convert import convert, convert_taming, replace_decoder
from vqtool.commands.demo import demo
from vqtool.commands.edges import edges
from vqtool.commands.export import export
from vqtool.commands.evaluate import eval_fid, eval_recon, fetch_weights
from vqtool.commands.info import info
from vqtool.commands.make_scenes import make_scenes
from vqtool.commands.plot import plot
from vqtool.commands.reconstruct import reconstruct
from vqtool.commands.sample import sample
from vqtool.commands.tokenize import tokenize
from vqtool.commands.train_transformer import train_transformer
from vqtool.commands.train_vqgan import train_vqgan

app = typer.Typer(
    name="vqtool",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
)


def _version(value: bool):
    if value:
        from vqtool.commands._ui import print_version_line

        print_version_line()
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Show versions and exit.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for user errors.")] = False,
    max_pixels: Annotated[Optional[str], typer.Option(
        "--max-pixels", envvar="VQTOOL_MAX_PIXELS", show_envvar=False,
        help="Refuse images whose header claims more pixels (e.g. 250M; 0: no limit). Default 100M.")] = None,
):
    """VQGAN + autoregressive transformer (Taming Transformers): train a tokenizer, tokenize a
    dataset, train a transformer on the codes, sample at any resolution, measure FID."""
    _options.STATE["debug"] = debug
    if max_pixels is not None:
        _options.set_max_pixels(max_pixels)


app.command("demo", rich_help_panel="Start here")(demo)
app.command("make-scenes", rich_help_panel="Data")(make_scenes)
app.command("edges", rich_help_panel="Data")(edges)
app.command("train-vqgan", rich_help_panel="Train")(train_vqgan)
app.command("tokenize", rich_help_panel="Data")(tokenize)
app.command("train-transformer", rich_help_panel="Train")(train_transformer)
app.command("sample", rich_help_panel="Generate")(sample)
app.command("reconstruct", rich_help_panel="Evaluate")(reconstruct)
app.command("eval-recon", rich_help_panel="Evaluate")(eval_recon)
app.command("eval-fid", rich_help_panel="Evaluate")(eval_fid)
app.command("fetch-weights", rich_help_panel="Evaluate")(fetch_weights)
app.command("convert", rich_help_panel="Models")(convert)
app.command("convert-taming", rich_help_panel="Models")(convert_taming)
app.command("replace-decoder", rich_help_panel="Models")(replace_decoder)
app.command("export", rich_help_panel="Models")(export)
app.command("info", rich_help_panel="Inspect")(info)
app.command("plot", rich_help_panel="Inspect")(plot)
app.add_typer(recipes.app, name="recipes", rich_help_panel="Inspect")
app.add_typer(bench.app, name="bench", rich_help_panel="Inspect")


def main() -> None:
    app()
