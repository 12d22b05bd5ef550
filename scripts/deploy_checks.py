#!/usr/bin/env python3
"""Consistency checks of the deployment artifacts that the schemas cannot express.

Run by scripts/validate-deploy.sh (which also runs hadolint, the Compose JSON schema and the
Kubernetes schemas); needs PyYAML. Each check prints one line, `ok - what` or
`FAIL - what: why`; the exit status is 1 when any failed.

    deploy_checks.py dockerfile Dockerfile .dockerignore
    deploy_checks.py compose docker-compose.yml
    deploy_checks.py k8s RENDERED.yaml --overlay demo|production [--external-secret NAME]
    deploy_checks.py servicemonitor k8s/monitoring/servicemonitor.yaml --rendered RENDERED.yaml
    deploy_checks.py dashboard deploy/grafana/chat-node.json [--exprs-out RULES.yaml]
    deploy_checks.py prometheusrule k8s/monitoring/prometheusrule.yaml \
        --servicemonitor k8s/monitoring/servicemonitor.yaml \
        --tests k8s/monitoring/prometheusrule.test.yaml [--rules-out RULES.yaml]

The Kubernetes checks read the output of `kubectl kustomize` for one overlay. The dashboard
and alert checks compare every `chat_*` metric their expressions name with the names the
node exports (actors/src/metric_names.rs, and the `*_METRIC` constants of src/); the files
they write are plain Prometheus rule files for `promtool check rules` / `promtool test rules`.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import ipaddress
import os
import re
import shlex
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

# The node's contract with the manifests (src/config.rs, docs/operations.md).
NODE_UID = 10001
NODE_PORT = 8080
DRAIN_WINDOW_MAX_S = 20.0  # the largest CHAT_DRAIN_WINDOW the grace period is sized for
PRESTOP_DEFAULT_S = 0.0


class Checks:
    """Collects results; one printed line per check."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.failed = 0
        self.passed = 0

    def check(self, ok: bool, what: str, why: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"ok - {self.prefix}: {what}")
        else:
            self.failed += 1
            print(f"FAIL - {self.prefix}: {what}" + (f": {why}" if why else ""))
        return ok


def duration_s(text: object) -> float | None:
    """Seconds in a humantime / compose duration such as `10s`, `1m30s`, `500ms`, `45`."""
    if isinstance(text, (int, float)):
        return float(text)
    if not isinstance(text, str):
        return None
    text = text.strip().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "us": 1e-6}
    total = 0.0
    pos = 0
    for match in re.finditer(r"(\d+(?:\.\d+)?)(ms|us|sec|min|s|m|h)", text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * units[match.group(2)]
        pos = match.end()
    return total if pos == len(text) and pos > 0 else None


# --- Dockerfile and .dockerignore --------------------------------------------------------


def dockerignore_patterns(path: Path) -> list[tuple[bool, str]]:
    patterns = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        pattern = os.path.normpath(pattern.strip().lstrip("/")).rstrip("/")
        patterns.append((negate, pattern))
    return patterns


def ignore_match(pattern: str, rel: str) -> bool:
    """Docker's rule: a pattern matches a path or any of its parent folders."""
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        candidate = "/".join(parts[:i])
        if glob_match(pattern, candidate):
            return True
    return False


def glob_match(pattern: str, path: str) -> bool:
    if pattern.startswith("**/"):
        rest = pattern[3:]
        segments = path.split("/")
        return any(glob_match(rest, "/".join(segments[i:])) for i in range(len(segments)))
    pattern_parts = pattern.split("/")
    path_parts = path.split("/")
    if len(pattern_parts) != len(path_parts):
        return False
    return all(fnmatch.fnmatchcase(p, g) for g, p in zip(pattern_parts, path_parts))


def ignored(patterns: list[tuple[bool, str]], rel: str) -> bool:
    result = False
    for negate, pattern in patterns:
        if ignore_match(pattern, rel):
            result = not negate
    return result


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.partition(" ")
        instructions.append((word.upper(), rest.strip()))
        current = ""
    return instructions


def check_dockerfile(dockerfile: Path, dockerignore: Path) -> Checks:
    c = Checks("Dockerfile")
    instructions = dockerfile_instructions(dockerfile)
    patterns = dockerignore_patterns(dockerignore)
    stages = [args for word, args in instructions if word == "FROM"]
    c.check(len(stages) >= 3, "multi-stage build (client, build, runtime)", f"{len(stages)} FROM")
    c.check(
        any(s.startswith("node:") for s in stages) and any(s.startswith("rust:") for s in stages),
        "a Node stage for the client and a Rust stage for the node",
    )
    final_from = stages[-1].split()[0] if stages else ""
    c.check(
        final_from in ("debian:bookworm-slim",) or final_from.startswith("gcr.io/distroless/cc"),
        "runtime stage on debian:bookworm-slim or distroless cc",
        final_from,
    )

    # Every file copied from the build context must survive .dockerignore.
    missing = []
    copied = 0
    for word, args in instructions:
        if word not in ("COPY", "ADD"):
            continue
        words = shlex.split(args)
        if any(w.startswith("--from") for w in words):
            continue
        sources = [w for w in words if not w.startswith("--")][:-1]
        for source in sources:
            src = ROOT / source
            if not src.exists():
                missing.append(f"{source} (does not exist)")
                continue
            files = [src] if src.is_file() else [p for p in src.rglob("*") if p.is_file()]
            for f in files:
                rel = f.relative_to(ROOT).as_posix()
                if "node_modules" in rel.split("/"):
                    continue
                copied += 1
                if ignored(patterns, rel):
                    missing.append(rel)
    c.check(not missing and copied > 0, f"every COPY source is in the build context ({copied} files)",
            ", ".join(missing[:5]))
    leaked = [p for p in ("target/release/chat-node", "static/node_modules/vite/package.json",
                          ".git/HEAD", "data/chat.db") if ignored(patterns, p) is False
              and (ROOT / p).exists()]
    c.check(not leaked, ".dockerignore keeps target/, node_modules/, .git and local data out",
            ", ".join(leaked))

    # The runtime stage.
    last_from = max(i for i, (w, _) in enumerate(instructions) if w == "FROM")
    final = instructions[last_from:]
    words = {}
    for word, args in final:
        words.setdefault(word, []).append(args)
    env = {}
    for args in words.get("ENV", []):
        for item in shlex.split(args):
            key, sep, value = item.partition("=")
            if sep:
                env[key] = value
    c.check(words.get("USER", [""])[-1].split(":")[0] == str(NODE_UID),
            f"runs as the numeric non-root user {NODE_UID}", str(words.get("USER")))
    c.check(any(str(NODE_PORT) in a for a in words.get("EXPOSE", [])), f"EXPOSE {NODE_PORT}")
    c.check(any("/data" in a for a in words.get("VOLUME", [])), "VOLUME /data")
    c.check(any("SIGTERM" in a for a in words.get("STOPSIGNAL", [])), "STOPSIGNAL SIGTERM")
    c.check(any("/api/health" in a for a in words.get("HEALTHCHECK", [])),
            "HEALTHCHECK calls /api/health")
    wanted = {"CHAT_STATIC_DIR": "/app/static", "CHAT_BIND": f"0.0.0.0:{NODE_PORT}",
              "CHAT_LOG_FORMAT": "json", "CHAT_DATA_DIR": "/data"}
    wrong = {k: env.get(k) for k, v in wanted.items() if env.get(k) != v}
    c.check(not wrong, "runtime ENV: " + ", ".join(f"{k}={v}" for k, v in wanted.items()),
            str(wrong))
    c.check(any("/app/static" in a and "--from=" in a for a in words.get("COPY", [])),
            "the built client is copied to /app/static")
    return c


# --- docker-compose.yml ------------------------------------------------------------------


def check_compose(path: Path) -> Checks:
    c = Checks("compose")
    doc = yaml.safe_load(path.read_text())
    services: dict = doc.get("services") or {}
    declared_volumes = set((doc.get("volumes") or {}).keys())
    c.check(bool(services), "services are defined")

    used_volumes = set()
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        dep_names = list(deps) if isinstance(deps, (dict, list)) else []
        if dep_names:
            unknown = [d for d in dep_names if d not in services]
            c.check(not unknown, f"{name}: every depends_on names a defined service",
                    str(unknown))
        if isinstance(deps, dict) and deps:
            not_healthy = [d for d, v in deps.items()
                           if (v or {}).get("condition") != "service_healthy"]
            c.check(not not_healthy, f"{name}: depends_on waits for service_healthy",
                    str(not_healthy))
            no_check = [d for d in deps if d in services and not services[d].get("healthcheck")]
            c.check(not no_check, f"{name}: what it waits for has a health check", str(no_check))
        elif dep_names:
            c.check(False, f"{name}: depends_on uses the long form with a condition")
        hc = svc.get("healthcheck") or {}
        c.check(bool(hc.get("test")) and not hc.get("disable"), f"{name}: has a health check")
        for vol in svc.get("volumes") or []:
            if isinstance(vol, str):
                source = vol.split(":", 1)[0] if ":" in vol else None
                vtype = "bind" if source and source.startswith((".", "/", "~")) else "volume"
            else:
                source, vtype = vol.get("source"), vol.get("type", "volume")
            if not source:
                continue
            if vtype == "volume":
                used_volumes.add(source)
            elif vtype == "bind" and source.startswith("."):
                c.check((path.parent / source).exists(), f"{name}: bind mount {source} exists")
        build = svc.get("build")
        if build:
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile",
                                                                              "Dockerfile")
            c.check((path.parent / context / dockerfile).is_file(),
                    f"{name}: build context has {dockerfile}")
    undeclared = sorted(used_volumes - declared_volumes)
    c.check(not undeclared, "every named volume used is declared", str(undeclared))
    unused = sorted(declared_volumes - used_volumes)
    c.check(not unused, "every declared volume is used", str(unused))

    def published(svc_name: str) -> set[str]:
        ports = set()
        for p in (services.get(svc_name) or {}).get("ports") or []:
            if isinstance(p, dict):
                ports.add(f"{p.get('published')}:{p.get('target')}")
            else:
                parts = str(p).split("/")[0].split(":")
                ports.add(":".join(parts[-2:]))
        return ports

    pg = [n for n, s in services.items() if str(s.get("image", "")).startswith("postgres:16")]
    redis = [n for n, s in services.items() if str(s.get("image", "")).startswith("redis:7")]
    nginx = [n for n, s in services.items() if str(s.get("image", "")).startswith("nginx")]
    c.check(len(pg) == 1 and "35432:5432" in published(pg[0]),
            "PostgreSQL 16 published on host port 35432", str(pg))
    c.check(len(redis) == 1 and "36379:6379" in published(redis[0]),
            "Redis 7 published on host port 36379", str(redis))
    c.check(len(nginx) == 1 and any(p.startswith("8080:") for p in published(nginx[0])),
            "nginx published on host port 8080", str(nginx))

    def host_ips(svc_name: str) -> list[str]:
        ips = []
        for p in (services.get(svc_name) or {}).get("ports") or []:
            if isinstance(p, dict):
                ips.append(str(p.get("host_ip", "")))
            else:
                parts = str(p).split("/")[0].split(":")
                ips.append(parts[0] if len(parts) == 3 else "")
        return ips

    for name in pg + redis + [n for n in services if n == "prometheus"]:
        ips = host_ips(name)
        c.check(bool(ips) and all(ip == "127.0.0.1" for ip in ips),
                f"{name}: published on loopback only", str(ips))
    for name in pg:
        pw = str((services[name].get("environment") or {}).get("POSTGRES_PASSWORD", ""))
        c.check(bool(pw) and pw != "chat", f"{name}: has a password of its own", pw)
    for name in redis:
        cmd = [str(a) for a in services[name].get("command") or []]
        c.check("--requirepass" in cmd, f"{name}: requires a password", str(cmd))

    def secret_file(name: str) -> Path | None:
        entry = (doc.get("secrets") or {}).get(name) or {}
        return path.parent / entry["file"] if entry.get("file") else None

    def keys_in(file: Path | None) -> list[str]:
        if not file or not file.is_file():
            return []
        return [line.strip() for line in file.read_text().splitlines()
                if line.strip() and not line.strip().startswith("#")]

    nodes = {n: s for n, s in services.items() if s.get("build") or
             str(s.get("image", "")).startswith("chat-node")}
    c.check(len(nodes) >= 2, f"two or more chat nodes ({len(nodes)})")
    ids = []
    for name, svc in nodes.items():
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        ids.append(env.get("CHAT_NODE_ID"))
        c.check(bool(env.get("DATABASE_URL")) and bool(env.get("REDIS_URL")),
                f"{name}: DATABASE_URL and REDIS_URL set")
        c.check(re.match(r"rediss?://[^@/]*:[^@/]+@", str(env.get("REDIS_URL", ""))) is not None,
                f"{name}: REDIS_URL carries Redis's password")
        keys_file = str(env.get("CHAT_API_KEYS_FILE", ""))
        secret = keys_file.removeprefix("/run/secrets/")
        keys = keys_in(secret_file(secret))
        c.check(keys_file.startswith("/run/secrets/") and secret in (svc.get("secrets") or [])
                and bool(keys) and all(len(k) >= 16 for k in keys),
                f"{name}: API keys from the compose secret {secret or '?'} ({len(keys)} keys)")
        nginx_ips = [((services[n].get("networks") or {}).get("default") or {})
                     .get("ipv4_address") for n in nginx]
        c.check(str(env.get("CHAT_TRUSTED_PROXIES", "")) in nginx_ips,
                f"{name}: trusts only nginx's address to name clients",
                f"{env.get('CHAT_TRUSTED_PROXIES')} vs {nginx_ips}")
        grace = duration_s(svc.get("stop_grace_period", "10s")) or 0
        drain = duration_s(env.get("CHAT_DRAIN_WINDOW", "10s")) or 0
        shutdown = duration_s(env.get("CHAT_SHUTDOWN_TIMEOUT", "10s")) or 0
        c.check(grace >= drain + shutdown, f"{name}: stop_grace_period {grace:g}s covers drain "
                f"{drain:g}s + shutdown {shutdown:g}s")
    c.check(len(set(ids)) == len(ids) and all(ids), "every node has its own CHAT_NODE_ID", str(ids))

    prometheus = services.get("prometheus")
    if prometheus:
        conf_src = next((v.split(":", 1)[0] for v in prometheus.get("volumes") or []
                         if isinstance(v, str) and v.endswith("prometheus.yml:ro")), None)
        conf = yaml.safe_load((path.parent / conf_src).read_text()) if conf_src else {}
        jobs = conf.get("scrape_configs") or []
        targets = {t.split(":")[0] for j in jobs for sc in j.get("static_configs") or []
                   for t in sc.get("targets") or []}
        c.check(targets == set(nodes), "prometheus: scrapes every chat node", str(targets))
        creds = [(j.get("authorization") or {}).get("credentials_file", "") for j in jobs]
        secret = creds[0].removeprefix("/run/secrets/") if creds else ""
        token = keys_in(secret_file(secret))
        node_keys = set()
        for svc in nodes.values():
            env = svc.get("environment") or {}
            node_keys.update(keys_in(secret_file(
                str(env.get("CHAT_API_KEYS_FILE", "")).removeprefix("/run/secrets/"))))
        c.check(len(creds) == 1 and secret in (prometheus.get("secrets") or [])
                and len(token) == 1 and token[0] in node_keys,
                "prometheus: sends one of the nodes' API keys as its bearer token")

    # nginx's upstream names the chat node services, on the port they listen on.
    for name in nginx:
        for vol in services[name].get("volumes") or []:
            source = vol.split(":", 1)[0] if isinstance(vol, str) else vol.get("source", "")
            conf = path.parent / source
            if not (source.endswith(".conf") and conf.is_file()):
                continue
            text = conf.read_text()
            servers = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", text, re.M)
            unknown = [h for h, _ in servers if h not in services]
            c.check(bool(servers) and not unknown,
                    f"{source}: every upstream server is a compose service", str(unknown))
            c.check(sorted(h for h, _ in servers) == sorted(nodes),
                    f"{source}: the upstream lists every chat node", str(servers))
            for needle, what in (("proxy_set_header Upgrade", "Upgrade header"),
                                 ("proxy_set_header Connection", "Connection header"),
                                 ("proxy_next_upstream error timeout http_503",
                                  "retries the next node on 503"),
                                 ("proxy_read_timeout 3600s", "long read timeout")):
                c.check(needle in text, f"{source}: {what}")
    return c


# --- Kubernetes, one rendered overlay -----------------------------------------------------


def labels_match(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_k8s(path: Path, overlay: str, external_secrets: list[str]) -> Checks:
    c = Checks(f"k8s/{overlay}")
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    by_kind: dict[str, dict[str, dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    c.check(bool(docs), f"{len(docs)} objects rendered")
    wrong_ns = [f"{d['kind']}/{d['metadata']['name']}" for d in docs
                if d["kind"] != "Namespace" and d["metadata"].get("namespace") != "chat"]
    c.check(not wrong_ns, "every object is in namespace chat", str(wrong_ns))
    for kind in ("Namespace", "ConfigMap", "Deployment", "Service", "Ingress",
                 "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"):
        c.check(kind in by_kind, f"renders a {kind}")

    configmaps = by_kind.get("ConfigMap", {})
    secrets = set(by_kind.get("Secret", {})) | set(external_secrets)
    workloads = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}

    for name, w in workloads.items():
        kind = w["kind"]
        spec = w["spec"]
        pod = spec["template"]["spec"]
        tmpl_labels = spec["template"]["metadata"].get("labels", {})
        c.check(labels_match(spec["selector"].get("matchLabels", {}), tmpl_labels),
                f"{kind}/{name}: selector matches the pod labels")
        pod_sc = pod.get("securityContext", {})
        for ctr in pod.get("containers", []) + pod.get("initContainers", []):
            cname = f"{kind}/{name}/{ctr['name']}"
            sc = ctr.get("securityContext", {})
            res = ctr.get("resources", {})
            c.check(all(res.get(k, {}).get(r) for k in ("requests", "limits")
                        for r in ("cpu", "memory")),
                    f"{cname}: CPU and memory requests and limits")
            c.check(sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True
                    and sc.get("runAsUser", pod_sc.get("runAsUser", 0)) != 0,
                    f"{cname}: runs as non-root")
            c.check(sc.get("readOnlyRootFilesystem") is True, f"{cname}: read-only root filesystem")
            c.check(sc.get("allowPrivilegeEscalation") is False, f"{cname}: no privilege escalation")
            c.check("ALL" in (sc.get("capabilities", {}).get("drop") or []),
                    f"{cname}: drops all capabilities")
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
            c.check(seccomp == "RuntimeDefault", f"{cname}: seccomp RuntimeDefault", str(seccomp))
            c.check(bool(ctr.get("livenessProbe")) and bool(ctr.get("readinessProbe")),
                    f"{cname}: liveness and readiness probes")
            image = ctr.get("image", "")
            tag = image.rsplit("/", 1)[-1]
            c.check(("@sha256:" in image or ":" in tag) and not tag.endswith(":latest"),
                    f"{cname}: image has a tag or digest ({image})")
            refs_ok = []
            for src in ctr.get("envFrom", []):
                if "configMapRef" in src:
                    refs_ok.append(src["configMapRef"]["name"] in configmaps
                                   or f"configmap {src['configMapRef']['name']}")
                if "secretRef" in src:
                    refs_ok.append(src["secretRef"]["name"] in secrets
                                   or f"secret {src['secretRef']['name']}")
            missing = [r for r in refs_ok if r is not True]
            c.check(not missing, f"{cname}: envFrom ConfigMaps and Secrets exist", str(missing))

    node = by_kind.get("Deployment", {}).get("chat-node")
    if c.check(node is not None, "Deployment chat-node exists"):
        spec = node["spec"]
        pod = spec["template"]["spec"]
        ctr = pod["containers"][0]
        ru = spec.get("strategy", {}).get("rollingUpdate", {})
        c.check(str(ru.get("maxUnavailable")) == "0" and str(ru.get("maxSurge")) == "1",
                "chat-node: rolling update maxUnavailable 0, maxSurge 1", str(ru))
        c.check(ctr["livenessProbe"].get("httpGet", {}).get("path") == "/api/health",
                "chat-node: liveness on /api/health")
        c.check(ctr["readinessProbe"].get("httpGet", {}).get("path") == "/api/ready",
                "chat-node: readiness on /api/ready")
        c.check(pod.get("securityContext", {}).get("runAsUser") == NODE_UID,
                f"chat-node: uid {NODE_UID} (the image's user)")
        anti = (pod.get("affinity", {}).get("podAntiAffinity", {})
                .get("preferredDuringSchedulingIgnoredDuringExecution", []))
        c.check(any(t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
                    for t in anti), "chat-node: preferred pod anti-affinity by host name")
        mounts = {m["mountPath"]: m["name"] for m in ctr.get("volumeMounts", [])}
        empty = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        c.check(mounts.get("/tmp") in empty and mounts.get("/data") in empty,
                "chat-node: emptyDir volumes on /tmp and /data")
        pre = ctr.get("lifecycle", {}).get("preStop", {})
        prestop_s = PRESTOP_DEFAULT_S
        if "sleep" in pre:
            prestop_s = float(pre["sleep"].get("seconds", 0))
        elif "exec" in pre:
            cmd = pre["exec"].get("command", [])
            if len(cmd) == 2 and cmd[0].endswith("sleep"):
                prestop_s = duration_s(cmd[1]) or 0
        c.check(3 <= prestop_s <= 15, f"chat-node: preStop waits {prestop_s:g}s for endpoints")
        env = {}
        for src in ctr.get("envFrom", []):
            cm = configmaps.get(src.get("configMapRef", {}).get("name", ""))
            if cm:
                env.update(cm.get("data", {}))
        drain = duration_s(env.get("CHAT_DRAIN_WINDOW", "10s")) or 0
        shutdown = duration_s(env.get("CHAT_SHUTDOWN_TIMEOUT", "10s")) or 0
        grace = pod.get("terminationGracePeriodSeconds", 30)
        c.check(drain <= DRAIN_WINDOW_MAX_S, f"chat-node: CHAT_DRAIN_WINDOW {drain:g}s <= "
                f"{DRAIN_WINDOW_MAX_S:g}s")
        need = prestop_s + DRAIN_WINDOW_MAX_S + shutdown
        c.check(grace >= need, f"chat-node: terminationGracePeriodSeconds {grace} >= preStop "
                f"{prestop_s:g} + drain window up to {DRAIN_WINDOW_MAX_S:g} + shutdown "
                f"{shutdown:g}")
        broad = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12",
                                                   "192.168.0.0/16", "fc00::/7")]
        proxies = [p.strip() for p in env.get("CHAT_TRUSTED_PROXIES", "").split(",") if p.strip()]
        too_wide = []
        for proxy in proxies:
            net = ipaddress.ip_network(proxy, strict=False)
            if any(net.version == b.version and b.subnet_of(net) for b in broad) \
                    or net.prefixlen < (16 if net.version == 4 else 48):
                too_wide.append(proxy)
        c.check(bool(proxies) and not too_wide,
                f"chat-node: CHAT_TRUSTED_PROXIES names proxy ranges, not whole private blocks "
                f"({', '.join(proxies)})", str(too_wide))
        for key, want in (("CHAT_BIND", f"0.0.0.0:{NODE_PORT}"), ("CHAT_LOG_FORMAT", "json"),
                          ("CHAT_STATIC_DIR", "/app/static"), ("CHAT_DATA_DIR", "/data")):
            c.check(env.get(key) == want, f"chat-node: {key}={want}", str(env.get(key)))

        hpa = by_kind.get("HorizontalPodAutoscaler", {}).get("chat-node", {})
        hspec = hpa.get("spec", {})
        c.check(hspec.get("scaleTargetRef", {}).get("name") == "chat-node"
                and hspec.get("scaleTargetRef", {}).get("kind") == "Deployment",
                "HPA targets Deployment chat-node")
        metrics = hspec.get("metrics", [])
        c.check(any(m.get("type") == "Resource" and m["resource"]["name"] == "cpu"
                    for m in metrics), "HPA scales on CPU")
        c.check(any(m.get("type") == "Pods" and m["pods"]["metric"]["name"] == "chat_sessions"
                    for m in metrics), "HPA scales on the chat_sessions Pods metric")
        replicas = spec.get("replicas")
        floor = hspec.get("minReplicas", 1)
        if overlay == "production":
            c.check(replicas is None, "production: the HPA owns the replica count")
            c.check(floor >= 3, f"production: at least 3 replicas (minReplicas {floor})")
            c.check("chat-secrets" not in by_kind.get("Secret", {}),
                    "production: no example Secret is applied")
        elif overlay == "demo":
            c.check(replicas == 2, f"demo: 2 replicas ({replicas})")
            c.check({"postgres", "redis"} <= set(by_kind.get("StatefulSet", {})),
                    "demo: PostgreSQL and Redis StatefulSets")
        effective = replicas if replicas is not None else floor
        pdb = by_kind.get("PodDisruptionBudget", {}).get("chat-node", {}).get("spec", {})
        c.check(labels_match(pdb.get("selector", {}).get("matchLabels", {}),
                             spec["template"]["metadata"]["labels"]),
                "PDB selects the chat-node pods")
        min_avail = pdb.get("minAvailable")
        c.check(isinstance(min_avail, int) and 0 < min_avail < min(effective, floor),
                f"PDB minAvailable {min_avail} leaves room for one eviction "
                f"(replicas {effective}, HPA floor {floor})")

    services = by_kind.get("Service", {})
    for name, svc in services.items():
        selector = svc["spec"].get("selector", {})
        targets = [w for w in workloads.values()
                   if labels_match(selector, w["spec"]["template"]["metadata"].get("labels", {}))]
        c.check(bool(targets), f"Service/{name}: selects a workload's pods")
        port_names = {p.get("name") for w in targets for ctr in
                      w["spec"]["template"]["spec"]["containers"] for p in ctr.get("ports", [])}
        port_nums = {p.get("containerPort") for w in targets for ctr in
                     w["spec"]["template"]["spec"]["containers"] for p in ctr.get("ports", [])}
        bad = [p.get("targetPort") for p in svc["spec"]["ports"]
               if p.get("targetPort") not in port_names | port_nums]
        c.check(not bad, f"Service/{name}: target ports exist on the pods", str(bad))
    for name, sts in by_kind.get("StatefulSet", {}).items():
        c.check(sts["spec"].get("serviceName") in services,
                f"StatefulSet/{name}: its serviceName exists")

    for name, ing in by_kind.get("Ingress", {}).items():
        ann = ing["metadata"].get("annotations", {})
        for key in ("proxy-read-timeout", "proxy-send-timeout"):
            value = ann.get(f"nginx.ingress.kubernetes.io/{key}")
            c.check(value is not None and int(value) >= 3600, f"Ingress/{name}: {key} >= 3600",
                    str(value))
        bad = []
        for rule in ing["spec"].get("rules", []):
            for p in rule.get("http", {}).get("paths", []):
                be = p["backend"]["service"]
                svc = services.get(be["name"])
                names = {sp.get("name") for sp in svc["spec"]["ports"]} if svc else set()
                nums = {sp.get("port") for sp in svc["spec"]["ports"]} if svc else set()
                port = be["port"].get("name", be["port"].get("number"))
                if port not in names | nums:
                    bad.append(f"{p['path']} -> {be['name']}:{port}")
        c.check(not bad, f"Ingress/{name}: every backend is a Service port", str(bad))
        paths = [p["path"] for r in ing["spec"]["rules"] for p in r["http"]["paths"]]
        c.check("/ws" in paths and "/api" in paths, f"Ingress/{name}: routes /api and /ws")
        # Prefix matching is by path element: only `/` and `/metrics` reach /metrics.
        exposing = [p["path"] for r in ing["spec"]["rules"] for p in r["http"]["paths"]
                    if p["path"].rstrip("/") == "/metrics"
                    or (p["path"] == "/" and p["pathType"] != "Exact")]
        c.check(not exposing, f"Ingress/{name}: /metrics is not exposed", str(exposing))

    node_labels = node["spec"]["template"]["metadata"]["labels"] if node else {}
    guarded = {}  # workload name -> its NetworkPolicy, for PostgreSQL and Redis
    for name, np in by_kind.get("NetworkPolicy", {}).items():
        spec = np["spec"]
        selected = spec["podSelector"].get("matchLabels", {})
        if not labels_match(selected, node_labels):
            # A policy for a server the chat pods use (the demo's PostgreSQL and Redis):
            # only the chat pods may reach it, on its own port.
            peers = [peer for r in spec.get("ingress", []) for peer in r.get("from", [])]
            c.check(bool(peers) and all(set(peer) == {"podSelector"} and
                                        labels_match(peer["podSelector"].get("matchLabels", {}),
                                                     node_labels) for peer in peers),
                    f"NetworkPolicy/{name}: admits only the chat-node pods", str(peers))
            for wname, w in workloads.items():
                if labels_match(selected, w["spec"]["template"]["metadata"].get("labels", {})):
                    guarded[wname] = spec
            continue
        in_ports = {p.get("port") for r in spec.get("ingress", []) for p in r.get("ports", [])}
        c.check(in_ports == {NODE_PORT}, f"NetworkPolicy/{name}: ingress only to {NODE_PORT}",
                str(in_ports))
        peers_ns = {peer.get("namespaceSelector", {}).get("matchLabels", {})
                    .get("kubernetes.io/metadata.name")
                    for r in spec.get("ingress", []) for peer in r.get("from", [])}
        c.check("ingress-nginx" in peers_ns, f"NetworkPolicy/{name}: ingress controller allowed")
        out_ports = {p.get("port") for r in spec.get("egress", []) for p in r.get("ports", [])}
        c.check({53, 5432, 6379} <= out_ports and out_ports <= {53, 5432, 6379},
                f"NetworkPolicy/{name}: egress to DNS, PostgreSQL and Redis only", str(out_ports))
    for name in by_kind.get("StatefulSet", {}):
        c.check(name in guarded, f"StatefulSet/{name}: a NetworkPolicy lets only the chat pods in")

    secrets = by_kind.get("Secret", {})
    if overlay == "production":
        placeholder = re.compile(r"example|change-?me|placeholder|password|secret|xxx|todo",
                                 re.I)
        bad = [f"{name}.{key}" for name, sec in secrets.items()
               for key, value in {**sec.get("stringData", {}), **sec.get("data", {})}.items()
               if placeholder.search(str(value))]
        c.check(not bad, f"production: no Secret value is a placeholder ({len(secrets)} "
                "Secrets rendered; the real ones are created out of band)", str(bad))
    redis = by_kind.get("StatefulSet", {}).get("redis")
    if redis:
        args = [a for ctr in redis["spec"]["template"]["spec"]["containers"]
                for a in ctr.get("args", []) + ctr.get("command", [])]
        c.check("--requirepass" in args, "Redis requires a password", str(args))
        url = secrets.get("chat-secrets", {}).get("stringData", {}).get("REDIS_URL", "")
        c.check(re.match(r"rediss?://[^@/]*:[^@/]+@", url) is not None,
                "chat-secrets: REDIS_URL carries the password", url)
    return c


def check_servicemonitor(path: Path, rendered: Path) -> Checks:
    """The ServiceMonitor of k8s/monitoring scrapes the chat Service's pods with a key."""
    c = Checks("servicemonitor")
    monitor = yaml.safe_load(path.read_text())
    docs = [d for d in yaml.safe_load_all(rendered.read_text()) if d]
    service = next((d for d in docs if d.get("kind") == "Service"
                    and d["metadata"]["name"] == "chat-node"), None)
    c.check(monitor.get("kind") == "ServiceMonitor"
            and monitor.get("apiVersion") == "monitoring.coreos.com/v1",
            "a monitoring.coreos.com/v1 ServiceMonitor")
    spec = monitor.get("spec", {})
    if not c.check(service is not None, "the overlay renders Service chat-node"):
        return c
    c.check(monitor["metadata"].get("namespace") == service["metadata"].get("namespace")
            and service["metadata"].get("namespace") in spec.get("namespaceSelector", {})
            .get("matchNames", []), "it watches the chat namespace")
    c.check(labels_match(spec.get("selector", {}).get("matchLabels", {}),
                         service["metadata"].get("labels", {})),
            "its selector matches the Service's labels")
    names = {p.get("name") for p in service["spec"]["ports"]}
    for ep in spec.get("endpoints", []):
        c.check(ep.get("port") in names, f"endpoint port {ep.get('port')} is a Service port")
        c.check(ep.get("path") == "/metrics", "endpoint path /metrics")
        auth = ep.get("authorization", {})
        creds = auth.get("credentials", {})
        c.check(auth.get("type") == "Bearer" and creds.get("name") and creds.get("key"),
                "endpoint sends an API key as a bearer token from a Secret", str(auth))
    c.check(bool(spec.get("endpoints")), "has an endpoint")
    return c

# --- monitoring: the Grafana dashboard and the PrometheusRule ----------------------------

METRIC_NAMES_RS = ROOT / "actors/src/metric_names.rs"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
SEVERITIES = {"page", "ticket", "info"}
RUNBOOK_DOC = "docs/operations.md"
# A metric named in an expression, with its label matchers if any.
METRIC_REF = re.compile(r"\b(chat_[a-z0-9_]+)\b(\{[^}]*\})?")
PROM_DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")


def node_metrics() -> dict[str, str]:
    """The metric names the node exports, by type (`gauge`, `counter`, `histogram`).

    The constants of actors/src/metric_names.rs, typed by the first word of their doc comment,
    plus any `*_METRIC` constant elsewhere in the Rust sources (such as
    chat_ws_origin_rejected_total in src/security.rs), typed by their `_total` suffix.
    """
    metrics: dict[str, str] = {}
    doc: list[str] = []
    for line in METRIC_NAMES_RS.read_text().splitlines():
        line = line.strip()
        if line.startswith("///"):
            doc.append(line[3:].strip())
            continue
        match = re.match(r'pub const \w+: &str = "(chat_[a-z0-9_]+)";', line)
        if match:
            kind = re.match(r"(Gauge|Counter|Histogram)\b", doc[0] if doc else "")
            metrics[match.group(1)] = kind.group(1).lower() if kind else "unknown"
        doc = []
    for folder in (ROOT / "src", ROOT / "actors/src"):
        for path in folder.rglob("*.rs"):
            for name in re.findall(r'const \w+_METRIC: &str = "(chat_[a-z0-9_]+)";',
                                   path.read_text()):
                metrics.setdefault(name, "counter" if name.endswith("_total") else "unknown")
    return metrics


def unknown_metrics(expr: str, metrics: dict[str, str]) -> list[str]:
    """The `chat_*` names in `expr` that are not a series the node exports: unknown names,
    and histograms named without their `_bucket`/`_sum`/`_count` suffix (no such series)."""
    bad = []
    for name, _ in METRIC_REF.findall(expr):
        if metrics.get(name, "histogram") != "histogram":
            continue
        base = next((name[: -len(s)] for s in HISTOGRAM_SUFFIXES if name.endswith(s)), None)
        if base is None or metrics.get(base) != "histogram":
            bad.append(name)
    return sorted(set(bad))


def used_metrics(exprs: list[str]) -> set[str]:
    used = set()
    for expr in exprs:
        for name, _ in METRIC_REF.findall(expr):
            used.add(next((name[: -len(s)] for s in HISTOGRAM_SUFFIXES if name.endswith(s)),
                          name))
    return used


def unfiltered(expr: str, matcher: str) -> list[str]:
    """The `chat_*` selectors of `expr` that lack `matcher`."""
    return [name for name, labels in METRIC_REF.findall(expr) if matcher not in labels]


def write_rules(path: Path, groups: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False, width=100))


def check_dashboard(path: Path, exprs_out: Path | None) -> Checks:
    """deploy/grafana/chat-node.json: importable, on the `${datasource}` variable, and every
    query names only series the node exports and follows the `pod` variable."""
    c = Checks("dashboard")
    try:
        board = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        c.check(False, f"{path} parses as JSON", str(error))
        return c
    c.check(isinstance(board, dict) and board.get("title") and board.get("uid"),
            f"{path} parses as JSON, with a title and a uid")
    c.check(board.get("id") is None, "no instance id (importable into any Grafana)")
    version = board.get("schemaVersion")
    c.check(isinstance(version, int) and 36 <= version <= 41, f"schemaVersion {version}")
    variables = {v.get("name"): v for v in board.get("templating", {}).get("list", [])}
    ds = variables.get("datasource", {})
    c.check(ds.get("type") == "datasource" and ds.get("query") == "prometheus",
            "a `datasource` variable of Prometheus data sources")
    metrics = node_metrics()
    for name in ("job", "pod"):
        var = variables.get(name, {})
        query = var.get("query", {})
        query = query.get("query", "") if isinstance(query, dict) else str(query)
        c.check(var.get("type") == "query"
                and var.get("datasource", {}).get("uid") == "${datasource}"
                and query.startswith("label_values(") and not unknown_metrics(query, metrics)
                and METRIC_REF.search(query) is not None,
                f"a `{name}` variable from the node's series ({query})")

    def flatten(items: list) -> list:
        out = []
        for item in items:
            out.append(item)
            out.extend(flatten(item.get("panels", [])))
        return out

    panels = flatten(board.get("panels", []))
    ids = [p.get("id") for p in panels]
    c.check(bool(panels) and len(ids) == len(set(ids)) and None not in ids,
            f"{len(panels)} panels with distinct ids")
    bad_grid = [p.get("title") for p in panels
                if not all(isinstance(p.get("gridPos", {}).get(k), int) for k in "hwxy")
                or p["gridPos"]["x"] + p["gridPos"]["w"] > 24]
    c.check(not bad_grid, "every panel has a grid position within 24 columns", str(bad_grid))
    rules = []
    exprs = []
    known_vars = {"$job", "$pod", "$__rate_interval", "$__interval", "$__range"}
    for panel in panels:
        if panel.get("type") == "row":
            continue
        title = panel.get("title", f"id {panel.get('id')}")
        targets = panel.get("targets", [])
        sources = [panel.get("datasource", {})] + [t.get("datasource", {}) for t in targets]
        panel_exprs = [t.get("expr", "") for t in targets]
        problems = []
        if not targets or not all(e.strip() for e in panel_exprs):
            problems.append("a target without an expression")
        if not all(s.get("uid") == "${datasource}" for s in sources):
            problems.append("a data source other than ${datasource}")
        refs = [t.get("refId") for t in targets]
        if len(refs) != len(set(refs)):
            problems.append("repeated refId")
        for expr in panel_exprs:
            problems += [f"not a series of the node: {n}" for n in unknown_metrics(expr, metrics)]
            problems += [f"{n} ignores the pod variable" for n in unfiltered(expr, 'pod=~"$pod"')]
            if 'pod=~"$pod"' not in expr:
                problems.append("a query that ignores the pod variable")
            stray = set(re.findall(r"\$\w+", expr)) - known_vars
            if stray:
                problems.append(f"unknown variables {sorted(stray)}")
        count = f"{len(panel_exprs)} quer{'y' if len(panel_exprs) == 1 else 'ies'}"
        c.check(not problems, f"panel '{title}': {count} on series the node exports, by pod",
                "; ".join(dict.fromkeys(problems)))
        exprs += panel_exprs
        for target in targets:
            # As Grafana would send it: variables replaced by values promtool can parse.
            expr = (target.get("expr", "").replace("$__rate_interval", "5m")
                    .replace("$__interval", "1m").replace("$__range", "1h")
                    .replace("$job", "chat-node").replace("$pod", ".+"))
            rules.append({"record": f"dashboard:panel_{panel.get('id')}:{target.get('refId')}",
                          "expr": expr})
    shown = used_metrics(exprs)
    missing = sorted(set(metrics) - shown)
    if missing:
        print(f"(metrics the node exports that no panel shows: {', '.join(missing)})")
    if exprs_out:
        write_rules(exprs_out, [{"name": "dashboard-queries", "rules": rules}])
        print(f"(the {len(rules)} queries, as recording rules for promtool: {exprs_out})")
    return c


def doc_anchors(path: Path) -> set[str]:
    """GitHub's anchors of the Markdown headings in `path`."""
    anchors = set()
    for line in path.read_text().splitlines():
        match = re.match(r"#{1,6} (.+)", line)
        if match:
            text = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def check_prometheusrule(path: Path, servicemonitor: Path, tests: Path,
                         rules_out: Path | None) -> Checks:
    """k8s/monitoring/prometheusrule.yaml: a PrometheusRule the operator accepts (the CRD's
    shape, which kubernetes-validate does not know), labelled like the ServiceMonitor, whose
    alerts name only series the node exports, each documented and each unit-tested."""
    c = Checks("prometheusrule")
    rule = yaml.safe_load(path.read_text())
    monitor = yaml.safe_load(servicemonitor.read_text())
    c.check(rule.get("apiVersion") == "monitoring.coreos.com/v1"
            and rule.get("kind") == "PrometheusRule", "a monitoring.coreos.com/v1 PrometheusRule")
    meta = rule.get("metadata", {})
    c.check(bool(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", str(meta.get("name", "")))),
            f"metadata.name {meta.get('name')} is a DNS label")
    c.check(meta.get("namespace") == monitor["metadata"].get("namespace"),
            f"in the ServiceMonitor's namespace ({meta.get('namespace')})")
    c.check(labels_match(monitor["metadata"].get("labels", {}), meta.get("labels", {})),
            "labelled like the ServiceMonitor", str(meta.get("labels")))
    spec = rule.get("spec", {})
    c.check(set(spec) == {"groups"}, "spec has only `groups`", str(sorted(spec)))
    groups = spec.get("groups") or []
    names = [g.get("name") for g in groups]
    c.check(bool(groups) and all(names) and len(names) == len(set(names)),
            f"{len(groups)} rule groups with distinct names", str(names))
    metrics = node_metrics()
    anchors = doc_anchors(ROOT / RUNBOOK_DOC)
    alerts = []
    for group in groups:
        extra = set(group) - {"name", "interval", "rules", "limit", "partial_response_strategy"}
        c.check(not extra and bool(group.get("rules")), f"group {group.get('name')}: "
                f"{len(group.get('rules') or [])} rules, known fields only", str(sorted(extra)))
        for r in group.get("rules") or []:
            name = r.get("alert") or r.get("record")
            problems = []
            if bool(r.get("alert")) == bool(r.get("record")):
                problems.append("needs exactly one of alert and record")
            extra = set(r) - {"alert", "record", "expr", "for", "keep_firing_for", "labels",
                              "annotations"}
            if extra:
                problems.append(f"unknown fields {sorted(extra)}")
            expr = r.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.append("no expr")
                expr = ""
            problems += [f"not a series of the node: {n}" for n in unknown_metrics(expr, metrics)]
            problems += [f"{n} without job=\"chat-node\"" for n in
                         unfiltered(expr, 'job="chat-node"')]
            if "for" in r and not PROM_DURATION.fullmatch(str(r["for"])):
                problems.append(f"`for: {r['for']}` is not a Prometheus duration")
            if r.get("alert"):
                alerts.append(name)
                labels, notes = r.get("labels") or {}, r.get("annotations") or {}
                if labels.get("severity") not in SEVERITIES:
                    problems.append(f"severity {labels.get('severity')} not in {sorted(SEVERITIES)}")
                missing = [k for k in ("summary", "description", "runbook") if not notes.get(k)]
                if missing:
                    problems.append(f"no {', '.join(missing)}")
                want = f"{RUNBOOK_DOC}#{name.lower()}"
                if notes.get("runbook") != want:
                    problems.append(f"runbook is not {want}")
                if name.lower() not in anchors:
                    problems.append(f"no heading `{name}` in {RUNBOOK_DOC}")
            c.check(not problems, f"{name}: well formed, only known chat_* series, runbook in "
                    f"{RUNBOOK_DOC}", "; ".join(problems))
    c.check(len(alerts) == len(set(alerts)), f"{len(alerts)} alerts with distinct names")

    suite = yaml.safe_load(tests.read_text())
    wanted_file = rules_out.name if rules_out else None
    c.check(suite.get("rule_files") == [wanted_file] if wanted_file else bool(suite.get("rule_files")),
            f"{tests.name} tests the extracted rules ({suite.get('rule_files')})")
    cases = [case for test in suite.get("tests") or [] for case in test.get("alert_rule_test") or []]
    for alert in alerts:
        fires = any(case.get("alertname") == alert and case.get("exp_alerts") for case in cases)
        quiet = any(case.get("alertname") == alert and not case.get("exp_alerts") for case in cases)
        c.check(fires and quiet, f"{alert}: {tests.name} has a case where it fires and one where "
                "it does not", f"fires {fires}, quiet {quiet}")
    if rules_out:
        write_rules(rules_out, groups)
        print(f"(the spec's groups as a plain rules file: {rules_out})")
    return c


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    d = sub.add_parser("dockerfile")
    d.add_argument("dockerfile", type=Path)
    d.add_argument("dockerignore", type=Path)
    co = sub.add_parser("compose")
    co.add_argument("file", type=Path)
    sm = sub.add_parser("servicemonitor")
    sm.add_argument("file", type=Path)
    sm.add_argument("--rendered", type=Path, required=True)
    db = sub.add_parser("dashboard")
    db.add_argument("file", type=Path)
    db.add_argument("--exprs-out", type=Path, help="write the queries as a rules file here")
    pr = sub.add_parser("prometheusrule")
    pr.add_argument("file", type=Path)
    pr.add_argument("--servicemonitor", type=Path, required=True)
    pr.add_argument("--tests", type=Path, required=True)
    pr.add_argument("--rules-out", type=Path, help="write spec.groups as a rules file here")
    k = sub.add_parser("k8s")
    k.add_argument("rendered", type=Path)
    k.add_argument("--overlay", required=True)
    k.add_argument("--external-secret", action="append", default=[],
                   help="a Secret created outside the manifests (may be referenced)")
    args = parser.parse_args()
    try:
        if args.what == "dockerfile":
            checks = check_dockerfile(args.dockerfile, args.dockerignore)
        elif args.what == "compose":
            checks = check_compose(args.file)
        elif args.what == "servicemonitor":
            checks = check_servicemonitor(args.file, args.rendered)
        elif args.what == "dashboard":
            checks = check_dashboard(args.file, args.exprs_out)
        elif args.what == "prometheusrule":
            checks = check_prometheusrule(args.file, args.servicemonitor, args.tests,
                                          args.rules_out)
        else:
            checks = check_k8s(args.rendered, args.overlay, args.external_secret)
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, IndexError) as error:
        print(f"FAIL - {args.what}: could not be checked: {error!r}")
        return 1
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
