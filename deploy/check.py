#!/usr/bin/env python3
"""Validates the deployment files under deploy/ against each other and against the binaries.

    python3 deploy/check.py            # from anywhere; exit 0 when every check passes

It makes (once) a virtual environment in target/deploy-venv with REQUIREMENTS, whose packages
carry the Compose and Kubernetes schemas (nothing is fetched at check time), and re-runs itself
there. It checks that every YAML/JSON/TOML file parses; compose and Kubernetes objects against
their schemas; references between files (mounts, volumes, networks, depends_on, ConfigMaps,
Secrets, PVCs, selectors, ports, probes); the Dockerfile and systemd units (with
systemd-analyze, and the kustomization with kubectl, where installed); that every command line
uses only flags its binary defines (clap sources) and listens where Services, probes and
Prometheus expect (also with `--dump-config` when built binaries are in target/); and that the
dashboard's PromQL names only metrics and labels defined in the binaries' metrics.rs. Each
problem is one line `deploy/check.py: FILE: message`; the exit status is 1 if there is any.
See deploy/README.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
VENV = ROOT / "target" / "deploy-venv"
REQUIREMENTS = [
    "PyYAML==6.0.3",
    "jsonschema==4.26.0",
    "check-jsonschema==0.39.0",
    "kubernetes-validate==1.37.0",
]
K8S_VERSION = "1.33.0"
# Exposure score limit of `systemd-analyze security` (0-100; the units score about 15).
SYSTEMD_EXPOSURE_LIMIT = 25

PROBLEMS: list[str] = []
NOTES: list[str] = []


def problem(path: Path | str, message: str) -> None:
    where = path.relative_to(ROOT) if isinstance(path, Path) and path.is_absolute() else path
    PROBLEMS.append(f"{where}: {message}")


# ----------------------------------------------------------------------------- environment


def ensure_venv() -> None:
    """Re-runs this script in target/deploy-venv with REQUIREMENTS installed."""
    if os.environ.get("DEPLOY_CHECK_IN_VENV") == "1":
        return
    python = VENV / "bin" / "python"
    stamp = VENV / "requirements.txt"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if not (python.exists() and stamp.exists() and stamp.read_text() == wanted):
        print(f"deploy/check.py: preparing {VENV.relative_to(ROOT)} ({', '.join(REQUIREMENTS)})")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        done = subprocess.run(pip + REQUIREMENTS)
        if done.returncode != 0:
            sys.exit("deploy/check.py: installing the checker's packages from PyPI failed")
        stamp.write_text(wanted)
    env = dict(os.environ, DEPLOY_CHECK_IN_VENV="1")
    sys.exit(subprocess.run([str(python), __file__, *sys.argv[1:]], env=env).returncode)


# ----------------------------------------------------------------------------- sources

# Metric constructors in the binaries' metrics.rs: the first string argument is the name.
METRIC_CTOR = re.compile(
    r"\b(IntGauge|IntCounter|Gauge|Counter|Histogram|IntCounterVec|IntGaugeVec|GaugeVec|"
    r"CounterVec|HistogramVec|Opts|HistogramOpts)::(?:new|with_opts)\(\s*(?:Opts::new\(|"
    r"HistogramOpts::new\()?\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"",
    re.S,
)


def exported_metrics() -> dict[str, set[str]]:
    """Series name -> label names, from the metrics.rs sources (histograms add le)."""
    series: dict[str, set[str]] = {}
    for rel in ["node/src/metrics.rs", "miner/src/metrics.rs", "validator/src/metrics.rs"]:
        text = (ROOT / rel).read_text()
        for stmt in re.split(r";\s*\n", text):
            m = METRIC_CTOR.search(stmt)
            if not m:
                continue
            name = m.group(2)
            labels_m = re.search(r"&\[([^\]]*)\]", stmt[m.end():])
            labels = set(re.findall(r"\"([a-z_]+)\"", labels_m.group(1))) if labels_m else set()
            if "Histogram" in stmt[: m.end()] or "HistogramOpts" in stmt:
                series[name + "_bucket"] = labels | {"le"}
                series[name + "_sum"] = set(labels)
                series[name + "_count"] = set(labels)
            else:
                series[name] = labels
    if not series:
        problem("deploy/check.py", "no metric found in the metrics.rs sources: the regex is stale")
    return series


ARG_FIELD = re.compile(
    r"#\[arg\((?P<attr>.*?)\)\]\s*(?:///[^\n]*\n\s*)*(?:pub(?:\([a-z]+\))?\s+)?"
    r"(?P<field>[a-z_][a-z0-9_]*)\s*:\s*(?P<ty>[^,\n]+),",
    re.S,
)


def cli_flags(files: list[Path]) -> dict[str, bool]:
    """--flag -> whether it takes a value, from clap derive attributes."""
    flags: dict[str, bool] = {}
    for f in files:
        for m in ARG_FIELD.finditer(f.read_text()):
            attr = m.group("attr")
            if not re.search(r"\blong\b", attr):
                continue
            named = re.search(r"\blong\s*=\s*\"([^\"]+)\"", attr)
            name = named.group(1) if named else m.group("field").replace("_", "-")
            flags["--" + name] = m.group("ty").strip() != "bool"
    flags["--help"] = False
    flags["--version"] = False
    return flags


BINARIES = {
    "subnet-node": [ROOT / "node/src/bin/subnet-node.rs"],
    "miner": [ROOT / "miner/src/main.rs"],
    "validator": [ROOT / "validator/src/main.rs"],
    "subnet": sorted((ROOT / "cli/src").rglob("*.rs")),
}
FLAGS = {name: cli_flags(files) for name, files in BINARIES.items()}


def built_binary(name: str) -> Path | None:
    """The newest built `name` in $CARGO_TARGET_DIR or target/, if any."""
    dirs = [Path(os.environ["CARGO_TARGET_DIR"])] if os.environ.get("CARGO_TARGET_DIR") else []
    dirs.append(ROOT / "target")
    found = [d / p / name for d in dirs for p in ("debug", "release") if (d / p / name).is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


# ----------------------------------------------------------------------------- command lines

# Flags whose value is a configuration field (dotted for nested tables).
FLAG_FIELDS = {
    "--rpc": "rpc_addr",
    "--metrics": "metrics_addr",
    "--listen": "listen",
    "--bind": "bind",
    "--external-ip": "external_ip",
    "--chain-url": "chain.url",
    "--checkpoint": "checkpoint",
    "--data-dir": "data_dir",
}
DEFAULTS = {
    "subnet-node": {"rpc_addr": "127.0.0.1:9944"},
    "miner": {"listen": "127.0.0.1:8091", "chain": {"url": "http://127.0.0.1:9944"}},
    "validator": {"bind": "0.0.0.0:0", "chain": {"url": "http://127.0.0.1:9944"}},
}


class Command:
    """A command line of one of the binaries, with the host paths its container paths map to."""

    def __init__(self, where: str, argv: list[str], mounts: dict[str, Path], in_container: bool):
        self.where = where
        self.argv = [str(a) for a in argv]
        self.mounts = mounts
        self.in_container = in_container
        self.binary = Path(self.argv[0]).name if self.argv else ""
        self.config: dict = {}

    def host_path(self, path: str) -> Path | None:
        for prefix, host in sorted(self.mounts.items(), key=lambda kv: -len(kv[0])):
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return host / path[len(prefix):].lstrip("/")
        return None

    def check(self) -> None:
        flags = FLAGS.get(self.binary)
        if flags is None:
            return
        args = self.argv[1:]
        values: dict[str, str] = {}
        i = 0
        while i < len(args):
            arg = args[i]
            if not arg.startswith("--"):
                i += 1
                continue
            name, eq, inline = arg.partition("=")
            if name not in flags:
                problem(self.where, f"`{self.binary}` has no flag {name}")
            elif flags[name] and not eq:
                if i + 1 >= len(args):
                    problem(self.where, f"{name} needs a value")
                else:
                    values[name] = args[i + 1]
                    i += 1
            elif flags[name]:
                values[name] = inline
            i += 1
        if self.binary == "subnet":
            return
        config = json.loads(json.dumps(DEFAULTS[self.binary]))
        if "--config" in values:
            host = self.host_path(values["--config"])
            if host is None or not host.is_file():
                problem(self.where, f"--config {values['--config']} maps to no file in the repo")
            else:
                try:
                    merge(config, tomllib.loads(host.read_text()))
                except tomllib.TOMLDecodeError as e:
                    problem(host, f"invalid TOML: {e}")
        for flag, field in FLAG_FIELDS.items():
            if flag in values:
                set_dotted(config, field, values[flag])
        self.config = config
        if self.in_container:
            self.check_container(values)

    def check_container(self, values: dict[str, str]) -> None:
        for key in ("rpc_addr", "metrics_addr", "bind", "listen"):
            addr = self.config.get(key)
            if addr and addr.startswith("127."):
                problem(self.where, f"`{key}` = {addr} is loopback: unreachable from other containers")
        if self.binary == "miner":
            listen = self.config.get("listen", "")
            if listen.startswith(("0.0.0.0:", "[::]:")) and not self.config.get("external_ip"):
                problem(self.where, "miner listens on an unspecified address without --external-ip")
            ckpt = str(self.config.get("checkpoint", ""))
            m = re.fullmatch(r"/opt/subnet/checkpoints/([\w.-]+\.mpk)", ckpt)
            if not m or not (ROOT / "models/checkpoints" / m.group(1)).is_file():
                problem(self.where, f"checkpoint {ckpt} is not one the image ships")

    def port(self, key: str) -> int | None:
        addr = self.config.get(key)
        return int(addr.rsplit(":", 1)[1]) if addr else None

    def dump_config(self, substitutions: dict[str, str]) -> None:
        """Runs the built binary with --dump-config; compares its addresses with ours."""
        exe = built_binary(self.binary)
        if exe is None or self.binary == "subnet" or not self.config:
            return
        argv = []
        for a in self.argv[1:]:
            for k, v in substitutions.items():
                a = a.replace(k, v)
            host = self.host_path(a) if a.startswith("/") else None
            argv.append(str(host) if host is not None and host.exists() else a)
        done = subprocess.run([str(exe), *argv, "--dump-config"], capture_output=True, text=True,
                              cwd=tempfile.gettempdir())
        if done.returncode != 0:
            lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
            first = " ".join(lines[:4]) if lines else "(no message)"
            problem(self.where, f"`{self.binary} ... --dump-config` failed: {first}")
            return
        resolved = tomllib.loads(done.stdout)
        for key in ("rpc_addr", "metrics_addr", "listen", "bind"):
            if key in self.config and str(resolved.get(key)) != str(self.config[key]):
                problem(self.where, f"{self.binary} resolves `{key}` to {resolved.get(key)}, "
                        f"this checker to {self.config[key]}")


def merge(base: dict, over: dict) -> None:
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v


def set_dotted(config: dict, dotted: str, value: str) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        config = config.setdefault(p, {})
    config[last] = value


def url_host_port(url: str) -> tuple[str, int]:
    m = re.fullmatch(r"http://([^:/]+):(\d+)/?", url)
    return (m.group(1), int(m.group(2))) if m else ("", 0)


# ----------------------------------------------------------------------------- parsing


def load_all(yaml) -> dict[Path, list]:
    docs: dict[Path, list] = {}
    for path in sorted(DEPLOY.rglob("*")):
        if not path.is_file():
            continue
        try:
            if path.suffix in (".yml", ".yaml"):
                docs[path] = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
            elif path.suffix == ".json":
                docs[path] = [json.loads(path.read_text())]
            elif path.suffix == ".toml":
                tomllib.loads(path.read_text())
        except Exception as e:  # noqa: BLE001 - any parse error is reported the same way
            problem(path, f"does not parse: {e}".replace("\n", " "))
    return docs


# ----------------------------------------------------------------------------- compose


def check_compose(path: Path, doc: dict) -> dict[str, Command]:
    from importlib import resources

    import jsonschema

    schema = json.loads(resources.files("check_jsonschema.builtin_schemas.vendor")
                        .joinpath("compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    for e in validator.iter_errors(doc):
        problem(path, f"schema: {'/'.join(map(str, e.absolute_path))}: {e.message}")

    services = doc.get("services", {})
    volumes = set(doc.get("volumes") or {})
    networks = doc.get("networks") or {}
    commands: dict[str, Command] = {}
    for name, svc in services.items():
        where = f"{path.relative_to(ROOT)}: service {name}"
        image = svc.get("image", "")
        if not image and "build" not in svc:
            problem(path, f"service {name} has neither image nor build")
        if image and (":" not in image or image.endswith(":latest")):
            problem(path, f"service {name}: image {image} has no pinned tag")
        build = svc.get("build")
        if isinstance(build, dict):
            ctx = (path.parent / build.get("context", ".")).resolve()
            if not (ctx / build.get("dockerfile", "Dockerfile")).is_file():
                problem(path, f"service {name}: build dockerfile not found")
        mounts: dict[str, Path] = {}
        for vol in svc.get("volumes", []):
            src, _, rest = str(vol).partition(":")
            target = rest.split(":")[0]
            if src.startswith((".", "/")):
                host = (path.parent / src).resolve()
                if not host.exists():
                    problem(path, f"service {name}: bind mount source {src} does not exist")
                mounts[target] = host
            elif src not in volumes:
                problem(path, f"service {name}: volume {src} is not declared")
        deps = svc.get("depends_on", {})
        for dep, cond in (deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)):
            if dep not in services:
                problem(path, f"service {name} depends on unknown service {dep}")
            elif (cond or {}).get("condition") == "service_completed_successfully" and \
                    services[dep].get("restart", "no") != "no":
                problem(path, f"service {dep} must not restart: {name} waits for it to exit")
            elif (cond or {}).get("condition") == "service_healthy" and \
                    "healthcheck" not in services[dep]:
                problem(path, f"service {name} waits for {dep} to be healthy; it has no healthcheck")
        nets = svc.get("networks", [])
        for net, conf in (nets.items() if isinstance(nets, dict) else ((n, None) for n in nets)):
            if net not in networks:
                problem(path, f"service {name}: network {net} is not declared")
            ip = (conf or {}).get("ipv4_address")
            subnets = [c.get("subnet", "") for c in
                       ((networks.get(net) or {}).get("ipam") or {}).get("config", [])]
            if ip and not any(in_subnet(ip, s) for s in subnets):
                problem(path, f"service {name}: {ip} is outside network {net}")
        command = svc.get("command")
        if isinstance(command, list) and command:
            if command[0] in ("/bin/sh", "sh") and len(command) > 1:
                script = mounts_lookup(mounts, command[1])
                if script is None or not script.is_file():
                    problem(path, f"service {name}: script {command[1]} is not mounted")
                else:
                    check_script(script)
            cmd = Command(where, command, mounts, in_container=True)
            cmd.check()
            commands[name] = cmd
            external = cmd.config.get("external_ip")
            ip = next((c.get("ipv4_address") for c in nets.values() if c),
                      None) if isinstance(nets, dict) else None
            if cmd.binary == "miner" and external and external != ip:
                problem(path, f"service {name}: --external-ip {external} is not its address {ip}")
    ips = [conf.get("ipv4_address") for svc in services.values()
           if isinstance(svc.get("networks"), dict)
           for conf in svc["networks"].values() if conf and conf.get("ipv4_address")]
    if len(ips) != len(set(ips)):
        problem(path, "two services share a static IP")
    node = next((c for c in commands.values() if c.binary == "subnet-node"), None)
    node_name = next((n for n, c in commands.items() if c is node), None)
    for name, cmd in commands.items():
        url = cmd.config.get("chain", {}).get("url") if cmd.config else None
        if url and node is not None:
            host, port = url_host_port(url)
            if host != node_name or port != node.port("rpc_addr"):
                problem(path, f"service {name}: chain URL {url} is not the node's "
                        f"{node_name}:{node.port('rpc_addr')}")
    for name, svc in services.items():
        env = svc.get("environment") or {}
        chain = env.get("SUBNET_CHAIN") if isinstance(env, dict) else None
        if chain and node is not None and url_host_port(chain) != (node_name, node.port("rpc_addr")):
            problem(path, f"service {name}: SUBNET_CHAIN {chain} is not the node's RPC")
    return commands


def mounts_lookup(mounts: dict[str, Path], path: str) -> Path | None:
    return Command("", ["x"], mounts, False).host_path(path)


def in_subnet(ip: str, cidr: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)
    except ValueError:
        return False


def check_script(script: Path) -> None:
    done = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    if done.returncode != 0:
        problem(script, f"sh -n: {done.stderr.strip()}")
    for m in re.finditer(r"\bcli\s+([a-z]+(?:\s+[a-z]+)?)((?:\s+--?[a-z-]+(?:\s+\"?\$?\w+\"?)?)*)",
                         script.read_text()):
        for flag in re.findall(r"(--[a-z-]+)", m.group(2)):
            if flag not in FLAGS["subnet"]:
                problem(script, f"`subnet {m.group(1)}` has no flag {flag}")


# ----------------------------------------------------------------------------- Dockerfile


def check_dockerfile(path: Path) -> None:
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", "\n".join(lines), re.M))
    stages = [ln for ln in lines if ln.startswith("FROM ")]
    if len(stages) < 2:
        problem(path, "not a multi-stage build")
    for ln in stages:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), ln.split()[1])
        if not re.search(r":[\w.-]*\d", image):
            problem(path, f"base image {image} has no pinned version tag")
    last_stage = "\n".join(lines[lines.index(stages[-1]):]) if stages else ""
    users = re.findall(r"^USER\s+(\S+)", last_stage, re.M)
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problem(path, "the runtime stage does not switch to a non-root USER")
    for ln in lines:
        if ln.startswith("COPY ") and "--from=" not in ln:
            for src in ln.split()[1:-1]:
                if src.startswith("--") or src == ".":
                    continue
                if not list(ROOT.glob(src.rstrip("/"))):
                    problem(path, f"COPY source {src} does not exist")
    for pkg in ("subnet-cli", "subnet-node", "subnet-miner", "subnet-validator"):
        if f"-p {pkg}" not in text:
            problem(path, f"cargo build does not build {pkg}")
    for binary in ("subnet", "subnet-node", "miner", "validator"):
        if f"target/release/{binary} " not in text + " ":
            problem(path, f"binary {binary} is not copied out of the build")
    if "--locked" not in text:
        problem(path, "cargo build without --locked")
    ignore = path.with_name(path.name + ".dockerignore")
    if not ignore.is_file() or "target" not in ignore.read_text().split():
        problem(path, f"{ignore.name} must keep target/ out of the build context")


# ----------------------------------------------------------------------------- systemd


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    for ln in text.splitlines():
        ln = ln.strip()
        if not ln or ln.startswith(("#", ";")):
            continue
        if ln.startswith("["):
            current = sections.setdefault(ln.strip("[]"), [])
        elif current is not None and "=" in ln:
            k, _, v = ln.partition("=")
            current.append((k.strip(), v.strip()))
        else:
            problem(path, f"line outside a section or without '=': {ln}")
    return sections


REQUIRED_SERVICE = {
    "KillSignal": "SIGTERM",
    "Restart": "on-failure",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
}
UNIT_CONFIGS = {
    "/etc/subnet/node.toml": DEPLOY / "systemd/node.toml",
    "/etc/subnet/miner-x.toml": DEPLOY / "localnet/miner.toml",
    "/etc/subnet/validator-x.toml": DEPLOY / "localnet/validator.toml",
}


def check_units(units: list[Path]) -> list[Command]:
    commands = []
    for path in units:
        sections = parse_unit(path)
        for s in ("Unit", "Service", "Install"):
            if s not in sections:
                problem(path, f"no [{s}] section")
        service = dict(sections.get("Service", []))
        for k, v in REQUIRED_SERVICE.items():
            if service.get(k) != v:
                problem(path, f"[Service] needs {k}={v}")
        if service.get("DynamicUser") != "yes" and "User" not in service:
            problem(path, "[Service] needs DynamicUser=yes or a dedicated User=")
        if "StateDirectory" not in service:
            problem(path, "[Service] needs a StateDirectory=")
        creds = {v.split(":", 1)[0] for k, v in sections.get("Service", []) if k == "LoadCredential"}
        exec_start = service.get("ExecStart", "")
        for name in re.findall(r"%d/([\w.-]+)", exec_start):
            if name not in creds:
                problem(path, f"%d/{name} has no LoadCredential={name}:...")
        if path.name.endswith("@.service") and "%i" not in exec_start:
            problem(path, "a template unit whose ExecStart ignores the instance (%i)")
        argv = exec_start.replace("%i", "x").replace("%S", "/var/lib").replace(
            "%d", "/run/credentials").split()
        if not argv:
            problem(path, "no ExecStart")
            continue
        mounts = {k: v for k, v in UNIT_CONFIGS.items()}
        cmd = Command(str(path.relative_to(ROOT)), argv, mounts, in_container=False)
        if cmd.binary not in FLAGS:
            problem(path, f"ExecStart runs {cmd.binary}, not one of the binaries")
        cmd.check()
        commands.append(cmd)
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        NOTES.append("systemd-analyze not found: unit files checked by this script only")
        return commands
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for unit in units:
            name = unit.name.replace("@.service", "@x.service")
            shutil.copy(unit, Path(tmp) / name)
            files.append(str(Path(tmp) / name))
        done = subprocess.run([analyze, "verify", *files], capture_output=True, text=True)
        for ln in (done.stdout + done.stderr).splitlines():
            if ln.strip() and not re.search(r"Command /usr/local/bin/\S+ is not executable", ln):
                problem("deploy/systemd", f"systemd-analyze verify: {ln.strip()}")
        for f in files:
            done = subprocess.run([analyze, "security", "--offline=true",
                                   f"--threshold={SYSTEMD_EXPOSURE_LIMIT}", f],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                score = re.findall(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)
                problem(f"deploy/systemd/{Path(f).name}", "systemd-analyze security: exposure "
                        f"{score[-1] if score else '?'} above {SYSTEMD_EXPOSURE_LIMIT / 10}")
    return commands


# ----------------------------------------------------------------------------- Kubernetes

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")


def check_k8s(docs: dict[Path, list], served: set[str]) -> list[Command]:
    import kubernetes_validate

    k8s = DEPLOY / "k8s"
    kust_path = k8s / "kustomization.yaml"
    kust = (docs.get(kust_path) or [{}])[0]
    defined: dict[str, set[str]] = {"ConfigMap": set(), "Secret": set(),
                                     "PersistentVolumeClaim": set(), "Service": set()}
    config_files: dict[str, dict[str, Path]] = {}
    for res in kust.get("resources", []):
        if not (k8s / res).is_file():
            problem(kust_path, f"resource {res} does not exist")
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for gen in kust.get(key, []):
            defined[kind].add(gen["name"])
            files = config_files.setdefault(gen["name"], {})
            for f in gen.get("files", []):
                k, _, src = f.rpartition("=")
                if not (k8s / src).is_file():
                    problem(kust_path, f"{key} {gen['name']}: file {src} does not exist")
                files[k or Path(src).name] = k8s / src
    listed = {(k8s / r).resolve() for r in kust.get("resources", [])}
    objects = []
    for path, items in docs.items():
        if k8s not in path.parents or path == kust_path:
            continue
        if path.suffix not in (".yml", ".yaml"):
            continue
        if path.resolve() not in listed:
            problem(path, "not listed in kustomization.yaml resources")
        for obj in items:
            where = f"{path.relative_to(ROOT)}: {obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
            if not all([obj.get("apiVersion"), obj.get("kind"), (obj.get("metadata") or {}).get("name")]):
                problem(where, "needs apiVersion, kind and metadata.name")
                continue
            try:
                kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                problem(where, f"schema: {'.'.join(map(str, e.path))}: {e.message}")
            except Exception as e:  # noqa: BLE001 - unknown kinds have no schema
                problem(where, f"schema: {getattr(e, 'message', e)}")
            if obj["kind"] in defined:
                defined[obj["kind"]].add(obj["metadata"]["name"])
            objects.append((where, obj))
    # Kubernetes' own check of the kustomization (generators, name references).
    if shutil.which("kubectl"):
        done = subprocess.run(["kubectl", "kustomize", str(k8s)], capture_output=True, text=True)
        if done.returncode != 0:
            problem(kust_path, f"kubectl kustomize: {done.stderr.strip()}")
    else:
        NOTES.append("kubectl not found: the kustomization was not built")
    if (k8s / "config/subnet.toml").read_bytes() != (DEPLOY / "localnet/subnet.toml").read_bytes():
        problem(k8s / "config/subnet.toml", "differs from deploy/localnet/subnet.toml: copy it")

    commands: list[Command] = []
    pods = []
    for where, obj in objects:
        if obj["kind"] not in WORKLOADS:
            continue
        spec = obj["spec"]
        tmpl = spec["template"]
        labels = tmpl.get("metadata", {}).get("labels", {})
        selector = spec.get("selector", {}).get("matchLabels", {})
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            problem(where, "selector.matchLabels do not match the pod template's labels")
        pods.append((where, obj, labels))
        pod = tmpl["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
        if obj["kind"] == "StatefulSet" and spec.get("serviceName") not in defined["Service"]:
            problem(where, f"serviceName {spec.get('serviceName')} is not a Service here")
        for v in volumes.values():
            for kind, ref in (("ConfigMap", (v.get("configMap") or {}).get("name")),
                              ("Secret", (v.get("secret") or {}).get("secretName")),
                              ("PersistentVolumeClaim",
                               (v.get("persistentVolumeClaim") or {}).get("claimName"))):
                if ref and ref not in defined[kind]:
                    problem(where, f"{kind} {ref} is not defined in the kustomization")
        annotations = tmpl.get("metadata", {}).get("annotations", {})
        for c in pod.get("containers", []):
            mounts: dict[str, Path] = {}
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes and m["name"] not in claims:
                    problem(where, f"volumeMount {m['name']} names no volume")
                cm = (volumes.get(m["name"]) or {}).get("configMap")
                if cm:
                    for key, src in config_files.get(cm["name"], {}).items():
                        mounts[m["mountPath"].rstrip("/") + "/" + key] = src
            ports = {p.get("name"): p for p in c.get("ports", [])}
            if any(p.get("protocol", "TCP") == "TCP" for p in ports.values()) and \
                    "readinessProbe" not in c:
                problem(where, f"container {c['name']} has a TCP port but no readinessProbe")
            probe_port = ((c.get("readinessProbe") or {}).get("httpGet") or
                          (c.get("readinessProbe") or {}).get("tcpSocket") or {}).get("port")
            if isinstance(probe_port, str) and probe_port not in ports:
                problem(where, f"readinessProbe uses port {probe_port}, which is not declared")
            env = {e["name"] for e in c.get("env", [])}
            argv = c.get("command", []) + c.get("args", [])
            for var in re.findall(r"\$\((\w+)\)", " ".join(map(str, argv))):
                if var not in env:
                    problem(where, f"args use $({var}), which is not in env")
            if any(a.startswith("--dev-") for a in map(str, argv)):
                problem(where, "development keys (--dev-*) in a Kubernetes manifest")
            cmd = Command(where, argv, mounts, in_container=True)
            cmd.check()
            commands.append(cmd)
            if cmd.binary not in served:
                continue
            metrics = cmd.port("metrics_addr")
            if metrics is None:
                problem(where, "serves no metrics (no metrics_addr or --metrics)")
                continue
            if annotations.get("prometheus.io/scrape") != "true":
                problem(where, "no prometheus.io/scrape: \"true\" annotation")
            if annotations.get("prometheus.io/port") != str(metrics):
                problem(where, f"prometheus.io/port is not the metrics port {metrics}")
            if (ports.get("metrics") or {}).get("containerPort") != metrics:
                problem(where, f"container port `metrics` is not {metrics}")
            for port_name, key in (("rpc", "rpc_addr"), ("quic", "listen")):
                if port_name in ports and ports[port_name]["containerPort"] != cmd.port(key):
                    problem(where, f"container port `{port_name}` is not `{key}`'s port")
            if cmd.binary == "miner" and ports.get("quic", {}).get("protocol") != "UDP":
                problem(where, "the miner's QUIC port must be UDP")
    services = {o["metadata"]["name"]: (w, o) for w, o in objects if o["kind"] == "Service"}
    for name, (where, svc) in services.items():
        selector = svc["spec"].get("selector", {})
        matched = [(w, o) for w, o, labels in pods if all(labels.get(k) == v for k, v in selector.items())]
        if not matched:
            problem(where, "selects no workload")
        for w, o in matched:
            names = {p.get("name") for c in o["spec"]["template"]["spec"]["containers"]
                     for p in c.get("ports", [])}
            for p in svc["spec"].get("ports", []):
                if isinstance(p.get("targetPort"), str) and p["targetPort"] not in names:
                    problem(where, f"targetPort {p['targetPort']} is not a port of {o['metadata']['name']}")
    node = next((c for c in commands if c.binary == "subnet-node"), None)
    for cmd in commands:
        url = (cmd.config or {}).get("chain", {}).get("url")
        if url and node is not None:
            host, port = url_host_port(url)
            svc = services.get(host)
            svc_ports = [p["port"] for p in svc[1]["spec"]["ports"]] if svc else []
            if svc is None or port not in svc_ports or port != node.port("rpc_addr"):
                problem(cmd.where, f"chain URL {url} is not the subnet-node Service's RPC port")
    return commands


# ----------------------------------------------------------------------------- Prometheus


def check_prometheus(path: Path, doc: dict, compose: dict[str, Command]) -> None:
    jobs = [j.get("job_name") for j in doc.get("scrape_configs", [])]
    if len(jobs) != len(set(jobs)):
        problem(path, "duplicate job_name")
    seen = set()
    for job in doc.get("scrape_configs", []):
        for sc in job.get("static_configs", []):
            for target in sc.get("targets", []):
                host, _, port = target.rpartition(":")
                seen.add(host)
                cmd = compose.get(host)
                if cmd is None:
                    problem(path, f"target {target}: no compose service {host} runs a binary")
                elif cmd.port("metrics_addr") != int(port):
                    problem(path, f"target {target}: {host} serves metrics on "
                            f"{cmd.port('metrics_addr')}")
    for name, cmd in compose.items():
        if cmd.binary in ("subnet-node", "miner", "validator") and name not in seen:
            problem(path, f"compose service {name} ({cmd.binary}) is not scraped")


# ----------------------------------------------------------------------------- Grafana

PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan", "sum", "min", "max", "avg", "count", "stddev", "stdvar",
    "topk", "bottomk", "quantile", "count_values", "group",
}
# Labels Prometheus adds to every series (the scrape configs' target labels included).
TARGET_LABELS = {"instance", "job", "role", "checkpoint", "instance_name", "pod"}


def promql_problems(expr: str, series: dict[str, set[str]]) -> list[str]:
    out = []
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\$\{?\w+\}?", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    for grouping in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", text):
        for label in re.findall(r"[a-zA-Z_]\w*", grouping):
            known = set().union(*series.values()) | TARGET_LABELS
            if label not in known:
                out.append(f"label `{label}` is exported by no metric")
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?(\s*\()?", text):
        name, matchers, call = m.group(1), m.group(2), m.group(3)
        if call or name.lower() in PROMQL_WORDS or re.fullmatch(r"\d.*", name):
            continue
        if name not in series:
            out.append(f"metric `{name}` is exported by no binary")
            continue
        for label in re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", matchers or ""):
            if label not in series[name] | TARGET_LABELS:
                out.append(f"`{name}` has no label `{label}`")
    return out


def check_dashboard(path: Path, dash: dict, series: dict[str, set[str]]) -> int:
    exprs = 0
    ids = []
    variables = {v.get("name") for v in dash.get("templating", {}).get("list", [])}

    def walk(panels):
        nonlocal exprs
        for p in panels:
            ids.append(p.get("id"))
            ds = (p.get("datasource") or {}).get("uid", "") if isinstance(p.get("datasource"), dict) else ""
            for var in re.findall(r"\$\{?(\w+)\}?", ds):
                if var not in variables:
                    problem(path, f"panel {p.get('title')!r}: datasource variable ${var} undefined")
            for t in p.get("targets", []):
                exprs += 1
                for msg in promql_problems(t.get("expr", ""), series):
                    problem(path, f"panel {p.get('title')!r}: {msg}")
            walk(p.get("panels", []))

    walk(dash.get("panels", []))
    if len(ids) != len(set(ids)):
        problem(path, "duplicate panel ids")
    if not dash.get("uid"):
        problem(path, "the dashboard has no uid")
    return exprs


def check_grafana(docs: dict[Path, list], compose_doc: dict) -> None:
    grafana = (compose_doc.get("services") or {}).get("grafana") or {}
    mounts = {}
    for vol in grafana.get("volumes", []):
        src, _, rest = str(vol).partition(":")
        if src.startswith("."):
            mounts[rest.split(":")[0]] = (DEPLOY / src).resolve()
    services = compose_doc.get("services") or {}
    for path, items in docs.items():
        if DEPLOY / "grafana/provisioning" not in path.parents:
            continue
        for doc in items:
            for ds in doc.get("datasources", []):
                host, port = url_host_port(ds.get("url", ""))
                if host not in services:
                    problem(path, f"datasource URL {ds.get('url')} names no compose service")
            for prov in doc.get("providers", []):
                target = (prov.get("options") or {}).get("path", "")
                host = mounts_lookup(mounts, target)
                if host is None or not host.is_dir() or not list(host.glob("*.json")):
                    problem(path, f"dashboards path {target} is not a mounted folder of dashboards")
    if "/etc/grafana/provisioning" not in mounts:
        problem(DEPLOY / "docker-compose.yml", "grafana does not mount the provisioning folder")


# ----------------------------------------------------------------------------- main


def main() -> int:
    ensure_venv()
    import yaml

    docs = load_all(yaml)
    series = exported_metrics()
    def first_doc(rel: str) -> dict:
        path = DEPLOY / rel
        if not path.is_file():
            problem(path, "missing")
        return (docs.get(path) or [{}])[0]

    compose_path = DEPLOY / "docker-compose.yml"
    compose_doc = first_doc("docker-compose.yml")
    compose = check_compose(compose_path, compose_doc)
    check_dockerfile(DEPLOY / "docker/Dockerfile")
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    if not units:
        problem(DEPLOY / "systemd", "no unit files")
    unit_commands = check_units(units)
    k8s_commands = check_k8s(docs, {"subnet-node", "miner", "validator"})
    check_prometheus(DEPLOY / "prometheus/prometheus.yml", first_doc("prometheus/prometheus.yml"),
                     compose)
    exprs = check_dashboard(DEPLOY / "grafana/dashboards/subnet.json",
                            first_doc("grafana/dashboards/subnet.json"), series)
    check_grafana(docs, compose_doc)

    all_commands = list(compose.values()) + unit_commands + k8s_commands
    subs = {"$(POD_IP)": "10.0.0.1"}
    ran = [c for c in all_commands if built_binary(c.binary) and c.binary != "subnet" and c.config]
    for cmd in ran:
        cmd.dump_config(subs)
    if not ran:
        NOTES.append("no built subnet-node/miner/validator found: --dump-config not run")

    for note in NOTES:
        print(f"deploy/check.py: note: {note}")
    for p in PROBLEMS:
        print(f"deploy/check.py: {p}", file=sys.stderr)
    summary = (f"{len(docs)} YAML/JSON files, {len(all_commands)} command lines "
               f"({len(ran)} run with --dump-config), {exprs} PromQL expressions over "
               f"{len(series)} exported series")
    if PROBLEMS:
        print(f"deploy/check.py: {len(PROBLEMS)} problem(s); checked {summary}", file=sys.stderr)
        return 1
    print(f"deploy/check.py: ok: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
