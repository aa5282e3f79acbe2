"""The Kubernetes profile (hub_config/kubernetes/values.yaml): rendered, current, valid, secret-free.

No cluster runs here, so the values are checked against what the charts and the classes
they configure accept: every traitlet named in ``hub.config`` and ``group_overrides``
exists on its class (jupyterhub-kubespawner installed), every ``gateway.backend`` value
maps (through the dask-gateway chart's own forwarding table, copied below) onto a
``KubeClusterConfig`` trait, the gateway's ``extraConfig`` runs on a real traitlets
config and yields the same per-role cluster configuration as the local backend, and the
limits, roles and timeouts equal the local profile's.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from traitlets.config import Config

from tests.hub_support import REPO
from workbench.platform import gateway, hubconfig, kubernetes, profile
from workbench.security.accounts import ACCOUNTS_SERVICE
from workbench.platform.cgroups import parse_size
from workbench.platform.spawner import DEFAULT_ROLE_LIMITS

CHECKED_IN = REPO / "hub_config" / "kubernetes"

# The dask-gateway chart's templates/gateway/configmap.yaml forwards these values of
# gateway.backend to KubeClusterConfig traits (value path -> trait).
CHART_BACKEND_TRAITS = {
    "scheduler.cores.request": "scheduler_cores", "scheduler.cores.limit": "scheduler_cores_limit",
    "scheduler.memory.request": "scheduler_memory", "scheduler.memory.limit": "scheduler_memory_limit",
    "scheduler.extraContainerConfig": "scheduler_extra_container_config",
    "scheduler.extraPodConfig": "scheduler_extra_pod_config",
    "worker.cores.request": "worker_cores", "worker.cores.limit": "worker_cores_limit",
    "worker.memory.request": "worker_memory", "worker.memory.limit": "worker_memory_limit",
    "worker.extraContainerConfig": "worker_extra_container_config",
    "worker.extraPodConfig": "worker_extra_pod_config",
    "worker.threads": "worker_threads", "image.pullPolicy": "image_pull_policy",
    "environment": "environment", "namespace": "namespace",
    "image.name": "image", "image.tag": "image",
}
# z2jh's jupyterhub_config.py sets these KubeSpawner traits from singleuser.* values.
Z2JH_SINGLEUSER_TRAITS = {
    "image": "image", "cmd": "cmd", "defaultUrl": "default_url", "startTimeout": "start_timeout",
    "memory": "mem_limit", "extraEnv": "environment", "cpu": "cpu_limit",
    "storage": "volumes", "extraPodAffinity": "pod_affinity_required",
}
# Keys the charts' schemas allow in the sections the profile sets (a subset of each).
CHART_KEYS = {
    "jupyterhub": {"hub", "proxy", "singleuser", "cull", "scheduling", "prePuller", "ingress"},
    "jupyterhub.hub": {"image", "db", "config", "loadRoles", "services", "extraConfig", "existingSecret",
                       "extraEnv", "baseUrl", "livenessProbe", "readinessProbe", "extraVolumes", "extraVolumeMounts"},
    "jupyterhub.singleuser.storage": {"type", "extraVolumes", "extraVolumeMounts", "capacity", "homeMountPath"},
    "jupyterhub.singleuser.extraPodAffinity": {"required", "preferred"},
    "jupyterhub.proxy.chp": {"livenessProbe", "readinessProbe", "image", "resources", "extraCommandLineFlags"},
    "jupyterhub.cull": {"enabled", "timeout", "every", "users", "adminUsers", "removeNamedServers", "concurrency",
                        "maxAge"},
    "jupyterhub.proxy": {"service", "chp", "https", "secretToken"},
    "dask-gateway": {"gateway", "traefik", "controller", "rbac"},
    "dask-gateway.gateway": {"prefix", "image", "auth", "backend", "extraConfig", "loglevel", "replicas",
                             "livenessProbe", "readinessProbe"},
    "dask-gateway.gateway.backend": {"image", "namespace", "environment", "scheduler", "worker"},
}
SECRET_KEYS = re.compile(r"(token|secret|password|cookie|crypt|keys?)$", re.IGNORECASE)  # names that hold secrets
ENV_REFERENCE = re.compile(r"^\$\([A-Z_]+\)$")  # Kubernetes expands $(VAR) from the pod's own env
REFERENCE_KEYS = {"apiTokenFromSecretName", "apiTokenFromSecretKey", "secretKeyRef", "key", "name",
                  "topologyKey"}  # a node label name


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    text = (CHECKED_IN / kubernetes.VALUES_FILE).read_text()
    return yaml.safe_load(text)


def test_checked_in_values_are_the_rendered_output(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from workbench.cli.platform import platform

    result = CliRunner().invoke(platform, ["render-k8s", "--output", str(tmp_path / "k8s")])
    assert result.exit_code == 0, result.output
    rendered = {str(p.relative_to(tmp_path / "k8s")): p.read_text() for p in (tmp_path / "k8s").rglob("*") if p.is_file()}
    checked_in = {str(p.relative_to(CHECKED_IN)): p.read_text() for p in CHECKED_IN.rglob("*") if p.is_file()}
    assert rendered == checked_in, "hub_config/kubernetes is stale: run `workbench platform render-k8s --output hub_config/kubernetes`"


def test_sections_use_only_keys_the_charts_know(values: dict[str, Any]) -> None:
    assert set(values) == {"jupyterhub", "dask-gateway", "workbench"}
    for path, allowed in CHART_KEYS.items():
        node: Any = values
        for part in path.split("."):
            node = node[part]
        assert set(node) <= allowed, (path, set(node) - allowed)
    # Both charts' probe settings (hub, proxy.chp, gateway): on, and only the keys they template.
    probes = [values["jupyterhub"]["hub"], values["jupyterhub"]["proxy"]["chp"], values["dask-gateway"]["gateway"]]
    for section in probes:
        for kind in ("livenessProbe", "readinessProbe"):
            assert set(section[kind]) == {"enabled", "initialDelaySeconds", "periodSeconds", "timeoutSeconds",
                                          "failureThreshold"} and section[kind]["enabled"] is True


def test_every_hub_traitlet_exists_on_its_class(values: dict[str, Any]) -> None:
    from jupyterhub.app import JupyterHub
    from jupyterhub.auth import Authenticator
    from kubespawner import KubeSpawner

    from workbench.platform.authenticator import WorkbenchAuthenticator

    classes = {"JupyterHub": JupyterHub, "Authenticator": Authenticator,
               "WorkbenchAuthenticator": WorkbenchAuthenticator, "KubeSpawner": KubeSpawner}
    config = values["jupyterhub"]["hub"]["config"]
    assert set(config) <= set(classes)
    for cls_name, traits in config.items():
        known = classes[cls_name].class_traits(config=True)
        assert set(traits) <= set(known), (cls_name, set(traits) - set(known))
    spawner_traits = KubeSpawner.class_traits(config=True)
    for override in config["KubeSpawner"]["group_overrides"].values():
        assert set(override) == {"groups", "spawner_override"}
        assert set(override["spawner_override"]) <= set(spawner_traits)
        spawner = KubeSpawner.__new__(KubeSpawner)  # the traits' own validation, no API client
        for name in ("mem_limit", "mem_guarantee"):
            spawner_traits[name].validate(spawner, override["spawner_override"][name])
    for key in values["jupyterhub"]["singleuser"]:
        assert Z2JH_SINGLEUSER_TRAITS[key] in spawner_traits, key
    authenticator = config["JupyterHub"]["authenticator_class"]
    module, _, name = authenticator.rpartition(".")
    assert getattr(__import__(module, fromlist=[name]), name) is WorkbenchAuthenticator


def test_gateway_values_map_onto_kube_cluster_config(values: dict[str, Any]) -> None:
    from dask_gateway_server.backends.kubernetes import KubeClusterConfig

    def leaves(node: dict[str, Any], prefix: str = "") -> list[str]:
        out = []
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and path not in CHART_BACKEND_TRAITS:
                out += leaves(value, path + ".")
            else:
                out.append(path)
        return out

    traits = KubeClusterConfig.class_traits(config=True)
    for path in leaves(values["dask-gateway"]["gateway"]["backend"]):
        assert path in CHART_BACKEND_TRAITS, path
        assert CHART_BACKEND_TRAITS[path] in traits, path


def run_gateway_extra_config(values: dict[str, Any]) -> Config:
    c = Config()
    for snippet in values["dask-gateway"]["gateway"]["extraConfig"].values():
        exec(compile(snippet, "gateway.extraConfig", "exec"), {"c": c})  # as the chart's config file does
    return c


def test_gateway_extra_config_gives_each_role_the_local_limits(values: dict[str, Any]) -> None:
    from dask_gateway_server.app import DaskGateway
    from dask_gateway_server.auth import JupyterHubAuthenticator
    from dask_gateway_server.backends.kubernetes import KubeBackend, KubeClusterConfig
    from dask_gateway_server.models import User

    c = run_gateway_extra_config(values)
    for section, cls in [("DaskGateway", DaskGateway), ("JupyterHubAuthenticator", JupyterHubAuthenticator),
                         ("KubeClusterConfig", KubeClusterConfig), ("KubeBackend", KubeBackend)]:
        assert set(c[section]) <= set(cls.class_traits(config=True)), section
    kube_traits = KubeClusterConfig.class_traits(config=True)
    local_options = gateway.cluster_options(gateway.DEFAULT_GATEWAY_LIMITS, float(profile.HubProfile().gateway_idle_timeout))
    for role, lim in gateway.DEFAULT_GATEWAY_LIMITS.items():
        user = User(role, groups=[role])
        kube, local = c.KubeBackend.cluster_options(user), local_options(user)
        wanted = {"worker_cores": lim.max_worker_cores, "worker_memory": lim.max_worker_memory_gib}
        kube_config = kube.get_configuration(kube.parse_options(wanted), user)
        local_config = local.get_configuration(local.parse_options(wanted), user)
        assert set(kube_config) <= set(kube_traits)
        assert {k: v for k, v in kube_config.items() if k in local_config} == local_config
        assert kube_config["worker_memory_limit"] == kube_config["worker_memory"] == int(lim.max_worker_memory_gib * 2**30)
        assert kube_config["scheduler_cores_limit"] == kube_config["scheduler_cores"]
        env = kube_config["worker_extra_container_config"]["env"]
        assert {e["valueFrom"]["secretKeyRef"]["name"] for e in env} == {f"workbench-lake-{role}"}
        with pytest.raises(Exception, match="less than or equal|maximum|<="):
            kube.parse_options({"worker_cores": lim.max_worker_cores + 1})
    for role in ("manager", "field_officer", "admin"):
        refused = c.KubeBackend.cluster_options(User(role, groups=[role]))
        with pytest.raises(gateway.NoClustersForRole):
            refused.get_configuration(refused.parse_options({}), User(role, groups=[role]))


def test_limits_roles_and_timeouts_equal_the_local_profile(values: dict[str, Any],
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hub = values["jupyterhub"]
    local = profile.HubProfile(state_dir=tmp_path, demo_accounts=False)
    caps = {o["groups"][0]: o["spawner_override"]["mem_limit"]
            for o in hub["hub"]["config"]["KubeSpawner"]["group_overrides"].values()}
    assert caps == local.role_mem_limits == DEFAULT_ROLE_LIMITS
    assert not {"manager", "field_officer"} & set(caps)  # no server, so no profile
    granted: dict[str, set[str]] = {}
    for role in hub["hub"]["loadRoles"].values():
        for group in role.get("groups", []):
            granted.setdefault(group, set()).update(role["scopes"])
    for group in ("manager", "field_officer"):  # the dashboards service and nothing else
        assert granted[group] == {"access:services!service=dashboards"}, group
    assert parse_size(hub["singleuser"]["memory"]["limit"]) == min(parse_size(v) for v in caps.values())
    assert [{"name": n, **r} for n, r in hub["hub"]["loadRoles"].items()] == hubconfig.rbac_roles(idle_culler=False)
    assert hub["cull"] == {"enabled": True, "timeout": local.idle_timeout, "every": 300, "users": False}
    assert hub["singleuser"]["extraEnv"].keys() >= gateway.single_user_environment(local).keys()

    # The local hub's own configuration, as jupyterhub_config.py applies it (no state built).
    monkeypatch.setattr(hubconfig, "prepare_state", lambda profile: None)
    (tmp_path / "private").mkdir()
    c = Config()
    hubconfig.apply(c, local)
    assert hub["hub"]["config"]["KubeSpawner"]["server_token_scopes"] == c.Spawner.server_token_scopes
    for key in ("auth_refresh_age", "refresh_pre_spawn", "allow_all"):
        assert hub["hub"]["config"]["Authenticator"][key] == c.Authenticator[key]
    assert hub["singleuser"]["startTimeout"] == c.Spawner.start_timeout
    assert hub["singleuser"]["defaultUrl"] == c.Spawner.default_url
    assert hub["singleuser"]["cmd"][1:] == c.Spawner.cmd[1:]
    gw = Config()
    gateway.configure(gw, local)
    assert run_gateway_extra_config(values).KubeClusterConfig.idle_timeout == gw.ClusterConfig.idle_timeout
    assert run_gateway_extra_config(values).KubeClusterConfig.worker_cmd[1:] == gw.ClusterConfig.worker_cmd[1:]
    # z2jh's cull runs its own idle culler; the account service stops local servers and clusters only
    # (on Kubernetes the admin stops them: README, "Accounts").
    services = {s["name"] for s in c.JupyterHub.services} - {"idle-culler", ACCOUNTS_SERVICE}
    assert services <= set(hub["hub"]["services"])


def test_no_secret_value_is_inline(values: dict[str, Any]) -> None:
    text = (CHECKED_IN / kubernetes.VALUES_FILE).read_text()
    tokens = [w for w in re.findall(r"[A-Za-z0-9+/_\-]{32,}={0,2}", text)
              if re.fullmatch(r"[0-9a-f]+", w) or all(re.search(c, w) for c in ("[a-z]", "[A-Z]", "[0-9]"))]
    assert not tokens, f"token-like values inline: {tokens}"

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if "secretKeyRef" in node:
                assert set(node["secretKeyRef"]) == {"name", "key"}, path
                return
            if isinstance(node.get("secret"), dict):  # a volume of a Secret's keys: named, never inlined
                assert set(node["secret"]) <= {"secretName", "items"}, path
                return
            for key, value in node.items():
                reference = (isinstance(value, dict) and "secretKeyRef" in value.get("valueFrom", {})
                             or isinstance(value, str) and ENV_REFERENCE.match(value) is not None)
                if SECRET_KEYS.search(str(key)) and str(key) not in REFERENCE_KEYS and not reference:
                    pytest.fail(f"secret-looking key {path}.{key} holds a value inline")
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")

    walk(values, "")
    gw_auth = values["dask-gateway"]["gateway"]["auth"]["jupyterhub"]
    assert gw_auth == {"apiTokenFromSecretName": "hub", "apiTokenFromSecretKey": "hub.services.dask-gateway.apiToken"}
    for service in values["jupyterhub"]["hub"]["services"].values():
        assert "apiToken" not in service and "api_token" not in service  # z2jh generates them into its Secret


def _round_trip(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` through the Kubernetes client's own model of its kind and back: a key the API does not know is
    dropped on the way (a misspelt probe field would vanish), a wrong type raises."""
    import asyncio
    import json

    from kubernetes_asyncio.client import ApiClient

    class Response:
        data = json.dumps(obj)

    async def run() -> dict[str, Any]:
        api = ApiClient()
        try:
            version = obj["apiVersion"].rpartition("/")[2].capitalize()
            model = api.deserialize(Response(), f"{version}{obj['kind']}")
            return dict(api.sanitize_for_serialization(model))
        finally:
            await api.close()

    return asyncio.run(run())


TEMPLATE_LINE = re.compile(r"^(\{\{- /\*.*\*/ -\}\}|\{\{- range \.Values\.workbench\.objects \}\}|---|"
                           r"\{\{ toYaml \. \}\}|\{\{- end \}\})$")


def render_objects(template: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """What ``helm template`` makes of the chart's own template, rendered here without helm (not installable on
    this machine): the template may hold only a comment and ``range .Values.workbench.objects`` over ``---`` and
    ``toYaml .`` (any other line fails the test rather than being misread); each object is dumped as YAML and
    the stream read back as Kubernetes would read the manifest."""
    lines = template.strip().splitlines()
    assert all(TEMPLATE_LINE.match(line) for line in lines), [line for line in lines if not TEMPLATE_LINE.match(line)]
    assert [line for line in lines if not line.startswith("{{- /*")] == [
        "{{- range .Values.workbench.objects }}", "---", "{{ toYaml . }}", "{{- end }}"]
    manifest = "".join(f"\n---\n{yaml.safe_dump(obj, sort_keys=True)}" for obj in values["workbench"]["objects"])
    return [doc for doc in yaml.safe_load_all(manifest) if doc is not None]


def _by_name(values: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    objects = render_objects((CHECKED_IN / kubernetes.TEMPLATE_FILE).read_text(), values)
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_audit_siem_and_dashboards_are_objects_the_api_accepts(values: dict[str, Any]) -> None:
    """Rendered for Kubernetes like the local stack runs them: the same commands, one audit writer, probes."""
    from workbench.cli.audit import audit
    from workbench.platform import stack

    by_name = _by_name(values)
    for obj in by_name.values():
        assert _round_trip(obj) == obj, obj["metadata"]["name"]
    assert set(by_name) == {("PersistentVolumeClaim", "workbench-audit"), ("Deployment", "workbench-audit"),
                            ("Deployment", "workbench-siem"), ("PersistentVolumeClaim", "workbench-dashboards"),
                            ("Deployment", "workbench-dashboards"), ("Service", "workbench-dashboards")}
    audit_pod = by_name["Deployment", "workbench-audit"]["spec"]
    siem_pod = by_name["Deployment", "workbench-siem"]["spec"]
    for spec in (audit_pod, siem_pod):  # one writer of one chain, never two side by side during a rollout
        assert (spec["replicas"], spec["strategy"]["type"]) == (1, "Recreate")
        assert spec["selector"]["matchLabels"] == spec["template"]["metadata"]["labels"]
    [audit_box] = audit_pod["template"]["spec"]["containers"]
    [siem_box] = siem_pod["template"]["spec"]["containers"]
    assert {"readinessProbe", "livenessProbe"} <= set(audit_box) and "livenessProbe" in siem_box
    # The same sub-commands the local supervisord runs, and each parses with the real CLI.
    local = {p.name: list(p.command) for p in stack.security_programs(profile.HubProfile(lake="/tmp/lake"))}
    for name, box in (("audit", audit_box), ("siem", siem_box)):
        assert box["command"][:4] == ["python", "-m", "workbench.cli.audit", local[name][3]]
        audit.commands[box["command"][3]].make_context(name, list(box["command"][4:]))  # an unknown option raises
    # The SIEM records through the audit pod's socket: same volume, same node (peer credentials need one kernel).
    socket_path = audit_box["command"][audit_box["command"].index("--socket") + 1]
    assert {"name": "WORKBENCH_AUDIT_SOCKET", "value": socket_path} in siem_box["env"]
    assert _same_node_as(siem_pod["template"]["spec"]) == audit_pod["selector"]["matchLabels"]
    assert _same_node_as(audit_pod["template"]["spec"]) == kubernetes.HUB_POD_LABELS  # the hub records through it
    mounts = {m["mountPath"]: m for m in siem_box["volumeMounts"]}
    assert mounts[kubernetes.AUDIT_TRAIL].get("readOnly") is True
    # The probes run: the audit probe connects to a listening socket and fails without one; the SIEM's
    # liveness passes on a fresh heartbeat and fails on a stale one.
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "audit.sock")
        probe = [sys.executable, *audit_box["readinessProbe"]["exec"]["command"][1:-1], path]
        assert subprocess.run(probe, capture_output=True).returncode != 0
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(path)
            server.listen()
            assert subprocess.run(probe, capture_output=True).returncode == 0
        beat = os.path.join(folder, "beat")
        check = siem_box["livenessProbe"]["exec"]["command"][2].replace(kubernetes.SIEM_HEARTBEAT, beat)
        assert subprocess.run(["sh", "-c", check]).returncode != 0  # no heartbeat yet
        open(beat, "w").close()
        assert subprocess.run(["sh", "-c", check]).returncode == 0
        os.utime(beat, (0, 0))
        assert subprocess.run(["sh", "-c", check]).returncode != 0


def _same_node_as(pod: dict[str, Any]) -> dict[str, str]:
    """The labels of the pod whose node ``pod`` must share (its one required pod affinity)."""
    [term] = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    return dict(term["labelSelector"]["matchLabels"])


def test_dashboards_deployment_runs_the_local_service_behind_the_hubs_service_url(
        values: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.cli.apps import apps
    from workbench.platform import stack

    by_name = _by_name(values)
    pod = by_name["Deployment", "workbench-dashboards"]["spec"]
    service = by_name["Service", "workbench-dashboards"]["spec"]
    [box] = pod["template"]["spec"]["containers"]
    # The hub's services entry reaches it: the Service's name and port, selecting this pod's labels.
    url = values["jupyterhub"]["hub"]["services"]["dashboards"]["url"]
    assert url == f"http://workbench-dashboards:{service['ports'][0]['port']}"
    assert service["selector"] == pod["selector"]["matchLabels"] == pod["template"]["metadata"]["labels"]
    assert service["ports"][0]["targetPort"] == box["ports"][0]["name"]
    # The local supervised program's command and options, listening on the pod's address; it parses.
    monkeypatch.setattr(hubconfig, "prepare_state", lambda profile: None)
    (tmp_path / "private").mkdir()
    [local] = [p for p in stack.service_programs(profile.HubProfile(state_dir=tmp_path, demo_accounts=False))
               if p.name == "dashboards"]
    options = lambda command: {a.split("=")[0] for a in command if a.startswith("--")}  # noqa: E731
    assert box["command"][1:3] == list(local.command[1:3]) == ["apps", "hub-service"]
    assert options(box["command"]) == options(local.command) | {"--address"}
    hub_service = apps.commands["hub-service"]
    hub_service.make_context("hub-service", list(box["command"][3:]))  # raises on an unknown option
    assert box["command"][box["command"].index("--address") + 1] == "0.0.0.0"
    # Everything the hub gives a managed service, the token from the z2jh chart's own Secret.
    env = {e["name"]: e for e in box["env"]}
    assert set(local.environment) >= {n for n in env if n.startswith("JUPYTERHUB_")}
    assert {n for n in local.environment if n.startswith("JUPYTERHUB_")} <= set(env)
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "hub", "key": "hub.services.dashboards.apiToken"}
    assert env["WORKBENCH_AUDIT_SOCKET"]["value"] == kubernetes.AUDIT_SOCKET
    assert env["WORKBENCH_ROLE"]["value"] == "manager"  # the least privileged role of its own, as locally
    # Probed like the local stack's "back and serving": its health check, ready within seconds.
    for kind in ("readinessProbe", "livenessProbe"):
        assert box[kind]["httpGet"] == {"path": "/services/dashboards/health", "port": box["ports"][0]["containerPort"]}
    assert box["readinessProbe"]["periodSeconds"] * box["readinessProbe"]["failureThreshold"] <= 10
    assert _same_node_as(pod["template"]["spec"]) == by_name["Deployment", "workbench-audit"]["spec"]["selector"][
        "matchLabels"]
    mounts = {m["mountPath"]: m for m in box["volumeMounts"]}
    assert mounts[kubernetes.AUDIT_SOCKET_DIR]["subPath"] == "socket"


def test_hub_and_notebook_pods_record_through_the_audit_pod_as_their_person(
        values: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub pod and every notebook pod mount the audit socket and name it; notebooks run on the audit pod's
    node as uid base + account number, and the audit service (as rendered) names such a peer by its account."""
    from types import SimpleNamespace

    from kubespawner import KubeSpawner

    from workbench.cli.audit import audit
    from workbench.security.accounts import AccountStore
    from workbench.security.audit_service import AuditService

    hub, single = values["jupyterhub"]["hub"], values["jupyterhub"]["singleuser"]
    audit_pod = _by_name(values)["Deployment", "workbench-audit"]["spec"]
    claim = {"persistentVolumeClaim": {"claimName": "workbench-audit"}}
    socket_mount = {"name": "audit", "mountPath": kubernetes.AUDIT_SOCKET_DIR, "subPath": "socket"}
    assert hub["extraVolumes"] == single["storage"]["extraVolumes"] == [{"name": "audit", **claim}]
    assert hub["extraVolumeMounts"] == single["storage"]["extraVolumeMounts"] == [socket_mount]
    assert hub["extraEnv"]["WORKBENCH_AUDIT_SOCKET"] == single["extraEnv"]["WORKBENCH_AUDIT_SOCKET"] == \
        kubernetes.AUDIT_SOCKET
    [term] = single["extraPodAffinity"]["required"]
    assert term["labelSelector"]["matchLabels"] == audit_pod["selector"]["matchLabels"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    spawner_traits = KubeSpawner.class_traits(config=True)
    spawner = KubeSpawner.__new__(KubeSpawner)
    spawner_traits["volumes"].validate(spawner, single["storage"]["extraVolumes"])
    spawner_traits["pod_affinity_required"].validate(spawner, single["extraPodAffinity"]["required"])
    # The hub's extraConfig sets KubeSpawner.uid to a callable the trait accepts.
    c = Config()
    for snippet in hub["extraConfig"].values():
        exec(compile(snippet, "hub.extraConfig", "exec"), {"c": c})
    spawner_traits["uid"].validate(spawner, c.KubeSpawner.uid)
    # The uid a notebook pod gets is the one the rendered audit service maps back to its person.
    accounts_dir = kubernetes.ACCOUNTS_DIR  # the hub's (and the authenticator's) store, on the hub's volume
    monkeypatch.setattr(kubernetes, "ACCOUNTS_DIR", str(tmp_path / "hub"))
    store = AccountStore(tmp_path / "hub")
    store.add("alice", "analyst", "Correct-Horse-Battery-9")
    store.add("bob", "modeller", "Correct-Horse-Battery-9")
    uids = {name: c.KubeSpawner.uid(SimpleNamespace(user=SimpleNamespace(name=name))) for name in ("alice", "bob")}
    assert len(set(uids.values())) == 2 and min(uids.values()) > kubernetes.NOTEBOOK_UID_BASE
    with pytest.raises(ValueError, match="no workbench account"):  # no account: no server, never a shared uid
        c.KubeSpawner.uid(SimpleNamespace(user=SimpleNamespace(name="mallory")))
    [box] = audit_pod["template"]["spec"]["containers"]
    options = box["command"][3:]
    audit.commands["serve"].make_context("serve", list(options[1:]))  # parses with the real CLI
    assert options[options.index("--accounts") + 1] == accounts_dir
    assert values["jupyterhub"]["hub"]["config"]["WorkbenchAuthenticator"]["accounts_dir"] == accounts_dir
    assert {"name": "hub-state", "mountPath": kubernetes.HUB_VOLUME_PATH} in box["volumeMounts"]
    assert accounts_dir.startswith(kubernetes.HUB_VOLUME_PATH + "/")
    from workbench.security.accounts import numbered_peers

    service = AuditService(tmp_path / "trail", tmp_path / "s" / "audit.sock",
                           peer_names=numbered_peers(tmp_path / "hub", int(options[options.index("--uid-base") + 1])))
    try:
        for name, uid in uids.items():
            user, _role, notes = service.identify(uid, claimed_user="admin", claimed_role="admin")
            assert (user, notes.get("claimed_user")) == (name, "admin")  # its person, not what it claims
        assert service.identify(kubernetes.NOTEBOOK_UID_BASE + 999, None, None)[0].startswith("uid:")
    finally:
        service.server_close()
    assert box["securityContext"]["runAsUser"] == kubernetes.PLATFORM_UID  # the hub's uid: the hub is trusted
