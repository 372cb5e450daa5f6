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
demo_app = typer.Typer(
    help="The built-in demo site: footage made from real photos shipped with the models.",
    no_args_is_help=True,
)
eval_app = typer.Typer(
    help=(
        "Measure accuracy on labelled media (the labels.csv formats of ../shared/data); "
        "every command prints JSON."
    ),
    no_args_is_help=True,
)
alerts_app = typer.Typer(
    help=(
        "Read alerts from Redis: type, severity, camera, named place, lat/lon with its "
        "error, and the subject (plate, face, track)."
    ),
    no_args_is_help=True,
)
faces_app = typer.Typer(
    help=(
        "Face watchlists: enrol people from photos, list, remove every trace, and "
        "calibrate match thresholds on labelled photos."
    ),
    no_args_is_help=True,
)
models_app = typer.Typer(
    help=(
        "The model registry: what is installed (`list`), SHA-256 verification (`check`), "
        "one-time conversion to ONNX (`prepare`)."
    ),
    no_args_is_help=True,
)

plates_app = typer.Typer(
    help="Chinese licence plates: read the plates in an image (`shouwang plates read IMG`).",
    no_args_is_help=True,
)

users_app = typer.Typer(
    help="Security-centre users: operator, supervisor, admin, auditor.", no_args_is_help=True
)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
privacy_app = typer.Typer(
    help="Personal data: erase a person everywhere (PIPL).", no_args_is_help=True
)
retention_app = typer.Typer(
    help="How long incidents and evidence are kept; run the purge now.", no_args_is_help=True
)

app.add_typer(config_app, name="config")
app.add_typer(streams_app, name="streams")
app.add_typer(demo_app, name="demo")
app.add_typer(eval_app, name="eval")
app.add_typer(alerts_app, name="alerts")
app.add_typer(faces_app, name="faces")
app.add_typer(models_app, name="models")
app.add_typer(plates_app, name="plates")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(privacy_app, name="privacy")
app.add_typer(retention_app, name="retention")
