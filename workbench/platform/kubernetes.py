"""The Kubernetes profile: daskhub-style Helm values rendered from the local profile's sources.

No cluster runs on the development machine, so the Kubernetes profile is not a second
hand-written configuration that could drift: ``render`` builds the values of a daskhub-style
umbrella chart (the ``jupyterhub`` z2jh chart and the ``dask-gateway`` chart side by side)
from the very objects the local hub and gateway use:

- roles and scopes: ``hubconfig.rbac_roles`` (the chart's own idle culler brings its role;
  managers and field officers reach the dashboards service only);
- per-role server memory caps: ``spawner.DEFAULT_ROLE_LIMITS``, applied with
  ``Spawner.group_overrides`` keyed on the role group, so a person cannot pick a bigger
  profile than their role grants (a ``profile_list`` would be a user's choice);
- the notebook servers' token scopes and Dask Gateway client environment: ``gateway``;
- per-role cluster limits: ``gateway.DEFAULT_GATEWAY_LIMITS``, written into the gateway's
  ``extraConfig`` as data and turned into the same options handler as the local backend's
  by ``configure_gateway`` (with pod limits = requests);
- idle timeouts: ``HubProfile`` defaults;
- the audit service and the SIEM loop (``components``): Deployments of the umbrella chart's
  own template (``templates/workbench.yaml`` renders ``workbench.objects``), see below;
- restarts: locally supervisord restarts a component that dies (``stack``); on Kubernetes
  each role is a Deployment whose kubelet restarts a dead container and whose probes
  (``probes``) also restart one that hangs (liveness) and take one out of its Service
  while it cannot serve (readiness): proxy and hub (z2jh chart), gateway (dask-gateway
  chart). The hub's liveness probe, off in the chart, is on: the local hub is restarted
  when it dies, and one that stops answering is as good as dead. A pod in CrashLoopBackOff
  is the FATAL of supervisord; the cluster's monitoring alerts on it, not the SIEM.

The audit service, the SIEM and the dashboards (``components``): the audit service is the
one writer of the trail and knows its clients by ``SO_PEERCRED``, a Unix socket's peer
credentials, which do not cross a network. So it is one replica (``Recreate``: never two
writers of one chain) over a ReadWriteOnce volume holding the trail (``trail/``) and its
socket (``socket/``), and every pod that records through it mounts ``socket/`` and runs on
the same node (pod affinity: same kernel, same socket, real peer credentials): the audit
pod goes where the hub pod is, and the SIEM, the dashboards and every notebook server
follow the audit pod. Identity by uid, as on the local stack: the platform's own pods
(hub, SIEM, dashboards) run as the chart's hub uid (``PLATFORM_UID``), which is the audit
service's own and so trusted to name whom a record is about (the hub recording a login,
the dashboards a viewer); each notebook server runs as ``NOTEBOOK_UID_BASE`` + its
person's account number (``notebook_uid``, from the account store on the hub's volume),
which the audit service maps back to the name (``audit serve --uid-base``, reading the
same store: its pod mounts the hub's volume, possible because it runs on the hub's node).
A person with no account number gets no server rather than a shared uid. The SIEM loop
records through the socket, reads the trail read-only, reads and writes the lake with
the ``system`` role's object-store credentials, and touches a heartbeat file each cycle,
which its liveness probe checks (a hung loop is restarted). The dashboards service is the
local one (``workbench apps hub-service``) listening on its Service's port, with the hub
service token the z2jh chart generates (``hub.services.dashboards``), the cookie secret
from a Secret the operator creates (``<release>-dashboards``, key ``cookie-secret``), the
hub's volume for the field-device store, and readiness/liveness on its ``/health``.
Not rendered: published apps' own servers (locally each runs as its publisher's Unix
user; a pod per app is not built), so the service on Kubernetes serves the registered apps.
All of this pins the notebook servers to one node; a per-node audit relay would lift that.

Secrets are never values: the z2jh chart generates the proxy token, cookie secret and the
services' API tokens into its ``hub`` Secret, the gateway reads its token from there
(``apiTokenFromSecretName``), and the lake's per-role object-store credentials come from
Secrets ``<release>-lake-<role>`` that the operator creates (``secretKeyRef``): in the
notebook servers' environment (``group_overrides``) and in the scheduler's and workers' of
that role's gateway clusters (``configure_gateway``); both also get the lake's location
and endpoint (``KubeProfile.lake_storage_options``), so a worker reaches the lake with
its own pod's keys and no key rides in a task graph.

``workbench platform render-k8s --output hub_config/kubernetes`` writes the checked-in
files; a test renders again and compares, so a change to a role or a limit that is not
re-rendered fails the suite.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from workbench.platform import gateway
from workbench.security.accounts import Role
from workbench.platform.cgroups import parse_size
from workbench.platform.hubconfig import rbac_roles
from workbench.platform.profile import DASHBOARDS_PREFIX, DASHBOARDS_SERVICE, HubProfile
from workbench.platform.spawner import DEFAULT_ROLE_LIMITS
from workbench.platform.userenv import singleuser_cmd
from workbench.settings import Settings

VALUES_FILE = "values.yaml"
TEMPLATE_FILE = "templates/workbench.yaml"
TEMPLATE = """{{- /* The workbench's own objects (audit service, SIEM loop, dashboards), rendered from values.workbench.objects */ -}}
{{- range .Values.workbench.objects }}
---
{{ toYaml . }}
{{- end }}
"""
ACCOUNTS_DIR = "/srv/jupyterhub/workbench"  # on the hub's sqlite-pvc volume, next to its database
HUB_SECRET = "hub"  # the z2jh chart's own Secret (fullnameOverride "")
HEADER = ("# Generated by `workbench platform render-k8s` from workbench/platform/* (roles, limits,\n"
          "# scopes, timeouts). Do not edit: change the Python source and render again.\n")


@dataclass(frozen=True)
class KubeProfile:
    """What differs between clusters: names, image, lake location. Limits are not here on purpose."""

    release: str = "workbench"
    namespace: str = "workbench"
    image: str = "customs-workbench"  # one image for hub, servers, gateway and workers: same versions
    tag: str = "0.1.0"
    lake: str = "s3://customs-lake/lake"
    lake_endpoint: str = ""  # S3-compatible endpoint (MinIO); "" = the cloud's default
    dashboards_url: str = "http://workbench-dashboards:5006"  # the dashboards Service (``components``)

    def lake_secret(self, role: str) -> str:
        return f"{self.release}-lake-{role}"

    def lake_storage_options(self) -> dict[str, str]:
        """Where the object store is, for notebooks and Dask workers alike (``WORKBENCH_STORAGE_OPTIONS``).

        Only the endpoint travels as a setting: pyarrow (which ``wb.dask``'s loaders read
        with) ignores ``AWS_ENDPOINT_URL`` in the environment, Delta Lake honours it. The
        keys are not here: both libraries' default credential chains read them from the
        pod's environment (the role's Secret), so a loader pickled into a task graph
        carries none and each worker reads with its own pod's keys.
        """
        if not self.lake_endpoint:
            return {}
        options = {"AWS_ENDPOINT_URL": self.lake_endpoint}
        if self.lake_endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
        return options

    @property
    def gateway_traefik(self) -> str:
        return f"traefik-{self.release}-dask-gateway.{self.namespace}"


def _secret_env(secret: str, key: str) -> dict[str, Any]:
    return {"valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def server_roles() -> list[str]:
    """Roles that get a notebook server (managers and field officers do not), in a stable order."""
    return [r.value for r in Role if r.value in DEFAULT_ROLE_LIMITS]


def group_overrides(profile: KubeProfile) -> dict[str, Any]:
    """``KubeSpawner.group_overrides``: each role's memory cap and its own lake credentials."""
    overrides: dict[str, Any] = {}
    for i, role in enumerate(server_roles(), start=1):
        secret = profile.lake_secret(role)
        credentials = {env.pop("name"): env for env in lake_credentials(secret)}
        overrides[f"{i:02d}-{role}"] = {
            "groups": [role],
            "spawner_override": {
                "mem_limit": DEFAULT_ROLE_LIMITS[role],
                "mem_guarantee": DEFAULT_ROLE_LIMITS[role],
                "environment": {"WORKBENCH_ROLE": role, **credentials},
            },
        }
    return overrides


def load_roles() -> dict[str, Any]:
    """``hub.loadRoles`` (a dict keyed by name in z2jh) from the local hub's roles."""
    return {role["name"]: {k: v for k, v in role.items() if k != "name"} for role in rbac_roles(idle_culler=False)}


def gateway_limits_data() -> dict[str, dict[str, float]]:
    return {role: asdict(lim) for role, lim in sorted(gateway.DEFAULT_GATEWAY_LIMITS.items())}


def gateway_extra_config(profile: KubeProfile, idle_timeout: float) -> str:
    """The gateway's ``extraConfig``: the local options handler over the same limits, as data."""
    limits = json.dumps(gateway_limits_data(), sort_keys=True)
    secrets = json.dumps({role: profile.lake_secret(role) for role in gateway.DEFAULT_GATEWAY_LIMITS}, sort_keys=True)
    return ("from workbench.platform.kubernetes import configure_gateway\n"
            f"configure_gateway(c, {limits},\n"
            f"                  lake_secrets={secrets},\n"
            f"                  idle_timeout={idle_timeout!r})\n")


def lake_credentials(secret: str) -> list[dict[str, Any]]:
    """The container ``env`` entries that read a role's object-store keys from its Secret."""
    return [{"name": name, **_secret_env(secret, key)}
            for name, key in (("AWS_ACCESS_KEY_ID", "access-key-id"), ("AWS_SECRET_ACCESS_KEY", "secret-access-key"))]


def configure_gateway(c: Any, limits: dict[str, dict[str, float]], lake_secrets: dict[str, str],
                      idle_timeout: float) -> None:
    """Called from the chart's gateway config: hub auth with scopes, per-role limits, idle timeout.

    A cluster's scheduler and workers get the requesting role's lake credentials (from
    that role's Secret), so a worker reads exactly what the person's notebook may read.
    """
    c.DaskGateway.authenticator_class = gateway.HubTokenAuthenticator
    c.JupyterHubAuthenticator.jupyterhub_service_name = gateway.SERVICE_NAME
    c.JupyterHubAuthenticator.use_service_access_scopes = True
    c.KubeClusterConfig.scheduler_cmd = gateway.dask_command("python", "scheduler")
    c.KubeClusterConfig.worker_cmd = gateway.dask_command("python", "worker")
    c.KubeClusterConfig.idle_timeout = float(idle_timeout)
    per_role = {role: {f"{part}_extra_container_config": {"env": lake_credentials(secret)}
                       for part in ("scheduler", "worker")} for role, secret in lake_secrets.items()}
    c.KubeBackend.cluster_options = gateway.cluster_options(
        {role: gateway.GatewayLimits(**lim) for role, lim in limits.items()}, float(idle_timeout),
        hard_limits=True, role_config=per_role)


def probe(initial: int, period: int, failures: int, timeout: int = 3) -> dict[str, Any]:
    """A chart's probe settings (z2jh and dask-gateway share these keys)."""
    return {"enabled": True, "initialDelaySeconds": initial, "periodSeconds": period, "timeoutSeconds": timeout,
            "failureThreshold": failures}


PROBES = {
    # Readiness: out of the Service within ~10 s of not answering (the local stack's "back within 10 s").
    # Liveness: restarted after ~1 min without an answer (a hung process; a dead one restarts at once).
    "hub": {"livenessProbe": probe(60, 10, 6), "readinessProbe": probe(0, 2, 5)},
    "proxy": {"livenessProbe": probe(60, 10, 6), "readinessProbe": probe(0, 2, 5)},
    "gateway": {"livenessProbe": probe(10, 10, 6), "readinessProbe": probe(5, 2, 5)},
}


AUDIT_TRAIL = "/srv/audit"
AUDIT_SOCKET_DIR = "/run/workbench-audit"
AUDIT_SOCKET = f"{AUDIT_SOCKET_DIR}/audit.sock"
SIEM_HEARTBEAT = "/tmp/siem-heartbeat"
HUB_VOLUME = "hub-db-dir"  # the z2jh chart's hub PVC (sqlite-pvc), which holds ACCOUNTS_DIR
HUB_VOLUME_PATH = "/srv/jupyterhub"
HUB_POD_LABELS = {"app": "jupyterhub", "component": "hub"}  # the z2jh chart's labels of the hub pod
PLATFORM_UID = 1000
"""The z2jh hub container's uid; the platform's own pods run as it, so the audit service trusts them."""
NOTEBOOK_UID_BASE = 200000
"""A notebook pod runs as this + its person's account number (``notebook_uid``)."""
DASHBOARDS_PORT = 5006
DASHBOARDS_PUBLISHED = "/srv/dashboards"
DASHBOARDS_SECRET_DIR = "/etc/workbench-dashboards"


def notebook_uid(spawner: Any) -> int:
    """``KubeSpawner.uid`` on Kubernetes: ``NOTEBOOK_UID_BASE`` + the person's account number.

    Why: the audit service names a peer by its uid (``SO_PEERCRED``); the chart's one uid for
    every server would make everyone the same person, and the hub's uid would make them
    trusted. Fails (no server) for a name without an account rather than sharing a uid.
    """
    from workbench.security.accounts import AccountStore

    number = AccountStore(ACCOUNTS_DIR).number(spawner.user.name)
    if number is None:
        raise ValueError(f"{spawner.user.name!r} has no workbench account: no uid to run a server as")
    return NOTEBOOK_UID_BASE + number
SOCKET_PROBE = ("import socket, sys; s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])")
"""The audit pod's probe: the socket accepts a connection (what every client needs), nothing more."""


def _labels(profile: KubeProfile, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "workbench", "app.kubernetes.io/instance": profile.release,
            "app.kubernetes.io/component": component}


def _exec_probe(command: list[str], initial: int, period: int, failures: int, timeout: int = 3) -> dict[str, Any]:
    return {"exec": {"command": command}, "initialDelaySeconds": initial, "periodSeconds": period,
            "timeoutSeconds": timeout, "failureThreshold": failures}


def _deployment(profile: KubeProfile, component: str, container: dict[str, Any], volumes: list[dict[str, Any]],
                affinity: dict[str, Any] | None = None) -> dict[str, Any]:
    """One replica, replaced not rolled (``Recreate``): a second copy must never run beside the first."""
    labels = _labels(profile, component)
    pod: dict[str, Any] = {"containers": [{"name": component, "image": f"{profile.image}:{profile.tag}",
                                           **container}],
                           "volumes": volumes, "restartPolicy": "Always"}
    if affinity:
        pod["affinity"] = affinity
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"{profile.release}-{component}", "namespace": profile.namespace, "labels": labels},
            "spec": {"replicas": 1, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": pod}}}


def _same_node_as(labels: dict[str, str]) -> dict[str, Any]:
    """A pod affinity: on the node of the pod with ``labels`` (one kernel: the audit socket's peer credentials)."""
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}]}}


def _claim(profile: KubeProfile, component: str, size: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"{profile.release}-{component}", "namespace": profile.namespace,
                         "labels": _labels(profile, component)},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}


AUDIT_VOLUME = "audit"
SOCKET_MOUNT = {"name": AUDIT_VOLUME, "mountPath": AUDIT_SOCKET_DIR, "subPath": "socket"}
HUB_STATE_MOUNT = {"name": "hub-state", "mountPath": HUB_VOLUME_PATH}
AS_PLATFORM = {"runAsUser": PLATFORM_UID, "runAsGroup": PLATFORM_UID}


def _audit_volume(profile: KubeProfile) -> dict[str, Any]:
    return {"name": AUDIT_VOLUME, "persistentVolumeClaim": {"claimName": f"{profile.release}-audit"}}


def _hub_volume() -> dict[str, Any]:
    return {"name": "hub-state", "persistentVolumeClaim": {"claimName": HUB_VOLUME}}


def dashboards_command(prefix: str = DASHBOARDS_PREFIX) -> list[str]:
    """The local dashboards service's command (``hubconfig.dashboards_service``), listening in a pod."""
    return ["workbench", "apps", "hub-service", "--port", str(DASHBOARDS_PORT),
            "--address", "0.0.0.0", "--prefix", prefix, "--published", f"{DASHBOARDS_PUBLISHED}/published",
            "--cookie-secret-file", f"{DASHBOARDS_SECRET_DIR}/cookie-secret", "--origin=proxy-public"]


def dashboards_environment(profile: KubeProfile) -> list[dict[str, Any]]:
    """What the hub gives a managed service (``stack.service_environment``), for the chart's hub."""
    scopes = json.dumps(["access:services", f"access:services!service={DASHBOARDS_SERVICE}"])
    plain = {
        "JUPYTERHUB_SERVICE_NAME": DASHBOARDS_SERVICE, "JUPYTERHUB_API_URL": "http://hub:8081/hub/api",
        "JUPYTERHUB_BASE_URL": "/", "JUPYTERHUB_CLIENT_ID": f"service-{DASHBOARDS_SERVICE}", "JUPYTERHUB_HOST": "",
        "JUPYTERHUB_SERVICE_PREFIX": f"{DASHBOARDS_PREFIX}/",
        "JUPYTERHUB_SERVICE_URL": f"http://0.0.0.0:{DASHBOARDS_PORT}",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{DASHBOARDS_PREFIX}/oauth_callback",
        "JUPYTERHUB_OAUTH_SCOPES": scopes, "JUPYTERHUB_OAUTH_ACCESS_SCOPES": scopes,
        "JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES": "[]",
        # As the local service: the least privileged role of its own; each document as its viewer.
        "WORKBENCH_ROLE": "manager", "WORKBENCH_USER": DASHBOARDS_SERVICE, "HOME": DASHBOARDS_PUBLISHED,
        "WORKBENCH_HUB_STATE_DIR": ACCOUNTS_DIR, "WORKBENCH_LAKE": profile.lake,
        "WORKBENCH_AUDIT_SOCKET": AUDIT_SOCKET,
        **({"WORKBENCH_STORAGE_OPTIONS": json.dumps(profile.lake_storage_options(), sort_keys=True)}
           if profile.lake_storage_options() else {}),
    }
    return [*({"name": k, "value": v} for k, v in plain.items()),
            {"name": "JUPYTERHUB_API_TOKEN",
             **_secret_env(HUB_SECRET, f"hub.services.{DASHBOARDS_SERVICE}.apiToken")},
            *lake_credentials(profile.lake_secret("system"))]


def components(profile: KubeProfile, siem_interval: float) -> list[dict[str, Any]]:
    """The audit service, the SIEM loop and the dashboards service as Kubernetes objects (module docstring)."""
    system = {"WORKBENCH_ROLE": "system", "WORKBENCH_USER": "siem"}
    audit_probe = _exec_probe(["python", "-c", SOCKET_PROBE, AUDIT_SOCKET], 5, 5, 3)
    audit = _deployment(profile, "audit", {
        "command": ["python", "-m", "workbench.cli.audit", "serve", "--dir", AUDIT_TRAIL, "--socket", AUDIT_SOCKET,
                    "--accounts", ACCOUNTS_DIR, "--uid-base", str(NOTEBOOK_UID_BASE)],
        "env": [{"name": k, "value": v} for k, v in system.items()],
        "securityContext": AS_PLATFORM,
        "volumeMounts": [{"name": AUDIT_VOLUME, "mountPath": AUDIT_TRAIL, "subPath": "trail"}, SOCKET_MOUNT,
                         HUB_STATE_MOUNT],
        "readinessProbe": audit_probe, "livenessProbe": {**audit_probe, "initialDelaySeconds": 30},
        "resources": {"requests": {"cpu": "100m", "memory": "256M"}, "limits": {"memory": "512M"}},
    }, [_audit_volume(profile), _hub_volume()], affinity=_same_node_as(HUB_POD_LABELS))
    stale = int(3 * siem_interval + 60)  # a cycle over a busy lake may take a while; three missed are a hang
    siem = _deployment(profile, "siem", {
        "command": ["python", "-m", "workbench.cli.audit", "siem", "--lake", profile.lake, "--dir", AUDIT_TRAIL,
                    "--every", f"{siem_interval:g}", "--heartbeat", SIEM_HEARTBEAT],
        "env": [*({"name": k, "value": v} for k, v in system.items()),
                {"name": "WORKBENCH_AUDIT_SOCKET", "value": AUDIT_SOCKET},
                *([{"name": "WORKBENCH_STORAGE_OPTIONS", "value": json.dumps(profile.lake_storage_options(),
                                                                            sort_keys=True)}]
                  if profile.lake_storage_options() else []),
                *lake_credentials(profile.lake_secret("system"))],
        "securityContext": AS_PLATFORM,
        "volumeMounts": [{"name": AUDIT_VOLUME, "mountPath": AUDIT_TRAIL, "subPath": "trail", "readOnly": True},
                         SOCKET_MOUNT],
        "livenessProbe": _exec_probe(["sh", "-c", f'test $(( $(date +%s) - $(stat -c %Y {SIEM_HEARTBEAT}) )) -lt {stale}'],
                                     stale, 30, 2),
        "resources": {"requests": {"cpu": "250m", "memory": "1G"}, "limits": {"memory": "2G"}},
    }, [_audit_volume(profile)], affinity=_same_node_as(_labels(profile, "audit")))
    health = {"httpGet": {"path": f"{DASHBOARDS_PREFIX}/health", "port": DASHBOARDS_PORT}, "periodSeconds": 2,
              "timeoutSeconds": 3}
    dashboards = _deployment(profile, "dashboards", {
        "command": dashboards_command(),
        "env": dashboards_environment(profile),
        "ports": [{"name": "http", "containerPort": DASHBOARDS_PORT}],
        "securityContext": AS_PLATFORM,
        "volumeMounts": [{"name": "published", "mountPath": DASHBOARDS_PUBLISHED},
                         {"name": "cookie-secret", "mountPath": DASHBOARDS_SECRET_DIR, "readOnly": True},
                         SOCKET_MOUNT, HUB_STATE_MOUNT],
        # Ready as soon as it answers (the local "back and serving"); restarted after ~1 min without an answer.
        "readinessProbe": {**health, "initialDelaySeconds": 2, "failureThreshold": 3},
        "livenessProbe": {**health, "initialDelaySeconds": 30, "periodSeconds": 10, "failureThreshold": 6},
        "resources": {"requests": {"cpu": "250m", "memory": "1G"}, "limits": {"memory": "2G"}},
    }, [{"name": "published", "persistentVolumeClaim": {"claimName": f"{profile.release}-dashboards"}},
        {"name": "cookie-secret", "secret": {"secretName": f"{profile.release}-dashboards",
                                             "items": [{"key": "cookie-secret", "path": "cookie-secret"}]}},
        _audit_volume(profile), _hub_volume()], affinity=_same_node_as(_labels(profile, "audit")))
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": f"{profile.release}-dashboards", "namespace": profile.namespace,
                            "labels": _labels(profile, "dashboards")},
               "spec": {"selector": _labels(profile, "dashboards"),
                        "ports": [{"name": "http", "port": DASHBOARDS_PORT, "targetPort": "http"}]}}
    return [_claim(profile, "audit", "20Gi"), audit, siem, _claim(profile, "dashboards", "5Gi"), dashboards, service]


def audit_wiring(profile: KubeProfile) -> tuple[dict[str, Any], dict[str, Any]]:
    """(hub, singleuser) values that put the hub's and the notebook servers' records through the audit pod:
    its socket mounted, ``WORKBENCH_AUDIT_SOCKET`` set, notebook pods on its node as their person's uid."""
    socket_env = {"WORKBENCH_AUDIT_SOCKET": AUDIT_SOCKET}
    hub = {
        "extraVolumes": [_audit_volume(profile)],
        "extraVolumeMounts": [SOCKET_MOUNT],
        "extraEnv": socket_env,
        "extraConfig": {"workbench-audit": ("from workbench.platform.kubernetes import notebook_uid\n"
                                            "c.KubeSpawner.uid = notebook_uid  # the audit service names peers by uid\n")},
    }
    singleuser = {
        "storage": {"extraVolumes": [_audit_volume(profile)], "extraVolumeMounts": [SOCKET_MOUNT]},
        "extraPodAffinity": {"required": _same_node_as(_labels(profile, "audit"))["podAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]},
    }
    return hub, {**singleuser, "extraEnv": socket_env}


def _resources(cores: float, memory_gib: float) -> dict[str, Any]:
    memory = f"{int(memory_gib * 1024)}M"
    return {"cores": {"request": cores, "limit": cores}, "memory": {"request": memory, "limit": memory}}


def values(profile: KubeProfile | None = None) -> dict[str, Any]:
    """The umbrella chart's values: ``jupyterhub`` (z2jh) and ``dask-gateway`` sections."""
    profile = profile or KubeProfile()
    local = HubProfile()
    image = {"name": profile.image, "tag": profile.tag}
    smallest = min(server_roles(), key=lambda r: parse_size(DEFAULT_ROLE_LIMITS[r]))
    lake_env: dict[str, Any] = {"WORKBENCH_LAKE": profile.lake}
    if profile.lake_storage_options():
        lake_env["WORKBENCH_STORAGE_OPTIONS"] = json.dumps(profile.lake_storage_options(), sort_keys=True)
    analyst = gateway.DEFAULT_GATEWAY_LIMITS[Role.ANALYST.value]
    hub_audit, singleuser_audit = audit_wiring(profile)
    return {
        "jupyterhub": {
            "hub": {
                "image": image,
                "db": {"type": "sqlite-pvc"},
                "config": {
                    "JupyterHub": {"authenticator_class": "workbench.platform.authenticator.WorkbenchAuthenticator"},
                    "Authenticator": {"allow_all": True, "auth_refresh_age": 1, "refresh_pre_spawn": True},
                    # Pods are the sandbox on Kubernetes: no Unix users are made in the hub pod.
                    "WorkbenchAuthenticator": {"accounts_dir": ACCOUNTS_DIR, "create_system_users": False},
                    "KubeSpawner": {
                        "group_overrides": group_overrides(profile),
                        # As the local hub's: the gateway and, for `workbench publish`, the dashboards.
                        "server_token_scopes": [*gateway.server_token_scopes(),
                                                f"access:services!service={DASHBOARDS_SERVICE}"],
                    },
                },
                "loadRoles": load_roles(),
                **PROBES["hub"],
                **{key: value for key, value in hub_audit.items() if key != "extraEnv"},
                "extraEnv": hub_audit["extraEnv"],
                "services": {
                    gateway.SERVICE_NAME: {"display": False, "url": f"http://{profile.gateway_traefik}"},
                    DASHBOARDS_SERVICE: {"display": True, "oauth_no_confirm": True, "url": profile.dashboards_url},
                },
            },
            "proxy": {"service": {"type": "ClusterIP"},  # exposed through the cluster's ingress/TLS
                      "chp": PROBES["proxy"]},
            "singleuser": {
                "image": image,
                "cmd": singleuser_cmd("python"),
                "defaultUrl": "/lab",
                "startTimeout": 60,
                # Users without a workbench role get the smallest cap (roles override it).
                "memory": {"limit": DEFAULT_ROLE_LIMITS[smallest], "guarantee": DEFAULT_ROLE_LIMITS[smallest]},
                "extraEnv": {
                    **gateway.client_environment(f"http://proxy-public{gateway.SERVICE_PREFIX}",
                                                 f"gateway://{profile.gateway_traefik}:80"),
                    "WORKBENCH_DASHBOARDS_URL": f"http://proxy-public{DASHBOARDS_PREFIX}",
                    "WORKBENCH_HUB_TOKEN": "$(JUPYTERHUB_API_TOKEN)",  # Kubernetes expands it in the pod
                    **lake_env,
                    **singleuser_audit["extraEnv"],
                },
                "storage": singleuser_audit["storage"],
                "extraPodAffinity": singleuser_audit["extraPodAffinity"],
            },
            "cull": {"enabled": True, "timeout": local.idle_timeout, "every": 300, "users": False},
        },
        "dask-gateway": {
            "gateway": {
                "prefix": gateway.SERVICE_PREFIX,
                "image": image,
                "auth": {"type": "jupyterhub", "jupyterhub": {
                    "apiTokenFromSecretName": HUB_SECRET,
                    "apiTokenFromSecretKey": f"hub.services.{gateway.SERVICE_NAME}.apiToken"}},
                "backend": {
                    "image": image,
                    "namespace": profile.namespace,
                    "environment": {**lake_env, **gateway.DASK_HTTP_ENVIRONMENT},
                    "scheduler": _resources(1, analyst.scheduler_memory_gib),
                    "worker": {**_resources(1, analyst.default_worker_memory_gib), "threads": 1},
                },
                "extraConfig": {"workbench": gateway_extra_config(profile, float(local.gateway_idle_timeout))},
                **PROBES["gateway"],
            },
            "traefik": {"service": {"type": "ClusterIP"}},
        },
        "workbench": {"objects": components(profile, float(Settings.model_fields["siem_interval"].default))},
    }


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (the gateway's extraConfig stays readable Python), no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def render(profile: KubeProfile | None = None) -> dict[str, str]:
    """File name -> text of the Kubernetes profile."""
    text = yaml.dump(values(profile), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
    return {VALUES_FILE: HEADER + text, TEMPLATE_FILE: TEMPLATE}


def write(output: str | Path, profile: KubeProfile | None = None) -> list[Path]:
    """Render into ``output`` (created if needed); returns the files written."""
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render(profile).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
        written.append(folder / name)
    return written
