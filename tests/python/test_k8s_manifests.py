"""deploy/k8s/ checked against the Kubernetes schemas (kubernetes-validate, strict: no unknown fields) and for the
facts that tie the manifests to the gateway: probes on /health/ready and /health/live, the grace period above the
drain, selectors that match, the secret the pods read. And the Dockerfile linted with hadolint (no image can be
built here: the network reaches Debian and PyPI only, not a container registry; docs/deploy.md)."""
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from conftest import ROOT

K8S = ROOT / "deploy" / "k8s"
# The oldest Kubernetes these manifests are for (autoscaling/v2 and policy/v1 are GA since 1.23 and 1.21).
VERSIONS = ["1.27.0", kubernetes_validate.latest_version()]
MANIFESTS = sorted(K8S.glob("*.yaml"))


def documents() -> dict[str, dict]:
    found = {}
    for path in MANIFESTS:
        for document in yaml.safe_load_all(path.read_text()):
            found[f"{document['kind']}/{document['metadata']['name']}"] = document
    return found


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=[p.name for p in MANIFESTS])
def test_each_manifest_is_valid_kubernetes(path, version):
    for document in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(document, version, strict=True)  # raises ValidationError


def test_a_wrong_manifest_is_refused_by_the_validator():
    deployment = documents()["Deployment/realtime-voice"]
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)
    unknown = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(unknown, VERSIONS[-1], strict=True)


def test_the_manifests_fit_the_gateway():
    found = documents()
    deployment = found["Deployment/realtime-voice"]
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    # Kubernetes kills the pod only after the drain has had its time.
    assert pod["spec"]["terminationGracePeriodSeconds"] > int(env["REALTIME_VOICE_DRAIN_TIMEOUT"]) + 5
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert found["Service/realtime-voice"]["spec"]["selector"].items() <= labels.items()
    assert found["PodDisruptionBudget/realtime-voice"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # The secret the pods read is the one shipped as an example.
    secret = container["envFrom"][0]["secretRef"]["name"]
    assert f"Secret/{secret}" in found and "REALTIME_VOICE_TOKENS" in found[f"Secret/{secret}"]["stringData"]
    for name in ("HorizontalPodAutoscaler/realtime-voice", "HorizontalPodAutoscaler/realtime-voice-sessions"):
        target = found[name]["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    sessions = found["HorizontalPodAutoscaler/realtime-voice-sessions"]["spec"]["metrics"][0]["pods"]["metric"]["name"]
    assert sessions in (ROOT / "Sources" / "RealtimeVoiceServer" / "Metrics" / "GatewayMetrics.swift").read_text()
    ingress = found["Ingress/realtime-voice"]
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 300
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 300
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "realtime-voice" and backend["port"]["name"] == found["Service/realtime-voice"]["spec"]["ports"][0]["name"]


def test_the_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run([str(hadolint), "--no-color", "--config", str(ROOT / ".hadolint.yaml"), str(ROOT / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
