"""clusters/ validates: launcher YAMLs against the JSON schema Ray's cluster launcher itself uses
(`ray/autoscaler/ray-schema.json` of the installed Ray), KubeRay manifests against the required structure
of the ray.io/v1 RayJob / RayCluster CRDs, and the rules of issue 17 that make a job start: no `pip -e`,
shared storage named by READ_RAY_RUNS_DIR, /dev/shm in memory, the HF token from a secret, nothing
listening on a public address without a gate. Reads files only: no Ray started, well under a second.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

CLUSTERS = Path(__file__).resolve().parents[2] / "clusters"
RUNS_DIR = "/mnt/shared/read_ray/runs"


def ray_launcher_schema() -> dict:
    spec = importlib.util.find_spec("ray")      # locate the file; importing ray is not needed
    assert spec is not None and spec.submodule_search_locations, "ray is not installed"
    path = Path(next(iter(spec.submodule_search_locations))) / "autoscaler" / "ray-schema.json"
    return json.loads(path.read_text())


def yaml_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def launcher_files() -> list[Path]:
    return [p for p in sorted(CLUSTERS.glob("*.yaml")) if "provider" in yaml_docs(p)[0]]


def kube_docs(kind: str) -> list[dict]:
    return [d for p in sorted(CLUSTERS.glob("*.yaml")) for d in yaml_docs(p) if d.get("kind") == kind]


# ---------------------------------------------------------------------------------------------------------
# KubeRay: the required structure of the ray.io/v1 CRDs (RayCluster spec, RayJob spec) and of a pod template

def _pod_template_errors(where: str, template: dict) -> list[str]:
    errors = []
    spec = template.get("spec")
    if not isinstance(spec, dict):
        return [f"{where}.spec: missing"]
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [f"{where}.spec.containers: a non-empty list is required"]
    volumes = {v.get("name"): v for v in spec.get("volumes", [])}
    for k, c in enumerate(containers):
        for key in ("name", "image"):
            if not isinstance(c.get(key), str) or not c[key]:
                errors.append(f"{where}.spec.containers[{k}].{key}: required string")
        for m in c.get("volumeMounts", []):
            if m.get("name") not in volumes:
                errors.append(f"{where}.spec.containers[{k}].volumeMounts: {m.get('name')!r} names no volume")
            if not str(m.get("mountPath", "")).startswith("/"):
                errors.append(f"{where}.spec.containers[{k}].volumeMounts: mountPath must be absolute")
        for e in c.get("env", []):
            if "name" not in e or ("value" in e) == ("valueFrom" in e):
                errors.append(f"{where}.spec.containers[{k}].env: {e} needs a name and one of value/valueFrom")
    for name, v in volumes.items():
        sources = set(v) - {"name"}
        if len(sources) != 1:
            errors.append(f"{where}.spec.volumes[{name!r}]: exactly one volume source, got {sorted(sources)}")
    return errors


def raycluster_spec_errors(where: str, spec: dict) -> list[str]:
    errors = []
    head = spec.get("headGroupSpec")
    if not isinstance(head, dict) or "template" not in head:
        errors.append(f"{where}.headGroupSpec.template: required")
    else:
        if not isinstance(head.get("rayStartParams", {}), dict) or not all(
                isinstance(v, str) for v in head.get("rayStartParams", {}).values()):
            errors.append(f"{where}.headGroupSpec.rayStartParams: a map of strings")
        errors += _pod_template_errors(f"{where}.headGroupSpec.template", head["template"])
    for k, group in enumerate(spec.get("workerGroupSpecs", [])):
        w = f"{where}.workerGroupSpecs[{k}]"
        for key in ("groupName", "template"):
            if key not in group:
                errors.append(f"{w}.{key}: required")
        for key in ("replicas", "minReplicas", "maxReplicas"):
            if key in group and not isinstance(group[key], int):
                errors.append(f"{w}.{key}: integer")
        if isinstance(group.get("minReplicas"), int) and isinstance(group.get("maxReplicas"), int) \
                and not group["minReplicas"] <= group.get("replicas", group["minReplicas"]) <= group["maxReplicas"]:
            errors.append(f"{w}: minReplicas <= replicas <= maxReplicas")
        if not all(isinstance(v, str) for v in group.get("rayStartParams", {}).values()):
            errors.append(f"{w}.rayStartParams: a map of strings")
        if "template" in group:
            errors += _pod_template_errors(f"{w}.template", group["template"])
    return errors


def kuberay_errors(doc: dict) -> list[str]:
    if doc.get("apiVersion") != "ray.io/v1":
        return [f"apiVersion: {doc.get('apiVersion')!r}, expected 'ray.io/v1'"]
    if not doc.get("metadata", {}).get("name"):
        return ["metadata.name: required"]
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return ["spec: required"]
    if doc["kind"] == "RayCluster":
        return raycluster_spec_errors("spec", spec)
    errors = []
    if not isinstance(spec.get("entrypoint"), str) or not spec["entrypoint"].strip():
        errors.append("spec.entrypoint: required string")
    if "rayClusterSpec" not in spec and "clusterSelector" not in spec:
        errors.append("spec: one of rayClusterSpec / clusterSelector is required")
    if "rayClusterSpec" in spec:
        errors += raycluster_spec_errors("spec.rayClusterSpec", spec["rayClusterSpec"])
    if "runtimeEnvYAML" in spec:
        if not isinstance(yaml.safe_load(spec["runtimeEnvYAML"]), dict):
            errors.append("spec.runtimeEnvYAML: a YAML mapping")
    if "submitterPodTemplate" in spec:
        errors += _pod_template_errors("spec.submitterPodTemplate", spec["submitterPodTemplate"])
    return errors


def pod_templates(doc: dict) -> list[dict]:
    spec = doc["spec"].get("rayClusterSpec", doc["spec"])
    return [spec["headGroupSpec"]["template"]] + [g["template"] for g in spec.get("workerGroupSpecs", [])]


# ---------------------------------------------------------------------------------------------------------


def test_every_cluster_file_is_a_launcher_config_or_a_kubernetes_manifest():
    files = sorted(CLUSTERS.glob("*.yaml"))
    assert files
    for path in files:
        for doc in yaml_docs(path):
            assert "provider" in doc or {"apiVersion", "kind"} <= set(doc) or path.name == "runtime_env.yaml", path
    assert launcher_files(), "no cluster launcher YAML in clusters/"
    assert kube_docs("RayJob") or kube_docs("RayCluster"), "no KubeRay manifest in clusters/"


@pytest.mark.parametrize("path", launcher_files(), ids=lambda p: p.name)
def test_launcher_yaml_validates_against_rays_schema(path):
    config = yaml_docs(path)[0]
    jsonschema.validate(config, ray_launcher_schema())
    assert config["head_node_type"] in config["available_node_types"]


def test_the_launcher_schema_check_can_fail():
    """The schema really is Ray's and is strict: a node type without `resources` (as aws-gpu.yaml once had)
    and an unknown top-level key are both refused."""
    config = yaml_docs(launcher_files()[0])[0]
    broken = json.loads(json.dumps(config))
    del next(iter(broken["available_node_types"].values()))["resources"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, ray_launcher_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**config, "setup_comands": []}, ray_launcher_schema())


@pytest.mark.parametrize("path", launcher_files(), ids=lambda p: p.name)
def test_launcher_yaml_installs_the_package_mounts_shared_storage_and_keeps_the_dashboard_local(path):
    config = yaml_docs(path)[0]
    commands = " ".join(config.get("setup_commands", []) + config.get("head_setup_commands", [])
                        + config.get("worker_setup_commands", []))
    assert "pip install" in commands and "constraints-gpu.txt" in commands and "[gpu]" in commands
    mount_root = "/".join(RUNS_DIR.split("/")[:3])          # /mnt/shared
    assert "mount -t nfs4" in commands and mount_root in commands, "no shared (EFS/NFS) mount of " + mount_root
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in head
    assert "HF_TOKEN" not in path.read_text().replace("# ", "")  # the token is file-mounted, never written


@pytest.mark.parametrize("doc", kube_docs("RayJob") + kube_docs("RayCluster"), ids=lambda d: d["metadata"]["name"])
def test_kuberay_manifest_matches_the_crd_structure(doc):
    assert kuberay_errors(doc) == []


def test_the_crd_check_can_fail():
    doc = json.loads(json.dumps(kube_docs("RayJob")[0]))
    assert kuberay_errors({**doc, "apiVersion": "ray.io/v1alpha1"})
    doc["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0].pop("image")
    doc["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["volumes"].pop()
    errors = kuberay_errors(doc)
    assert any("image" in e for e in errors) and any("names no volume" in e for e in errors)


@pytest.mark.parametrize("doc", kube_docs("RayJob"), ids=lambda d: d["metadata"]["name"])
def test_kuberay_job_starts_with_storage_shm_secret_and_no_pip_install(doc):
    runtime_env = yaml.safe_load(doc["spec"].get("runtimeEnvYAML", "{}"))
    assert "pip" not in runtime_env and "uv" not in runtime_env, "Ray refuses pip: ['-e .']: install in the image"
    assert runtime_env["env_vars"]["READ_RAY_RUNS_DIR"] == RUNS_DIR
    assert "HF_TOKEN" not in runtime_env.get("env_vars", {})
    claims = {c["metadata"]["name"] for c in kube_docs("PersistentVolumeClaim") if "ReadWriteMany" in c["spec"]["accessModes"]}
    for template in pod_templates(doc):
        spec = template["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        for c in spec["containers"]:
            mounts = {m["mountPath"]: volumes[m["name"]] for m in c["volumeMounts"]}
            assert mounts["/dev/shm"].get("emptyDir", {}).get("medium") == "Memory"
            shared = [v for p, v in mounts.items() if RUNS_DIR.startswith(p.rstrip("/") + "/")]
            assert shared and shared[0]["persistentVolumeClaim"]["claimName"] in claims
            env = {e["name"]: e for e in c["env"]}
            assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["key"]
            assert env["RAY_AUTH_MODE"]["value"] == runtime_env["env_vars"]["RAY_AUTH_MODE"]
    head = doc["spec"]["rayClusterSpec"]["headGroupSpec"]
    if head["rayStartParams"].get("dashboard-host", "127.0.0.1") != "127.0.0.1":
        # reachable on the pod network (the operator needs it): only behind a ClusterIP service and a
        # NetworkPolicy that selects the head pod
        assert head.get("serviceType", "ClusterIP") == "ClusterIP"
        labels = head["template"]["metadata"]["labels"]
        policies = [p for p in kube_docs("NetworkPolicy")
                    if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
                    and "Ingress" in p["spec"]["policyTypes"]]
        assert policies, "the dashboard listens on the pod network with no NetworkPolicy in front of it"


def test_runtime_env_installs_nothing_and_names_absolute_shared_runs_dir():
    env = yaml.safe_load((CLUSTERS / "runtime_env.yaml").read_text())
    assert "pip" not in env and "conda" not in env
    assert env["env_vars"]["READ_RAY_RUNS_DIR"] == RUNS_DIR
    assert not {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "RAY_AUTH_TOKEN"} & set(env["env_vars"])
