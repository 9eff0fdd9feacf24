"""deploy/kubernetes: the rendered manifests validate against the Kubernetes schemas, agree with the server's flags, and
the containers they describe start and serve when their commands run against the real zserve binary.

No cluster runs here. The kustomization is rendered by `kustomize build` or `kubectl kustomize` when either is on the
PATH, otherwise by render_kustomization below (the few kustomize fields deploy/kubernetes uses, refusing any other);
where a real kustomize exists the two renderings must agree. Every rendered object is validated with
kubernetes-validate's bundled schemas (strict: unknown fields are errors). The pod tests lay out each pod's volumes in
a temporary directory (Secrets with the group-readable mode a Secret volume has under fsGroup, ConfigMaps, the
server's repository volume, emptyDirs such as the worker's model cache), map every path the manifests name into it, and run the init containers' and
containers' commands as written, with only the hosts changed to 127.0.0.1 and the ports to free ones.
"""

import base64
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from zserve_testing import EXAMPLE_REPOSITORY, REPO_ROOT, run_server, skip_without_binary

skip_without_binary()

DEPLOY = REPO_ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes docs/deploying.md promises, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.29", kubernetes_validate.utils.latest_version()]
EXPECTED_OBJECTS = {
    ("Namespace", "zserve"), ("PersistentVolumeClaim", "zserve-models"), ("ConfigMap", "zserve-config"),
    ("Secret", "zserve-server-key"), ("Secret", "zserve-worker-key"), ("Secret", "zserve-admin-keys"),
    ("Deployment", "zserve-server"), ("Service", "zserve"), ("Service", "zserve-workers"),
    ("Deployment", "zserve-worker"), ("HorizontalPodAutoscaler", "zserve-worker"),
    ("PodDisruptionBudget", "zserve-worker"),
}
# zserve.yaml keys that hold paths, and those that hold endpoints (tcp://HOST:PORT, or HOST:PORT for metrics).
PATH_KEYS = ["model-repository", "server-key", "admin-keys", "worker-keys", "frontend-keys"]
ENDPOINT_KEYS = {"listen": "frontend", "admin": "admin", "worker-endpoint": "worker", "metrics-listen": "metrics"}
KEY_PAIRS = ["server", "worker", "operator"]
WAIT_S = 30


def zserve(*args, timeout=60) -> subprocess.CompletedProcess:
    """Runs the zserve binary; asserts it exits 0."""
    result = subprocess.run([os.environ["ZSERVE_BIN"], *map(str, args)], capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"zserve {' '.join(map(str, args))}: {result.returncode}\n{result.stderr}"
    return result


# --- rendering ---------------------------------------------------------------------------------------------------

def real_kustomize() -> list[str] | None:
    """`kustomize build` or `kubectl kustomize`, whichever is installed (None: neither)."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    kubectl = shutil.which("kubectl")
    if kubectl and subprocess.run([kubectl, "kustomize", "--help"], capture_output=True).returncode == 0:
        return ["kubectl", "kustomize"]
    return None


def render_with(command: list[str], directory: Path) -> list[dict]:
    """The objects `command DIRECTORY` prints."""
    result = subprocess.run([*command, str(directory)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_kustomization(directory: Path) -> list[dict]:
    """Renders a kustomization that uses only namespace, resources (files), images, and config map and secret
    generators from files without name hashes: what deploy/kubernetes uses. Anything else is refused, so a new
    kustomize feature in the manifests fails here rather than being silently ignored."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    supported = {"apiVersion", "kind", "namespace", "resources", "images", "generatorOptions", "configMapGenerator",
                 "secretGenerator"}
    assert set(kustomization) <= supported, f"not rendered without kustomize: {set(kustomization) - supported}"
    assert kustomization.get("generatorOptions") == {"disableNameSuffixHash": True}, \
        "name hashes are kustomize's own algorithm: only disableNameSuffixHash: true is rendered without it"
    objects = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        assert path.is_file(), f"resource {resource}: only files are rendered without kustomize"
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for kind, generators in [("ConfigMap", kustomization.get("configMapGenerator", [])),
                             ("Secret", kustomization.get("secretGenerator", []))]:
        for generator in generators:
            assert set(generator) <= {"name", "files"}, f"generator fields not rendered: {generator}"
            data = {}
            for entry in generator["files"]:
                key, _, source = entry.rpartition("=") if "=" in entry else (Path(entry).name, "", entry)
                content = (directory / source).read_bytes()
                data[key] = base64.b64encode(content).decode() if kind == "Secret" else content.decode()
            generated = {"apiVersion": "v1", "kind": kind, "metadata": {"name": generator["name"]}, "data": data}
            if kind == "Secret":
                generated["type"] = "Opaque"
            objects.append(generated)
    namespace = kustomization.get("namespace")
    for obj in objects:
        if obj["kind"] == "Namespace":
            obj["metadata"]["name"] = namespace or obj["metadata"]["name"]
        elif namespace:
            obj["metadata"]["namespace"] = namespace
        for image in kustomization.get("images", []):
            for container in pod_containers(obj):
                name, _, tag = container["image"].partition(":")
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag or 'latest')}"
    return objects


def pod_containers(obj: dict) -> list[dict]:
    """The init containers and containers of a workload's pod template (none for other objects)."""
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("initContainers", []) + spec.get("containers", [])


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Path:
    """A copy of deploy/kubernetes with keys/ written by `zserve keygen`, as docs/deploying.md says."""
    directory = tmp_path_factory.mktemp("kubernetes") / "kubernetes"
    shutil.copytree(DEPLOY, directory)
    (directory / "keys").mkdir()
    for name in KEY_PAIRS:
        zserve("keygen", "--out", directory / "keys" / name)
    return directory


@pytest.fixture(scope="module")
def rendered(deployment) -> dict[tuple[str, str], dict]:
    """The rendered objects by (kind, name): by a real kustomize where there is one."""
    command = real_kustomize()
    objects = render_with(command, deployment) if command else render_kustomization(deployment)
    by_key = {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}
    assert len(by_key) == len(objects), "two objects with the same kind and name"
    return by_key


def test_the_kustomization_refuses_to_render_without_keys(tmp_path):
    """Without keys/ there is nothing to put in the Secrets: rendering stops instead of deploying empty keys."""
    shutil.copytree(DEPLOY, tmp_path / "kubernetes", ignore=shutil.ignore_patterns("keys"))
    command = real_kustomize()
    if command:
        result = subprocess.run([*command, str(tmp_path / "kubernetes")], capture_output=True, text=True)
        assert result.returncode != 0 and "keys/server.key" in result.stderr, result.stderr
    else:
        with pytest.raises(FileNotFoundError, match="server.key"):
            render_kustomization(tmp_path / "kubernetes")


def test_python_rendering_agrees_with_kustomize(deployment):
    command = real_kustomize()
    if not command:
        pytest.skip("neither kustomize nor kubectl is installed: the manifests were rendered in Python")
    def comparable(objects):
        """By kind and name, Secret data decoded (kustomize wraps base64 lines)."""
        by_key = {}
        for obj in objects:
            if obj["kind"] == "Secret":
                obj = {**obj, "data": {k: base64.b64decode(v) for k, v in obj["data"].items()}}
            by_key[(obj["kind"], obj["metadata"]["name"])] = obj
        return by_key
    assert comparable(render_kustomization(deployment)) == comparable(render_with(command, deployment))


def test_every_object_validates_against_the_kubernetes_schemas(rendered):
    assert set(rendered) == EXPECTED_OBJECTS
    for version in KUBERNETES_VERSIONS:
        for (kind, name), obj in rendered.items():
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(map(str, error.path))
                pytest.fail(f"{kind}/{name} against Kubernetes {version}: {path}: {error.message}")
            assert obj["kind"] == "Namespace" or obj["metadata"]["namespace"] == "zserve", f"{kind}/{name}"


def test_a_schema_violation_is_caught(rendered):
    """The validation above can fail: a misspelt probe field and a port given as a word are refused."""
    server = copy.deepcopy(rendered[("Deployment", "zserve-server")])
    container = server["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGets"] = container["readinessProbe"].pop("httpGet")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(server, KUBERNETES_VERSIONS[-1], strict=True)
    service = copy.deepcopy(rendered[("Service", "zserve")])
    service["spec"]["ports"][0]["port"] = "frontend"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSIONS[-1], strict=True)


# --- the manifests agree with the server's flags --------------------------------------------------------------------

def server_config(rendered) -> tuple[str, dict]:
    """The ConfigMap's zserve.yaml, as text and as parsed."""
    text = rendered[("ConfigMap", "zserve-config")]["data"]["zserve.yaml"]
    return text, yaml.safe_load(text)


def endpoint_port(value: str) -> int:
    """The port of tcp://HOST:PORT or HOST:PORT."""
    return int(value.rsplit(":", 1)[1])


def pod_spec(rendered, deployment_name: str) -> dict:
    return rendered[("Deployment", deployment_name)]["spec"]["template"]["spec"]


def container_port(container: dict, port) -> int:
    """A probe's or Service's target port (a name or a number) as the container's port number."""
    if isinstance(port, int):
        return port
    by_name = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port in by_name, f"no container port named {port}"
    return by_name[port]


def test_every_config_key_is_a_serve_flag(deployment, rendered):
    """`zserve serve --config zserve.yaml --print-config` accepts the ConfigMap's file and takes every key from it."""
    text, config = server_config(rendered)
    path = deployment / "rendered-zserve.yaml"
    path.write_text(text)
    printed = zserve("serve", "--config", path, "--print-config").stdout
    for key in config:
        line = next((line for line in printed.splitlines() if line.startswith(f"{key}:")), None)
        assert line and f"# {path}:" in line, f"{key} not taken from the file:\n{printed}"


def test_ports_probes_and_services_match_the_server_config(rendered):
    _, config = server_config(rendered)
    pod = pod_spec(rendered, "zserve-server")
    server = pod["containers"][0]
    assert server["args"] == ["serve", "--config", "/etc/zserve/zserve.yaml"]
    assert "/etc/zserve/zserve.yaml" in {m["mountPath"] for m in server["volumeMounts"]}
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert ports == {name: endpoint_port(config[key]) for key, name in ENDPOINT_KEYS.items()}
    # Every endpoint binds all interfaces: a pod is reached on its own address, not on loopback.
    for key in ENDPOINT_KEYS:
        assert re.fullmatch(r"(tcp://)?0\.0\.0\.0:\d+", config[key]), f"{key}: {config[key]}"
    metrics_port = endpoint_port(config["metrics-listen"])
    probes = {name: server[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert {name: (get["path"], container_port(server, get["port"])) for name, get in probes.items()} == {
        "startupProbe": ("/healthz", metrics_port), "livenessProbe": ("/healthz", metrics_port),
        "readinessProbe": ("/readyz", metrics_port)}
    annotations = rendered[("Deployment", "zserve-server")]["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == metrics_port
    for resources in (server["resources"], pod_spec(rendered, "zserve-worker")["containers"][0]["resources"]):
        assert set(resources["requests"]) == {"cpu", "memory"} and set(resources["limits"]) == {"cpu", "memory"}

    labels = rendered[("Deployment", "zserve-server")]["spec"]["template"]["metadata"]["labels"]
    worker_labels = rendered[("Deployment", "zserve-worker")]["spec"]["template"]["metadata"]["labels"]
    service = rendered[("Service", "zserve")]["spec"]
    assert service["selector"].items() <= labels.items() and not service["selector"].items() <= worker_labels.items()
    assert {p["name"]: (p["port"], container_port(server, p["targetPort"])) for p in service["ports"]} == {
        name: (port, port) for name, port in ports.items()}
    # Workers reach a server that is not ready yet (with `workers: 0` it is only ready once a worker joined).
    workers_service = rendered[("Service", "zserve-workers")]["spec"]
    assert config["workers"] == 0 and workers_service["publishNotReadyAddresses"] is True
    assert workers_service["selector"] == service["selector"]
    assert [container_port(server, p["targetPort"]) for p in workers_service["ports"]] == [ports["worker"]]


def worker_args(rendered) -> dict[str, str]:
    """The worker container's options, after checking it runs `zserve worker`."""
    args = pod_spec(rendered, "zserve-worker")["containers"][0]["args"]
    assert args[0] == "worker" and len(args) % 2 == 1, args
    return dict(zip(args[1::2], args[2::2]))


def test_workers_connect_to_the_server_worker_port_and_scale_on_queue_depth(rendered):
    _, config = server_config(rendered)
    options = worker_args(rendered)
    help_text = zserve("worker", "--help").stdout
    for flag in options:
        assert re.search(rf"\s{re.escape(flag)} <", help_text), f"{flag} is not a `zserve worker` option"
    host, port = re.fullmatch(r"tcp://([a-z0-9-]+):(\d+)", options["--connect"]).groups()
    service = rendered[("Service", host)]["spec"]
    server = pod_spec(rendered, "zserve-server")["containers"][0]
    target = next(p["targetPort"] for p in service["ports"] if p["port"] == int(port))
    assert container_port(server, target) == endpoint_port(config["worker-endpoint"])
    # The worker's key pair is the one whose public key the server allows on its worker endpoint.
    server_volumes = {v["name"]: v for v in pod_spec(rendered, "zserve-server")["volumes"]}
    worker_keys_mount = next(m for m in server["volumeMounts"] if m["mountPath"] == config["worker-keys"])
    assert server_volumes[worker_keys_mount["name"]]["secret"]["secretName"] == "zserve-worker-key"

    # Workers fetch their models from the server into a cache of their own: no shared volume.
    worker_volumes = {v["name"]: v for v in pod_spec(rendered, "zserve-worker")["volumes"]}
    assert not any("persistentVolumeClaim" in v for v in worker_volumes.values())
    cache_mount = next(m for m in pod_spec(rendered, "zserve-worker")["containers"][0]["volumeMounts"]
                       if m["mountPath"] == options["--cache"])
    assert "emptyDir" in worker_volumes[cache_mount["name"]] and not cache_mount.get("readOnly")

    hpa = rendered[("HorizontalPodAutoscaler", "zserve-worker")]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "zserve-worker"}
    assert "replicas" not in rendered[("Deployment", "zserve-worker")]["spec"], "the HPA owns the replica count"
    external = [m["external"] for m in hpa["metrics"] if m["type"] == "External"]
    assert [e["metric"]["name"] for e in external] == ["zserve_queue_depth"]
    assert external[0]["target"]["type"] == "AverageValue"
    adapter = yaml.safe_load((DEPLOY / "prometheus-adapter-values.yaml").read_text())
    [rule] = adapter["rules"]["external"]
    assert rule["name"]["as"] == "zserve_queue_depth" and rule["seriesQuery"].startswith("zserve_queue_depth{")

    pdb = rendered[("PodDisruptionBudget", "zserve-worker")]["spec"]
    worker_labels = rendered[("Deployment", "zserve-worker")]["spec"]["template"]["metadata"]["labels"]
    assert pdb["selector"]["matchLabels"].items() <= worker_labels.items()
    assert hpa["minReplicas"] > pdb["maxUnavailable"]


def test_every_volume_exists_and_every_config_path_is_mounted(rendered):
    _, config = server_config(rendered)
    for deployment_name in ("zserve-server", "zserve-worker"):
        pod = pod_spec(rendered, deployment_name)
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod.get("initContainers", []) + pod["containers"]:
            for mount in container["volumeMounts"]:
                volume = volumes[mount["name"]]
                source = volume.get("secret") or volume.get("configMap")
                if source:
                    kind = "Secret" if "secret" in volume else "ConfigMap"
                    data = rendered[(kind, source.get("secretName") or source.get("name"))]["data"]
                    assert {item["key"] for item in source.get("items", [])} <= set(data), mount["name"]
                    assert "subPath" not in mount or mount["subPath"] in data
                if "persistentVolumeClaim" in volume:
                    assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in rendered
                    assert mount.get("readOnly", False) == (deployment_name == "zserve-worker")
    mounts = [m["mountPath"] for m in pod_spec(rendered, "zserve-server")["containers"][0]["volumeMounts"]]
    for key in PATH_KEYS:
        if config.get(key):
            assert any(config[key] == m or config[key].startswith(m + "/") for m in mounts), f"{key} is not mounted"


def test_the_dockerfile_builds_and_runs_what_the_manifests_expect():
    """A structural check (no docker here): stages, instructions, the non-root user and the runtime libraries."""
    text = (REPO_ROOT / "Dockerfile").read_text()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    instructions = [line.split(None, 1) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    known = {"FROM", "ARG", "ENV", "RUN", "COPY", "WORKDIR", "USER", "EXPOSE", "ENTRYPOINT", "CMD", "LABEL"}
    assert all(len(parts) == 2 and parts[0] in known for parts in instructions), \
        [parts for parts in instructions if len(parts) != 2 or parts[0] not in known]
    stages = [parts[1] for parts in instructions if parts[0] == "FROM"]
    assert len(stages) == 2 and stages[0].startswith("swift:") and " AS build" in stages[0]
    assert stages[1].startswith("debian:") and "-slim" in stages[1]
    runtime = instructions[[parts[0] for parts in instructions].index("FROM", 1):]
    runtime_text = " ".join(parts[1] for parts in runtime)
    for package in ("libzmq5", "libopenblas0", "liblzma5"):
        assert package in runtime_text, f"{package} not installed in the runtime stage"
    assert "COPY --from=build" in "".join(f"{p[0]} {p[1]}" for p in runtime)
    user = [parts[1] for parts in runtime if parts[0] == "USER"]
    uid = int(user[-1].split(":")[0])
    assert uid != 0
    assert json.loads(dict(runtime)["ENTRYPOINT"]) == ["zserve"]
    for deployment_name in ("zserve-server", "zserve-worker"):
        pod = yaml.safe_load_all((DEPLOY / f"{deployment_name.removeprefix('zserve-')}-deployment.yaml").read_text())
        spec = next(pod)["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsUser"] == uid and spec["securityContext"]["runAsNonRoot"]
    exposed = {int(port) for port in dict(runtime)["EXPOSE"].split()}
    assert exposed == {7070, 7071, 7072, 9464}


# --- the pods' commands, run ----------------------------------------------------------------------------------------

class PodFiles:
    """A pod's volumes laid out under a directory, and the map from the paths its containers see to host paths.

    Secret and ConfigMap volumes are laid out as the kubelet does (a `..data` link to the files), Secret items with
    mode 0440 (what a Secret volume has once the pod sets fsGroup: the kubelet adds group read); persistent volume
    claims map to one directory per claim.
    """

    def __init__(self, root: Path, rendered, pod: dict, claims: dict[str, Path]):
        self.root = root
        self.volumes = {}
        for volume in pod["volumes"]:
            directory = root / volume["name"]
            if "persistentVolumeClaim" in volume:
                directory = claims[volume["persistentVolumeClaim"]["claimName"]]
            else:
                directory.mkdir(parents=True)
            for kind, field, name_field in (("Secret", "secret", "secretName"), ("ConfigMap", "configMap", "name")):
                if field in volume:
                    source = volume[field]
                    data = rendered[(kind, source[name_field])]["data"]
                    items = source.get("items") or [{"key": key, "path": key} for key in data]
                    # The kubelet's layout: files in a timestamped folder, `..data` links to it, and each name
                    # links through `..data` (so an update swaps one link).
                    payload = directory / "..2026_01_01_00_00_00.000000001"
                    payload.mkdir()
                    (directory / "..data").symlink_to(payload.name)
                    for item in items:
                        content = data[item["key"]]
                        file = payload / item["path"]
                        file.parent.mkdir(parents=True, exist_ok=True)
                        file.write_bytes(base64.b64decode(content) if kind == "Secret" else content.encode())
                        file.chmod(0o440 if kind == "Secret" else 0o644)
                        top = item["path"].split("/")[0]
                        if not (directory / top).is_symlink():
                            (directory / top).symlink_to(Path("..data") / top)
            self.volumes[volume["name"]] = directory
        self.mounts: list[tuple[str, Path]] = []

    def mount(self, container: dict) -> "PodFiles":
        """Uses `container`'s volume mounts for path mapping."""
        self.mounts = []
        for mount in container["volumeMounts"]:
            source = self.volumes[mount["name"]]
            self.mounts.append((mount["mountPath"], source / mount["subPath"] if "subPath" in mount else source))
        self.mounts.sort(key=lambda m: len(m[0]), reverse=True)
        return self

    def host(self, path: str) -> str:
        """The host path of a path the container sees; asserts it lies in a mounted volume."""
        for mount_path, source in self.mounts:
            if path == mount_path or path.startswith(mount_path + "/"):
                return str(source) + path[len(mount_path):]
        raise AssertionError(f"{path} is in no mounted volume")

    def run_init_containers(self, pod: dict) -> None:
        """Runs each init container's command with its paths mapped; asserts it succeeds."""
        for init in pod.get("initContainers", []):
            self.mount(init)
            command = [self.host(arg) if arg.startswith("/") else arg for arg in init["command"]]
            result = subprocess.run(command, capture_output=True, text=True)
            assert result.returncode == 0, f"init container {init['name']}: {result.stderr}"


def http_get(address: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_for(address: str, path: str, status: int, accept=lambda body: True, process=None) -> str:
    """GETs `path` until it answers `status` with a body `accept` takes; returns the body. Fails at once when
    `process` (a worker) has exited, with its stderr."""
    deadline = time.monotonic() + WAIT_S
    while True:
        if process is not None and process.poll() is not None:
            pytest.fail(f"the worker exited with code {process.returncode}: {process.stderr.read()}")
        code, body = http_get(address, path)
        if (code == status and accept(body)) or time.monotonic() > deadline:
            assert code == status and accept(body), f"GET {path}: {code} {body}"
            return body
        time.sleep(0.2)


def test_server_and_worker_pods_start_join_and_serve(deployment, rendered, tmp_path):
    """The server pod's config and keys and the worker pod's args, as rendered: the server starts, is live but not
    ready without a worker, a worker started with the worker pod's args joins over CURVE with the keys from the
    Secrets, the server turns ready, a prediction is answered, and an operator key from the admin Secret is accepted
    on the admin endpoint."""
    repository = tmp_path / "claims" / "zserve-models"
    shutil.copytree(EXAMPLE_REPOSITORY, repository)
    claims = {"zserve-models": repository}

    server_pod = pod_spec(rendered, "zserve-server")
    server_files = PodFiles(tmp_path / "server", rendered, server_pod, claims)
    server_files.run_init_containers(server_pod)
    server_container = server_pod["containers"][0]
    server_files.mount(server_container)
    _, config = server_config(rendered)
    for key in PATH_KEYS:
        if config.get(key):
            config[key] = server_files.host(config[key])
    for key in ENDPOINT_KEYS:
        config[key] = re.sub(r"0\.0\.0\.0:\d+$", "127.0.0.1:0", config[key])
    config_file = Path(server_files.host(server_container["args"][2]))
    config_file.write_text(yaml.safe_dump(config))

    with run_server(None, "--config", str(config_file)) as server:
        assert http_get(server.metrics, "/healthz")[0] == 200
        code, reasons = http_get(server.metrics, "/readyz")
        assert code == 503, f"ready without a worker: {reasons}"

        worker_pod = pod_spec(rendered, "zserve-worker")
        worker_files = PodFiles(tmp_path / "worker", rendered, worker_pod, claims)
        worker_files.run_init_containers(worker_pod)
        worker_container = worker_pod["containers"][0]
        worker_files.mount(worker_container)
        options = worker_args(rendered)
        options["--connect"] = server.worker_endpoint
        for flag in ("--cache", "--server-public-key", "--client-key"):
            options[flag] = worker_files.host(options[flag])
        command = [os.environ["ZSERVE_BIN"], "worker", *[part for pair in options.items() for part in pair]]
        with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as worker:
            try:
                wait_for(server.metrics, "/readyz", 200, process=worker)
                metrics = wait_for(server.metrics, "/metrics", 200,
                                   lambda text: re.search(r'^zserve_workers\{location="remote",state="idle"\} 1(\.0)?$',
                                                          text, re.M))
                assert re.search(r"^zserve_queue_depth ", metrics, re.M), "the HPA's metric is not exported"

                request = REPO_ROOT / "Examples" / "requests" / "purchase_propensity.json"
                reply = json.loads(zserve("predict", "--endpoint", server.listen, "--model", "purchase_propensity",
                                          "--json", f"@{request}").stdout)
                assert reply["model"] == "purchase_propensity" and reply["outputs"]["probability"]["shape"] == [2, 1]

                operator = ["--server-public-key", deployment / "keys" / "server.pub",
                            "--client-key", deployment / "keys" / "operator.key"]
                scaled = json.loads(zserve("scale", "--endpoint", server.admin, "--workers", "0", *operator).stdout)
                assert scaled == {"previous": 0, "workers": 0}
            finally:
                worker.send_signal(signal.SIGTERM)
                code = worker.wait(timeout=10)
            assert code == 0, f"worker exited {code}: {worker.stderr.read()}"
