//! Kubernetes: `kubernetes-validate --strict` on every manifest, and the manifests fitting
//! together and with the ConfigMap's configuration.

use super::*;

const MANIFESTS: &[&str] = &[
    "configmap.yaml",
    "secret.yaml",
    "deployment.yaml",
    "service.yaml",
    "hpa.yaml",
    "pdb.yaml",
    "networkpolicy.yaml",
    "redis-deployment.yaml",
    "redis-service.yaml",
    "redis-networkpolicy.yaml",
];

#[test]
fn every_kubernetes_manifest_is_listed_and_validates_strictly() {
    let mut on_disk: Vec<String> = std::fs::read_dir(repo("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = MANIFESTS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "tests/deploy.rs lists every manifest");

    let Some(validate) = tool(
        venv_bin("kubernetes-validate"),
        "kubernetes-validate (PyPI)",
    ) else {
        return;
    };
    let out = run(Command::new(validate)
        .arg("--strict")
        .args(MANIFESTS.iter().map(|m| repo("deploy/kubernetes").join(m))));
    let report = utf8(&out.stdout) + &utf8(&out.stderr);
    assert!(
        out.status.success(),
        "kubernetes-validate --strict:\n{report}"
    );
    assert_eq!(
        report.matches(" passed for resource ").count(),
        MANIFESTS.len(),
        "{report}"
    );
}

/// The manifests, by kind.
struct K8s {
    configmap: Value,
    secret: Value,
    deployment: Value,
    service: Value,
    hpa: Value,
    pdb: Value,
    policy: Value,
}

fn k8s(py: &Path) -> K8s {
    let doc = |f: &str, kind: &str| {
        let d = yaml_doc(py, &format!("deploy/kubernetes/{f}"));
        assert_eq!(d["kind"], kind, "{f}");
        d
    };
    K8s {
        configmap: doc("configmap.yaml", "ConfigMap"),
        secret: doc("secret.yaml", "Secret"),
        deployment: doc("deployment.yaml", "Deployment"),
        service: doc("service.yaml", "Service"),
        hpa: doc("hpa.yaml", "HorizontalPodAutoscaler"),
        pdb: doc("pdb.yaml", "PodDisruptionBudget"),
        policy: doc("networkpolicy.yaml", "NetworkPolicy"),
    }
}

fn port_named(container: &Value, name: &str) -> u64 {
    container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("a container port named {name}"))["containerPort"]
        .as_u64()
        .unwrap()
}

fn mount_path(container: &Value, volume: &str) -> String {
    container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == volume)
        .unwrap_or_else(|| panic!("a mount of volume {volume}"))["mountPath"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_configmap_config_passes_check_and_fits_the_deployment() {
    let Some(py) = python() else { return };
    let k = k8s(&py);
    let pod = &k.deployment["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let text = k.configmap["data"]["config.toml"]
        .as_str()
        .unwrap()
        .to_owned();
    let secrets_dir = mount_path(c, "secrets") + "/";
    let tls_dir = mount_path(c, "tls") + "/";
    let cfg = test_config(
        "configmap",
        &text,
        &[(&secrets_dir, "secrets/"), (&tls_dir, "tls/")],
        "secrets/cec_secret",
    );
    let config = cfg.check();

    // Probes on the admin listener, which must listen beyond loopback for the kubelet.
    let admin = config.server.admin_listen.expect("an admin listener");
    assert!(
        admin.ip().is_unspecified(),
        "admin_listen {admin} is reachable by the kubelet"
    );
    assert_eq!(port_named(c, "admin"), u64::from(admin.port()));
    assert_eq!(
        port_named(c, "https"),
        u64::from(config.server.listen.port())
    );
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "admin", "{probe}");
    }

    // The files the config names are where the volumes are mounted.
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let config_path = args[args.iter().position(|a| *a == "--config").unwrap() + 1];
    assert_eq!(
        format!("{}/config.toml", mount_path(c, "config")),
        config_path
    );
    let volume = |name: &str| {
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        volume("config")["configMap"]["name"],
        k.configmap["metadata"]["name"]
    );
    assert_eq!(
        volume("secrets")["secret"]["secretName"],
        k.secret["metadata"]["name"]
    );
    let channel = &config.signing.as_ref().unwrap().channels[0];
    assert!(text.contains(&format!("secret_key_file = \"{secrets_dir}cec_secret\"")));
    assert!(
        k.secret["stringData"]["cec_secret"].is_string(),
        "the Secret holds cec_secret"
    );
    assert_eq!(channel.config_id, "817854979183314945");

    // Shutdown: the grace period covers preStop, drain_delay and shutdown_grace.
    let grace = Duration::from_secs(pod["terminationGracePeriodSeconds"].as_u64().unwrap());
    let pre_stop = &c["lifecycle"]["preStop"]["exec"]["command"];
    assert_eq!(pre_stop[0], "sleep");
    let sleep = Duration::from_secs(pre_stop[1].as_str().unwrap().parse().unwrap());
    let need = sleep + planned_drain_delay(&text) + config.server.shutdown_grace;
    assert!(
        grace > need,
        "terminationGracePeriodSeconds {grace:?} must exceed {need:?}"
    );
}

#[test]
fn the_secret_placeholder_is_refused_by_the_gateway() {
    let Some(py) = python() else { return };
    let k = k8s(&py);
    let text = k.configmap["data"]["config.toml"]
        .as_str()
        .unwrap()
        .to_owned();
    let cfg = test_config(
        "placeholder",
        &text,
        &[
            ("/run/secrets/cec-gateway/", "secrets/"),
            ("/run/secrets/cec-gateway-tls/", "tls/"),
        ],
        "secrets/cec_secret",
    );
    let placeholder = k.secret["stringData"]["cec_secret"].as_str().unwrap();
    std::fs::write(cfg.dir.0.join("secrets/cec_secret"), placeholder).unwrap();
    let out = run(Command::new(BIN).args(["check", "--config"]).arg(&cfg.path));
    assert_eq!(
        out.status.code(),
        Some(1),
        "a placeholder secret must not start a gateway"
    );
    assert!(
        text_has(&out.stderr, "signing.channels[0]"),
        "{}",
        utf8(&out.stderr)
    );
    // With a real channel secret, the token key's placeholder is refused in turn.
    std::fs::write(cfg.dir.0.join("secrets/cec_secret"), SECRET).unwrap();
    let placeholder = k.secret["stringData"]["cec_token_key"].as_str().unwrap();
    std::fs::write(cfg.dir.0.join("secrets/cec_token_key"), placeholder).unwrap();
    let out = run(Command::new(BIN).args(["check", "--config"]).arg(&cfg.path));
    assert_eq!(out.status.code(), Some(1), "{}", utf8(&out.stdout));
    assert!(
        text_has(&out.stderr, "[token]: the secret is 10 bytes long"),
        "{}",
        utf8(&out.stderr)
    );
}

fn text_has(b: &[u8], part: &str) -> bool {
    utf8(b).contains(part)
}

#[test]
fn deployment_service_hpa_pdb_and_policy_fit_together() {
    let Some(py) = python() else { return };
    let k = k8s(&py);
    let spec = &k.deployment["spec"];
    let labels = &spec["selector"]["matchLabels"];
    assert_eq!(&spec["template"]["metadata"]["labels"], labels);
    assert!(spec["replicas"].as_u64().unwrap() >= 2);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(
        c["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    for kind in ["requests", "limits"] {
        for r in ["cpu", "memory"] {
            assert!(c["resources"][kind][r].is_string(), "resources.{kind}.{r}");
        }
    }

    // The Service is the public side: HTTPS only, never the admin port.
    assert_eq!(&k.service["spec"]["selector"], labels);
    let admin = port_named(c, "admin");
    for p in k.service["spec"]["ports"].as_array().unwrap() {
        assert_eq!(p["targetPort"], "https", "{p}");
        assert_ne!(p["targetPort"].as_u64(), Some(admin));
    }

    let hpa = &k.hpa["spec"];
    assert_eq!(
        hpa["scaleTargetRef"]["name"],
        k.deployment["metadata"]["name"]
    );
    assert_eq!(hpa["scaleTargetRef"]["kind"], "Deployment");
    let min = hpa["minReplicas"].as_u64().unwrap();
    assert!(min >= 2 && hpa["maxReplicas"].as_u64().unwrap() > min);
    assert_eq!(&k.pdb["spec"]["selector"]["matchLabels"], labels);
    assert!(
        k.pdb["spec"]["minAvailable"].as_u64().unwrap() < min,
        "a drain can proceed"
    );

    // The NetworkPolicy opens HTTPS to all and the admin port only to named sources.
    let policy = &k.policy["spec"];
    assert_eq!(&policy["podSelector"]["matchLabels"], labels);
    let https = port_named(c, "https");
    let rules = policy["ingress"].as_array().unwrap();
    let allows = |rule: &Value, port: u64| {
        rule["ports"]
            .as_array()
            .is_none_or(|ps| ps.iter().any(|p| p["port"].as_u64() == Some(port)))
    };
    assert!(
        rules
            .iter()
            .any(|r| allows(r, https) && r.get("from").is_none())
    );
    for r in rules.iter().filter(|r| allows(r, admin)) {
        assert!(
            r["from"].as_array().is_some_and(|f| !f.is_empty()),
            "a rule opens the admin port to everyone: {r}"
        );
    }
}

#[test]
fn the_store_redis_is_where_the_configmap_points_and_shares_the_password_secret() {
    let Some(py) = python() else { return };
    let k = k8s(&py);
    let doc = |f: &str, kind: &str| {
        let d = yaml_doc(&py, &format!("deploy/kubernetes/{f}"));
        assert_eq!(d["kind"], kind, "{f}");
        d
    };
    let (redis, service, policy) = (
        doc("redis-deployment.yaml", "Deployment"),
        doc("redis-service.yaml", "Service"),
        doc("redis-networkpolicy.yaml", "NetworkPolicy"),
    );
    let text = k.configmap["data"]["config.toml"].as_str().unwrap();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key)?.trim().strip_prefix("= \""))
            .and_then(|v| v.split('"').next())
            .unwrap_or_else(|| panic!("{key} in the ConfigMap"))
            .to_owned()
    };
    let url = value("redis_url");
    let port = service["spec"]["ports"][0]["port"].as_u64().unwrap();
    assert_eq!(
        url,
        format!(
            "redis://{}:{port}/0",
            service["metadata"]["name"].as_str().unwrap()
        )
    );
    let labels = &redis["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&service["spec"]["selector"], labels);
    assert_eq!(&policy["spec"]["podSelector"]["matchLabels"], labels);
    let c = &redis["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(port_named(c, "redis"), port);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "redis");

    // Redis requires the password the gateway sends: the same key of the same Secret.
    let password_file = value("password_file");
    let (dir, key) = password_file.rsplit_once('/').unwrap();
    assert_eq!(mount_path(c, "secrets"), dir);
    let volume = &redis["spec"]["template"]["spec"]["volumes"][1];
    assert_eq!(volume["secret"]["secretName"], k.secret["metadata"]["name"]);
    assert_eq!(volume["secret"]["items"][0]["key"], key);
    assert!(
        c["args"][0]
            .as_str()
            .unwrap()
            .contains(&format!("--requirepass \"$(cat {password_file})\""))
    );
    assert!(
        k.secret["stringData"][key].is_string(),
        "the Secret holds {key}"
    );
    let gateway = &k.deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        mount_path(gateway, "secrets"),
        dir,
        "the gateway reads the same file"
    );

    // Only the gateway's pods may connect.
    let from = &policy["spec"]["ingress"][0];
    assert_eq!(
        from["from"][0]["podSelector"]["matchLabels"],
        k.deployment["spec"]["template"]["metadata"]["labels"]
    );
    assert_eq!(from["ports"][0]["port"].as_u64(), Some(port));
}
