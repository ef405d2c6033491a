"""The shared model core: no typer or rich imports here."""
