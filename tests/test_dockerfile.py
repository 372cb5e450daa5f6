"""The Dockerfile, checked statically (no container engine runs here).

Base images pinned, multi-stage, non-root, a health check, the same lock file installed
the same way as scripts/setup, models prepared at build time, and the entry points the
README and the k8s manifests use.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"


@dataclass
class Stage:
    name: str
    base: str
    steps: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [arg for ins, arg in self.steps if ins == instruction]


def parse(text: str) -> tuple[dict[str, str], dict[str, Stage]]:
    """Global ARG defaults and the stages by name (continuation lines joined)."""
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")
    ))  # fmt: skip
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in joined.splitlines():
        if not line.strip():
            continue
        ins, _, rest = line.strip().partition(" ")
        ins, rest = ins.upper(), rest.strip()
        if ins == "FROM":
            image, _, name = rest.partition(" AS ")
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), image.strip())
            current = Stage(name.strip(), image)
            stages[current.name] = current
        elif current is None and ins == "ARG":
            key, _, default = rest.partition("=")
            args[key] = default
        elif current is not None:
            current.steps.append((ins, rest))
    return args, stages


@pytest.fixture(scope="module")
def docker() -> tuple[dict[str, str], dict[str, Stage]]:
    return parse(DOCKERFILE.read_text(encoding="utf-8"))


def test_it_is_multi_stage_with_a_cpu_and_a_gpu_image(
    docker: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    _, stages = docker
    assert {"build", "cpu", "gpu"} <= set(stages)
    assert "build-essential" not in " ".join(a for _, a in stages["cpu"].steps)
    assert stages["cpu"].all("COPY")[0].startswith("--from=build ")


@pytest.mark.parametrize(
    ("stage", "pattern"),
    [
        ("build", r"^python:3\.1[1-9]\.\d+-slim-bookworm$"),  # Debian 12, as set-up targets
        ("cpu", r"^python:3\.1[1-9]\.\d+-slim-bookworm$"),
        ("gpu", r"^nvidia/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+$"),
    ],
)
def test_base_images_are_pinned(
    docker: tuple[dict[str, str], dict[str, Stage]], stage: str, pattern: str
) -> None:
    assert re.match(pattern, docker[1][stage].base), docker[1][stage].base


@pytest.mark.parametrize("stage", ["cpu", "gpu"])
def test_runtime_images_run_as_a_non_root_user_with_a_health_check(
    docker: tuple[dict[str, str], dict[str, Stage]], stage: str
) -> None:
    s = docker[1][stage]
    user = s.all("USER")[-1].split(":")[0]
    assert user.isdigit() and int(user) >= 1000, user
    (health,) = s.all("HEALTHCHECK")
    assert "CMD" in health and "SHOUWANG_HEALTH_URL" in health
    assert any("SHOUWANG_HEALTH_URL=http://127.0.0.1:9108/metrics" in e for e in s.all("ENV"))
    assert s.all("ENTRYPOINT") == ['["shouwang"]']


def test_the_same_lock_file_is_installed_as_by_setup(
    docker: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    build = docker[1]["build"]
    assert any("requirements.lock" in c for c in build.all("COPY"))
    install = "--no-deps -r requirements.lock"
    assert any(install in r for r in build.all("RUN"))
    assert install in (REPO / "scripts" / "setup").read_text(encoding="utf-8")


def test_models_are_checked_and_prepared_at_build_time(
    docker: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    runs = " ".join(docker[1]["build"].all("RUN"))
    assert "shouwang models check" in runs and "shouwang models prepare" in runs
    for stage in ("cpu", "gpu"):
        env = " ".join(docker[1][stage].all("ENV"))
        assert "SHOUWANG_CACHE_DIR=/opt/shouwang/cache" in env  # where the build put them


def test_the_gpu_image_has_cuda_onnxruntime_and_video_decode(
    docker: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    args, stages = docker
    assert re.fullmatch(r"\d+\.\d+\.\d+", args["ONNXRUNTIME_GPU"])
    assert any("onnxruntime-gpu==${ONNXRUNTIME_GPU}" in r for r in stages["build-gpu"].all("RUN"))
    env = " ".join(stages["gpu"].all("ENV"))
    caps = re.search(r"NVIDIA_DRIVER_CAPABILITIES=(\S+)", env)
    assert caps and {"compute", "video"} <= set(caps[1].split(","))
    assert "SHOUWANG_PROVIDER=cuda" in env


def test_entry_points_are_the_ones_the_readme_and_pyproject_name(
    docker: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "shouwang" in scripts["scripts"]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for stage in ("cpu", "gpu"):
        (cmd,) = docker[1][stage].all("CMD")
        sub = cmd.strip("[]").split(",")[0].strip().strip('"')
        assert f"`shouwang {sub} " in readme, sub
    assert "docker build --target cpu" in (REPO / "docs" / "k8s.md").read_text(encoding="utf-8")
