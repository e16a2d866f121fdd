"""The Kubernetes deployment (deploy/k8s) rendered and validated offline, as `make test` does it:
each overlay built by kustomize, each document checked against its schema. Kubernetes' own kinds
against the schemas the `kubernetes-validate` package bundles (strict: an unknown field is an
error); the operators' custom resources against ../shared/k8s-schemas (beside the clone, as CI
puts it: its README says where they come from). No cluster is needed, none is used."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
SCHEMAS = ROOT.parent / "shared" / "k8s-schemas"
# The oldest Kubernetes the manifests are written for (PodDisruptionBudget policy/v1,
# topologySpreadConstraints, the Job's ttlSecondsAfterFinished: all long stable by then).
KUBERNETES_VERSION = "1.30"
# Groups whose kinds are Kubernetes' own (and any `*.k8s.io`); the rest are custom resources.
_CORE_GROUPS = {"", "apps", "batch", "policy", "autoscaling"}


def renderer() -> list[str]:
    """The command that renders a kustomization: `kubectl kustomize`, else a standalone
    `kustomize build` (on PATH or where `make install` puts it: `go env GOPATH`/bin)."""
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    gopath = os.environ.get("GOPATH") or str(Path.home() / "go")
    if go := shutil.which("go"):
        gopath = subprocess.run([go, "env", "GOPATH"], capture_output=True, text=True).stdout
    for candidate in (shutil.which("kustomize"), str(Path(gopath.strip()) / "bin" / "kustomize")):
        if candidate and os.access(candidate, os.X_OK):
            return [candidate, "build"]
    raise RuntimeError(
        "neither kubectl nor kustomize is installed: `make install` builds kustomize with Go"
    )


@functools.cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    """The documents of `deploy/k8s/overlays/<overlay>` as kustomize renders them."""
    out = subprocess.run(
        [*renderer(), str(K8S / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


def documents(overlay: str) -> list[dict[str, Any]]:
    """A deep copy of the rendered documents, for a test to change."""
    copied: list[dict[str, Any]] = json.loads(json.dumps(render(overlay)))
    return copied


def _group_version(doc: dict[str, Any]) -> tuple[str, str]:
    api = str(doc.get("apiVersion", ""))
    group, _, version = api.rpartition("/")
    return group, version


@functools.cache
def _crd_schema(group: str, kind: str, version: str) -> dict[str, Any] | None:
    path = SCHEMAS / group / f"{kind.lower()}_{version}.json"
    if not path.exists():
        return None
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def name_of(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def problems(doc: dict[str, Any]) -> list[str]:
    """What is wrong with one document against its schema (empty: valid). A kind without a
    schema is a problem too: nothing goes unchecked."""
    group, version = _group_version(doc)
    kind = str(doc.get("kind", ""))
    if group in _CORE_GROUPS or group.endswith(".k8s.io"):
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            return [f"{name_of(doc)}: {exc.message}"]
        except kubernetes_validate.SchemaNotFoundError:
            return [f"{name_of(doc)}: no schema for {doc.get('apiVersion')} {kind}"]
        return []
    if not SCHEMAS.is_dir():
        raise RuntimeError(f"the custom resources' schemas are not at {SCHEMAS}")
    schema = _crd_schema(group, kind, version)
    if schema is None:
        return [f"{name_of(doc)}: no schema for {group}/{version} {kind} under {SCHEMAS}"]
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{name_of(doc)}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(doc)
    ]
