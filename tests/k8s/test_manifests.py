"""k8s/: every overlay renders, passes ``kubernetes-validate --strict`` and KEDA's models,
and keeps the promises the platform depends on (volumes, drains, non-root, policies).

A deliberately broken overlay (tests/k8s/broken) and a misspelled KEDA field must fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject

from shouwang.config import parse_site
from tests.k8s.conftest import (
    BROKEN,
    K8S,
    OVERLAYS,
    documents,
    render,
    unknown_fields,
    validate,
)

MANIFESTS = sorted(K8S.rglob("*.yaml"))
KEDA_MODELS = {"ScaledObject": ScaledObject}


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param, render(K8S / "overlays" / request.param)


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_parses_with_kind_and_name(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    assert docs
    for doc in docs:
        assert "kind" in doc and "apiVersion" in doc
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"]


def test_there_is_an_overlay_for_a_compound_and_for_a_city() -> None:
    assert {"compound", "city"} <= set(OVERLAYS)


def test_shipped_site_config_is_valid() -> None:
    cm = yaml.safe_load((K8S / "base" / "site-config.yaml").read_text(encoding="utf-8"))
    site = parse_site(yaml.safe_load(cm["data"]["site.yaml"]))
    assert site.cameras[0].detect_url is not None


def test_overlay_passes_kubernetes_validate_strict(rendered: tuple[str, str]) -> None:
    name, manifests = rendered
    res = validate(manifests)
    assert res.returncode == 0, f"{name}: {res.stdout}{res.stderr}"


def test_keda_objects_match_keda_s_models(rendered: tuple[str, str]) -> None:
    name, manifests = rendered
    keda = [d for d in documents(manifests) if d["apiVersion"].startswith("keda.sh/")]
    assert {d["metadata"]["name"] for d in keda} == {"worker", "serve"}
    for doc in keda:
        model = KEDA_MODELS[doc["kind"]].model_validate(doc)
        assert not unknown_fields(model, doc), f"{name}: {doc['kind']} {unknown_fields(model, doc)}"


def test_a_broken_manifest_fails_the_validation() -> None:
    res = validate(render(BROKEN))
    assert res.returncode != 0
    assert "replcas" in res.stdout + res.stderr


@pytest.mark.parametrize(
    ("where", "typo"),
    [("spec", "minReplicas"), ("spec.triggers.0", "metdata"), ("spec.scaleTargetRef", "knd")],
)
def test_a_misspelled_keda_field_is_caught(where: str, typo: str) -> None:
    doc = by_kind(documents(render(K8S / "overlays" / "compound")), "ScaledObject")["worker"]
    node: Any = doc
    for part in where.split("."):
        node = node[int(part)] if part.isdigit() else node[part]
    node[typo] = 1
    model = ScaledObject.model_validate(doc)
    assert any(p.endswith(typo) for p in unknown_fields(model, doc)), typo


def _pods(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet")
    }


def test_every_pod_is_non_root_read_only_and_bounded(rendered: tuple[str, str]) -> None:
    _name, manifests = rendered
    for key, wl in _pods(documents(manifests)).items():
        pod = wl["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, key
        assert pod["securityContext"]["runAsUser"] != 0, key
        for c in pod.get("initContainers", []) + pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, f"{key}/{c['name']}"
            assert sc["allowPrivilegeEscalation"] is False, f"{key}/{c['name']}"
            assert {"requests", "limits"} <= set(c["resources"]), f"{key}/{c['name']}"
            assert "memory" in c["resources"]["limits"], f"{key}/{c['name']}"


def test_workers_keep_outbox_and_evidence_on_their_own_volume(rendered: tuple[str, str]) -> None:
    _name, manifests = rendered
    docs = documents(manifests)
    worker = by_kind(docs, "StatefulSet")["worker"]
    pod = worker["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = by_kind(docs, "ConfigMap")["shouwang-env"]["data"]
    data_dir = env["SHOUWANG_DATA_DIR"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    claims = {t["metadata"]["name"] for t in worker["spec"]["volumeClaimTemplates"]}
    assert mounts[data_dir] in claims  # a persistent volume per pod, never an emptyDir
    assert all("emptyDir" not in v for v in pod["volumes"] if v["name"] == mounts[data_dir])
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["shouwang", "leases", "drain"]
    ids = {e["name"]: e for e in container["env"]}
    assert ids["SHOUWANG_WORKER_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_every_workload_has_a_disruption_budget(rendered: tuple[str, str]) -> None:
    name, manifests = rendered
    docs = documents(manifests)
    budgets = [
        d["spec"]["selector"]["matchLabels"] for d in docs if d["kind"] == "PodDisruptionBudget"
    ]
    for key, wl in _pods(docs).items():
        labels = wl["spec"]["template"]["metadata"]["labels"]
        assert any(b.items() <= labels.items() for b in budgets), f"{name}: {key} has no PDB"


def test_only_the_web_service_is_reachable_from_outside(rendered: tuple[str, str]) -> None:
    _name, manifests = rendered
    docs = documents(manifests)
    policies = by_kind(docs, "NetworkPolicy")
    deny = policies["default-deny-ingress"]["spec"]
    assert (
        deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    )
    from_ingress = [
        p for p in policies.values()
        if any("namespaceSelector" in f and f["namespaceSelector"]["matchLabels"].get(
            "kubernetes.io/metadata.name") == "ingress-nginx"
            for rule in p["spec"].get("ingress", []) for f in rule.get("from", []))
    ]  # fmt: skip
    assert [p["metadata"]["name"] for p in from_ingress] == ["serve-from-ingress"]
    ingress = by_kind(docs, "Ingress")["serve"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "serve"
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Ingress"} == {"serve"}


def test_the_web_service_runs_shouwang_serve_on_8080_with_its_database(
    rendered: tuple[str, str],
) -> None:
    _name, manifests = rendered
    docs = documents(manifests)
    pod = by_kind(docs, "Deployment")["serve"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["args"][0] == "serve"
    assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"containerPort": 8080, "name": "http"} in c["ports"]
    assert {"secretRef": {"name": "shouwang-database"}} in c["envFrom"]
    example = documents((K8S / "base" / "database-secret.example.yaml").read_text())
    assert "SHOUWANG_DATABASE_URL" in by_kind(example, "Secret")["shouwang-database"]["stringData"]


def test_redis_runs_with_three_sentinels_and_clients_use_them(rendered: tuple[str, str]) -> None:
    _name, manifests = rendered
    docs = documents(manifests)
    redis = by_kind(docs, "StatefulSet")["redis"]
    assert redis["spec"]["replicas"] == 3
    names = [c["name"] for c in redis["spec"]["template"]["spec"]["containers"]]
    assert names == ["redis", "sentinel"]
    url = by_kind(docs, "ConfigMap")["shouwang-env"]["data"]["REDIS_URL"]
    assert url.startswith("redis+sentinel://") and url.count(":26379") == 3


def test_workers_scale_on_enabled_cameras_consumers_on_lag(rendered: tuple[str, str]) -> None:
    _name, manifests = rendered
    scaled = by_kind(documents(manifests), "ScaledObject")
    worker = scaled["worker"]["spec"]
    assert worker["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": "worker",
    }
    (trigger,) = worker["triggers"]
    assert "shouwang_site_cameras_enabled" in trigger["metadata"]["query"]
    consumers = scaled["serve"]["spec"]["triggers"]
    assert {t["type"] for t in consumers} == {"redis-sentinel-streams"}
    assert all("lagCount" in t["metadata"] for t in consumers)


def test_the_city_runs_workers_on_gpus_and_postgres_outside() -> None:
    docs = documents(render(K8S / "overlays" / "city"))
    pod = by_kind(docs, "StatefulSet")["worker"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"name": "SHOUWANG_PROVIDER", "value": "cuda"} in c["env"]
    assert c["image"].endswith("-gpu")
    assert "postgres" not in by_kind(docs, "StatefulSet")
