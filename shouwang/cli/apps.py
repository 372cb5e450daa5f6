"""The command groups; each feature module adds its commands to one of these.

Kept apart from ``main`` so feature modules can import the groups without a cycle.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="shouwang",
    help=(
        "Shouwang (守望): real-time video analytics and early warning for residential "
        "compounds.\n\n"
        "Start with `shouwang config check configs/demo-site.yaml`, then "
        "`shouwang run configs/demo-site.yaml`. Every command has --help."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

config_app = typer.Typer(
    help="Validate site files (compounds, cameras, calibration, zones, lists).",
    no_args_is_help=True,
)
streams_app = typer.Typer(help="Inspect camera streams.", no_args_is_help=True)
eval_app = typer.Typer(
    help=(
        "Measure accuracy on labelled media (the labels.csv formats of ../shared/data); "
        "every command prints JSON."
    ),
    no_args_is_help=True,
)

plates_app = typer.Typer(
    help="Chinese licence plates: read the plates in an image (`shouwang plates read IMG`).",
    no_args_is_help=True,
)

app.add_typer(config_app, name="config")
app.add_typer(streams_app, name="streams")
app.add_typer(eval_app, name="eval")
app.add_typer(plates_app, name="plates")
