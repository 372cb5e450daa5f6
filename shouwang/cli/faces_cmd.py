"""``shouwang faces``: watchlist enrolment, listing, removal, calibration; ``eval faces``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from detectors.errors import ModelError
from detectors.faces.analyzer import FaceAnalyzer
from detectors.faces.embedder import (
    DEFAULT_EMBEDDER,
    EMBEDDERS,
    OnnxEmbedderConfig,
    embedder_config,
)
from detectors.faces.enrol import enrol, reembed
from detectors.faces.evaluate import calibrate as calibrate_dir
from detectors.faces.evaluate import evaluate
from detectors.faces.watchlist import WatchlistStore
from detectors.registry import ModelSpec, PathSource, register
from shouwang.cli.apps import eval_app, faces_app
from shouwang.config import ConfigError, load_site
from shouwang.config.site import WatchlistRef

USER_EMBEDDER = "user-face-embedder"

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="where watchlists live (default: $SHOUWANG_DATA_DIR or .shouwang/)",
    ),
]
OnnxOpt = Annotated[
    Path | None,
    typer.Option(
        "--onnx-model",
        help="use your own ArcFace-style ONNX embedder (112x112 RGB, (x-127.5)/127.5) "
        "instead of the built-in one",
    ),
]
EmbedderOpt = Annotated[
    str,
    typer.Option(
        "--embedder",
        help=f"built-in face embedder: {', '.join(EMBEDDERS)} (`shouwang models list` gives "
        "their licences; several are trained on research-only data sets)",
    ),
]


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def _analyzer(onnx_model: Path | None, embedder: str = DEFAULT_EMBEDDER) -> FaceAnalyzer:
    if onnx_model is None:
        return FaceAnalyzer(embedder=embedder_config(embedder))
    register(
        ModelSpec(
            name=USER_EMBEDDER,
            task="face_embedding",
            format="onnx",
            source=PathSource(str(onnx_model.resolve())),
            sha256=None,
            license="user supplied",
        )
    )
    return FaceAnalyzer(embedder=OnnxEmbedderConfig(model=USER_EMBEDDER))


def _store(data_dir: Path | None) -> WatchlistStore:
    return WatchlistStore(data_dir)


@faces_app.command("enroll")
def enroll(
    list_id: Annotated[str, typer.Argument(metavar="LIST", help="watchlist id, e.g. residents")],
    name: Annotated[str, typer.Argument(help="the person's name or reference, e.g. 'Wang Fang'")],
    photos: Annotated[list[Path], typer.Argument(help="one or more photos of this person")],
    kind: Annotated[
        Literal["residents", "persons_of_interest"] | None,
        typer.Option(help="kind of a NEW list (default persons_of_interest)"),
    ] = None,
    store_photos: Annotated[
        bool, typer.Option("--store-photos", help="a NEW list keeps enrolment photos")
    ] = False,
    site: Annotated[
        Path | None,
        typer.Option(help="site YAML; the list's kind/threshold/store_photos come from it"),
    ] = None,
    data_dir: DataDirOpt = None,
    onnx_model: OnnxOpt = None,
    embedder: EmbedderOpt = DEFAULT_EMBEDDER,
) -> None:
    """Enrol a person into a watchlist from one or more photos.

    Each photo must show exactly one clear face; a photo with no face, several faces, a
    face too small/blurred/turned, or a huge or corrupt file is refused with an error
    naming the file, and nothing is written. The photos' embeddings are combined into one
    quality-weighted template (three photos miss far fewer people than one); only that
    is stored, plus the photos when the list is configured `store_photos` (which lets
    `faces reembed` move the list to another embedder later).

    Example: `shouwang faces enroll residents "Wang Fang" wang1.jpg wang2.jpg --kind residents`

    With `--site configs/demo-site.yaml` the list's settings come from the site file's
    `watchlists:` entry of that id.
    """
    try:
        store = _store(data_dir)
        if site is not None:
            refs = {w.id: w for w in load_site(site).watchlists}
            if list_id not in refs:
                raise ModelError(f"{site}: no watchlist {list_id!r} under watchlists:")
            store.ensure_list(refs[list_id])
        elif list_id not in {i.id for i in store.lists()}:
            store.ensure_list(
                WatchlistRef(
                    id=list_id, kind=kind or "persons_of_interest", store_photos=store_photos
                )
            )
        elif kind is not None or store_photos:
            typer.echo(
                f"note: list {list_id!r} exists; --kind/--store-photos only apply to a new "
                "list (use --site to change its settings)",
                err=True,
            )
        entry = enrol(store, _analyzer(onnx_model, embedder), list_id, name, photos)
    except (ModelError, ConfigError, ValueError) as exc:
        raise _fail(exc) from None
    typer.echo(f"enrolled {name!r} into {list_id!r} (entry {entry}, {len(photos)} photo(s))")


@faces_app.command("list")
def list_cmd(
    list_id: Annotated[
        str | None, typer.Argument(metavar="[LIST]", help="show this list's entries")
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Show the watchlists, or the entries of one list.

    Without LIST: one line per list — id, kind, threshold (`default` when the embedder's
    default applies), whether photos are kept, and the number of entries.
    With LIST: one line per entry — name, embeddings and photos held, enrolment time (UTC).

    Example: `shouwang faces list residents`
    """
    import datetime as dt

    try:
        store = _store(data_dir)
        if list_id is None:
            infos = store.lists()
            if not infos:
                typer.echo("no watchlists yet; create one with `shouwang faces enroll`")
            for i in infos:
                thr = "default" if i.threshold is None else f"{i.threshold:.4f}"
                typer.echo(
                    f"{i.id}\t{i.kind}\tthreshold={thr}\tphotos={'yes' if i.store_photos else 'no'}"
                    f"\t{i.n_entries} entries"
                )
            return
        for e in store.entries(list_id):
            when = dt.datetime.fromtimestamp(e.created, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
            typer.echo(f"{e.name}\t{e.n_embeddings} embedding(s)\t{e.n_photos} photo(s)\t{when}")
    except ModelError as exc:
        raise _fail(exc) from None


@faces_app.command("remove")
def remove(
    list_id: Annotated[str, typer.Argument(metavar="LIST", help="watchlist id")],
    name: Annotated[str, typer.Argument(help="the entry's name as enrolled")],
    data_dir: DataDirOpt = None,
) -> None:
    """Remove a person from a watchlist, leaving no trace.

    Deletes the entry's rows, embeddings and photos, overwrites and compacts the database
    file (VACUUM) and deletes cached search indices of the list.

    Example: `shouwang faces remove residents "Wang Fang"`
    """
    try:
        _store(data_dir).remove_entry(list_id, name)
    except ModelError as exc:
        raise _fail(exc) from None
    typer.echo(f"removed {name!r} from {list_id!r}")


@faces_app.command("reembed")
def reembed_cmd(
    list_id: Annotated[str, typer.Argument(metavar="LIST", help="watchlist id")],
    data_dir: DataDirOpt = None,
    onnx_model: OnnxOpt = None,
    embedder: EmbedderOpt = DEFAULT_EMBEDDER,
) -> None:
    """Move a watchlist to another embedder by re-embedding its kept photos.

    Embeddings of different models are not comparable, so a list enrolled with one
    embedder is refused by another until it is re-embedded. This needs the enrolment
    photos (lists created with `--store-photos`); a list without them is refused with a
    message, and its people must be enrolled again. Nothing is written unless every
    photo embeds.

    Example: `shouwang faces reembed residents --embedder arcface-w600k-mbf`
    """
    try:
        n = reembed(_store(data_dir), _analyzer(onnx_model, embedder), list_id)
    except ModelError as exc:
        raise _fail(exc) from None
    typer.echo(f"re-embedded {n} entries of {list_id!r} with {embedder!r}")


@faces_app.command("calibrate")
def calibrate(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="labelled folder (labels.csv)")],
    fpir: Annotated[float, typer.Option(min=0.0, max=1.0, help="false alarms allowed")] = 0.01,
    apply: Annotated[
        str | None, typer.Option(metavar="LIST", help="also store it as LIST's threshold")
    ] = None,
    data_dir: DataDirOpt = None,
    onnx_model: OnnxOpt = None,
    embedder: EmbedderOpt = DEFAULT_EMBEDDER,
) -> None:
    """Print the match threshold that gives FPIR false alarms on strangers.

    DIR is a folder in the labels.csv format (see docs/faces.md); every person is in turn
    left out of the gallery and their photos searched as a stranger, and the threshold is
    set so that at most FPIR of those searches raise an alarm.

    Example: `shouwang faces calibrate ../shared/data/faces --fpir 0.01 --apply residents`

    Output: the cosine-similarity threshold, e.g. `0.8897`.
    """
    try:
        thr = calibrate_dir(folder, _analyzer(onnx_model, embedder), fpir)
        if apply is not None:
            _store(data_dir).set_threshold(apply, thr)
    except ModelError as exc:
        raise _fail(exc) from None
    typer.echo(f"{thr:.4f}")


@eval_app.command("faces")
def eval_faces(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="labelled folder (labels.csv)")],
    json_out: Annotated[Path, typer.Option("--json", help="write the figures here")],
    pairs: Annotated[Path | None, typer.Option(help="pairs CSV: file_a,file_b,same (1/0)")] = None,
    fpir: Annotated[float, typer.Option(min=0.0, max=1.0, help="false alarm rate")] = 0.01,
    onnx_model: OnnxOpt = None,
    embedder: EmbedderOpt = DEFAULT_EMBEDDER,
) -> None:
    """Face verification and open-set identification accuracy, and latency.

    Example: `shouwang eval faces ../shared/data/faces --json faces.json`

    Output (JSON, also printed): `verification_accuracy` (at the embedder's default
    threshold), `verification_accuracy_loio` (each pair judged with a threshold fitted on
    the other people's pairs), `tar_at_far_1e-2`, `tar_at_far_1e-3` (same/different
    pairs); `failures_to_extract` and `rejected_photos` (photos the gate or detector
    refused: every figure counts them as errors); `fnir_at_fpir_0.01` (share of enrolled
    people missed when strangers raise at most 1% false alarms), `fpir`, `n_probes`;
    `enrolment_photos` (FNIR and rank-1 with 1, 3, 5 enrolment photos on the same
    probes); `latency_ms` (detection per frame, embedding per face). The protocol is in
    docs/faces.md.
    """
    try:
        result = evaluate(folder, _analyzer(onnx_model, embedder), pairs=pairs, fpir=fpir)
    except ModelError as exc:
        raise _fail(exc) from None
    text = json.dumps(result, indent=2)
    json_out.write_text(text + "\n", encoding="utf-8")
    typer.echo(text)
