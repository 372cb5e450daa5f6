"""The deployment manifests parse, and the site file they ship is a valid site."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shouwang.config import parse_site

K8S = Path(__file__).resolve().parents[1] / "k8s"


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_manifest_parses_with_kind_and_name(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    assert docs
    for doc in docs:
        assert "kind" in doc and "apiVersion" in doc
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"]


def test_kustomization_lists_existing_files() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    for res in kust["resources"]:
        assert (K8S / res).is_file(), res


def test_shipped_site_config_is_valid() -> None:
    cm = yaml.safe_load((K8S / "site-config.yaml").read_text(encoding="utf-8"))
    site = parse_site(yaml.safe_load(cm["data"]["site.yaml"]))
    assert site.cameras[0].detect_url is not None
