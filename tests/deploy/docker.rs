//! Docker: the Dockerfile through moby/buildkit's parser (PyPI `dockerfile`), its stages
//! checked; the compose file against the image and the container configuration.

use super::*;

/// The Dockerfile through moby/buildkit's parser: one JSON object per instruction.
fn dockerfile(py: &Path) -> Vec<Value> {
    let code = "import dockerfile, json, sys\njson.dump([c._asdict() for c in dockerfile.parse_file(sys.argv[1])], sys.stdout)";
    let out = run(Command::new(py)
        .args(["-c", code])
        .arg(repo("deploy/Dockerfile")));
    assert!(
        out.status.success(),
        "deploy/Dockerfile: {}",
        utf8(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn values(cmd: &Value) -> Vec<String> {
    cmd["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// A build stage: its name, its base image (ARG defaults resolved), its instructions.
type Stage = (String, String, Vec<Value>);

/// Instructions grouped by stage.
fn stages(cmds: &[Value]) -> Vec<Stage> {
    let mut args: Vec<(String, String)> = Vec::new();
    let mut out: Vec<Stage> = Vec::new();
    for c in cmds {
        match (c["cmd"].as_str().unwrap(), out.last_mut()) {
            ("ARG", None) => {
                for v in values(c) {
                    let (k, d) = v.split_once('=').unwrap_or((&v, ""));
                    args.push((k.to_owned(), d.to_owned()));
                }
            }
            ("FROM", _) => {
                let v = values(c);
                let mut image = v[0].clone();
                for (k, d) in &args {
                    image = image.replace(&format!("${{{k}}}"), d);
                }
                let name = if v.len() == 3 && v[1].eq_ignore_ascii_case("as") {
                    v[2].clone()
                } else {
                    String::new()
                };
                out.push((name, image, Vec::new()));
            }
            (_, Some(stage)) => stage.2.push(c.clone()),
            (cmd, None) => panic!("{cmd} before the first FROM"),
        }
    }
    out
}

/// The parsed Dockerfile's stages, or `None` (skipped) without the parser.
fn parsed_stages() -> Option<(Vec<Value>, Vec<Stage>)> {
    let py = python()?;
    let cmds = dockerfile(&py);
    let stages = stages(&cmds);
    assert!(stages.len() >= 2, "a builder stage and a runtime stage");
    Some((cmds, stages))
}

/// The last `cmd` instruction of a stage.
fn last(stage: &Stage, cmd: &str) -> Value {
    stage
        .2
        .iter()
        .rev()
        .find(|c| c["cmd"] == cmd)
        .unwrap_or_else(|| panic!("{cmd} in stage {:?}", stage.0))
        .clone()
}

fn runs(stage: &Stage, part: &str) -> bool {
    stage
        .2
        .iter()
        .any(|c| c["cmd"] == "RUN" && c["original"].as_str().unwrap().contains(part))
}

#[test]
fn dockerfile_base_images_are_pinned_and_nothing_remote_or_secret_goes_in() {
    let Some((cmds, stages)) = parsed_stages() else {
        return;
    };
    for (name, image, _) in &stages {
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest" && !image.contains('$'),
            "stage {name}: pinned base image, not {image:?}"
        );
    }
    for c in &cmds {
        if c["cmd"] == "ADD" {
            for src in values(c).iter().rev().skip(1) {
                assert!(
                    !src.contains("://") && !src.starts_with("git@"),
                    "ADD of a remote URL: {}",
                    c["original"]
                );
            }
        }
        if c["cmd"] == "ENV" || c["cmd"] == "ARG" {
            let line = c["original"].as_str().unwrap().to_ascii_uppercase();
            assert!(
                !["SECRET", "PASSWORD", "TOKEN", "_KEY"]
                    .iter()
                    .any(|w| line.contains(w)),
                "no secret in the image: {line}"
            );
        }
    }
}

#[test]
fn dockerfile_builder_is_a_locked_release_build_with_the_crates_rust() {
    let Some((_, stages)) = parsed_stages() else {
        return;
    };
    let builder = &stages[0];
    assert!(runs(builder, "cargo build --release --locked"));
    let msrv = read("Cargo.toml")
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_owned();
    let version = |s: &str| -> Vec<u32> { s.split('.').map_while(|p| p.parse().ok()).collect() };
    let image = &builder.1;
    let tag = image.rsplit_once(':').unwrap().1.split('-').next().unwrap();
    assert!(
        image.starts_with("rust:") && version(tag) >= version(&msrv),
        "{image} vs rust-version {msrv}"
    );
    // The runtime takes the binary from it.
    let runtime = stages.last().unwrap();
    assert!(runtime.2.iter().any(|c| {
        c["cmd"] == "COPY"
            && c["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| *f == format!("--from={}", builder.0))
    }));
}

#[test]
fn dockerfile_runtime_is_non_root_and_checks_health_on_the_configs_admin_port() {
    let Some((_, stages)) = parsed_stages() else {
        return;
    };
    let runtime = stages.last().unwrap();
    let user = values(&last(runtime, "USER"))[0].clone();
    let uid = user.split(':').next().unwrap();
    assert!(
        uid.parse::<u32>().is_ok_and(|u| u != 0),
        "USER {user}: numeric (for runAsNonRoot) and not root"
    );

    let cfg = test_config(
        "docker",
        &read("deploy/docker/config.toml"),
        &[
            ("/run/secrets/", "secrets/"),
            ("/etc/cec-gateway/tls/", "tls/"),
        ],
        "secrets/cec_secret",
    );
    let config = cfg.check();
    let admin = config
        .server
        .admin_listen
        .expect("an admin listener")
        .port();
    let health = values(&last(runtime, "HEALTHCHECK"));
    assert_eq!(health[0], "CMD");
    assert!(
        health.contains(&format!("http://127.0.0.1:{admin}/healthz")),
        "{health:?}"
    );
    if health[1] == "curl" {
        assert!(runs(runtime, "install -y --no-install-recommends curl"));
    }
    let exposed = values(&last(runtime, "EXPOSE"));
    for port in [config.server.listen.port(), admin] {
        assert!(
            exposed.contains(&port.to_string()),
            "EXPOSE {port}: {exposed:?}"
        );
    }
    assert_eq!(
        values(&last(runtime, "ENTRYPOINT")),
        vec!["/usr/local/bin/cec-gateway"]
    );
    let cmd = values(&last(runtime, "CMD"));
    assert!(
        cmd.windows(2)
            .any(|w| w[0] == "--config" && w[1] == "/etc/cec-gateway/config.toml"),
        "{cmd:?}"
    );
}

#[test]
fn compose_file_runs_the_image_read_only_with_secrets_and_redis() {
    let Some(py) = python() else { return };
    let compose = yaml_doc(&py, "deploy/docker-compose.yml");
    let gw = &compose["services"]["gateway"];
    assert_eq!(gw["build"]["dockerfile"], "deploy/Dockerfile");
    assert!(
        repo("deploy")
            .join(gw["build"]["context"].as_str().unwrap())
            .join("deploy/Dockerfile")
            .is_file()
    );
    assert_eq!(gw["read_only"], true);
    assert!(gw["tmpfs"].as_array().is_some_and(|t| !t.is_empty()));
    assert_eq!(gw["cap_drop"], serde_json::json!(["ALL"]));
    let volumes: Vec<&str> = gw["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let config_mount = volumes
        .iter()
        .find(|v| v.contains(":/etc/cec-gateway/config.toml"))
        .expect("the config mounted");
    let source = config_mount.split(':').next().unwrap();
    assert!(
        repo("deploy").join(source).is_file() && config_mount.ends_with(":ro"),
        "{config_mount}"
    );
    for p in gw["ports"].as_array().unwrap() {
        assert!(
            !p.as_str().unwrap().contains("9901"),
            "the admin port is not published: {p}"
        );
    }
    let text = read("deploy/docker/config.toml");
    for s in gw["secrets"].as_array().unwrap() {
        let name = s.as_str().unwrap();
        assert!(
            compose["secrets"][name]["file"].is_string(),
            "secret {name} defined"
        );
        assert!(
            text.contains(&format!("\"/run/secrets/{name}\"")),
            "the config reads secret {name}"
        );
    }
    let stop = parse_duration(gw["stop_grace_period"].as_str().unwrap()).unwrap();
    let grace = parse_duration(
        text.lines()
            .find_map(|l| l.strip_prefix("shutdown_grace = \""))
            .unwrap()
            .split('"')
            .next()
            .unwrap(),
    )
    .unwrap();
    assert!(
        stop > grace + planned_drain_delay(&text),
        "stop_grace_period {stop:?}"
    );

    let redis = &compose["services"]["redis"];
    assert!(redis["image"].as_str().unwrap().starts_with("redis:7"));
    assert_eq!(redis["read_only"], true);
    assert!(redis["healthcheck"]["test"].is_array());
}
