//! The Kubernetes manifests in `deploy/kubernetes/`, checked without a cluster: each file is
//! deserialized into its typed Kubernetes object (an unknown or misspelt field fails, because the
//! typed object re-serialized must equal the file), then the wiring between them is asserted —
//! completion index → `--shard`, shard count, scenario mount, results volume, run id, image,
//! resources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, EnvVar, PersistentVolumeClaim, Pod, PodSpec, Volume,
};
use serde::de::DeserializeOwned;

const IMAGE: &str = "kneepoint/kneepoint:latest";

/// Requests per second one worker is planned for (deploy/README.md: half of ~50k per core).
const PER_WORKER_RPS: f64 = 25_000.0;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

/// Every manifest, by file name, as YAML values.
fn manifests() -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir()).expect("deploy/kubernetes exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).expect("readable");
            let value: serde_json::Value = yaml_serde::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            out.insert(name, value);
        }
    }
    out
}

/// The manifest as a typed object; re-serialized it must equal the file, so no field was
/// dropped as unknown.
#[track_caller]
fn typed<T: DeserializeOwned + serde::Serialize>(
    all: &BTreeMap<String, serde_json::Value>,
    file: &str,
) -> T {
    let value = all
        .get(file)
        .unwrap_or_else(|| panic!("deploy/kubernetes/{file} is missing"));
    let object: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{file} does not deserialize: {e}"));
    let back = serde_json::to_value(&object).expect("serializable");
    assert_eq!(
        &back, value,
        "{file}: a field is unknown to the typed object"
    );
    object
}

/// What runs kneepoint: the workers Job, the merge Job and the results-reader Pod.
fn runners(all: &BTreeMap<String, serde_json::Value>) -> (Job, Job, Pod) {
    (
        typed(all, "workers-job.yaml"),
        typed(all, "merge-job.yaml"),
        typed(all, "results-reader-pod.yaml"),
    )
}

fn pod_spec(job: &Job) -> &PodSpec {
    job.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("job has a pod spec")
}

/// The container's environment variable `name`.
fn env_var<'a>(c: &'a Container, name: &str) -> Option<&'a EnvVar> {
    c.env.iter().flatten().find(|e| e.name == name)
}

fn env_value<'a>(c: &'a Container, name: &str) -> Option<&'a str> {
    env_var(c, name).and_then(|e| e.value.as_deref())
}

/// (ConfigMap name, key) the variable is read from.
fn env_config_ref(c: &Container, name: &str) -> Option<(String, String)> {
    let from = env_var(c, name)?
        .value_from
        .as_ref()?
        .config_map_key_ref
        .as_ref()?;
    Some((from.name.clone(), from.key.clone()))
}

/// Mount path of the named volume in the container.
fn mount<'a>(c: &'a Container, volume: &str) -> Option<&'a str> {
    c.volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == volume)
        .map(|m| m.mount_path.as_str())
}

/// The name of the pod's first volume that `is_it` picks.
fn volume_name(spec: &PodSpec, is_it: impl Fn(&Volume) -> bool) -> Option<String> {
    spec.volumes
        .iter()
        .flatten()
        .find(|v| is_it(v))
        .map(|v| v.name.clone())
}

/// The volume (by name) that mounts the given PVC.
fn volume_for_claim(spec: &PodSpec, claim: &str) -> Option<String> {
    volume_name(spec, |v| {
        v.persistent_volume_claim
            .as_ref()
            .is_some_and(|p| p.claim_name == claim)
    })
}

/// The volume (by name) that mounts the given ConfigMap.
fn volume_for_config_map(spec: &PodSpec, config_map: &str) -> Option<String> {
    volume_name(spec, |v| {
        v.config_map.as_ref().is_some_and(|c| c.name == config_map)
    })
}

/// The shell script a container runs (`/bin/sh -c SCRIPT`).
#[track_caller]
fn script(c: &Container) -> &str {
    assert_eq!(
        c.command.as_deref(),
        Some(&["/bin/sh".to_owned(), "-c".to_owned()][..]),
        "container `{}` runs a shell script",
        c.name
    );
    c.args
        .as_ref()
        .and_then(|a| a.first())
        .map(String::as_str)
        .expect("script")
}

fn quantity(c: &Container, which: &str, resource: &str) -> Option<String> {
    let r = c.resources.as_ref()?;
    let map = if which == "requests" {
        r.requests.as_ref()?
    } else {
        r.limits.as_ref()?
    };
    map.get(resource).map(|q| q.0.clone())
}

/// CPU quantity in cores (`"1"`, `"250m"`).
fn cores(q: &str) -> f64 {
    match q.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().expect("millicores") / 1000.0,
        None => q.parse().expect("cores"),
    }
}

#[test]
fn every_manifest_is_a_known_typed_object() {
    let all = manifests();
    let mut kinds = Vec::new();
    for (file, value) in &all {
        let kind = value["kind"].as_str().unwrap_or_default();
        match kind {
            "Job" => drop(typed::<Job>(&all, file)),
            "ConfigMap" => drop(typed::<ConfigMap>(&all, file)),
            "PersistentVolumeClaim" => drop(typed::<PersistentVolumeClaim>(&all, file)),
            "Pod" => drop(typed::<Pod>(&all, file)),
            other => panic!("{file}: unexpected kind `{other}`"),
        }
        kinds.push(kind.to_owned());
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "ConfigMap",
            "Job",
            "Job",
            "PersistentVolumeClaim",
            "Pod"
        ]
    );
}

#[test]
fn the_completion_index_selects_the_shard() {
    let all = manifests();
    let job: Job = typed(&all, "workers-job.yaml");
    let spec = job.spec.as_ref().expect("spec");
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    let n = spec.completions.expect("completions");
    assert!(n >= 2, "a distributed run has several workers");
    assert_eq!(spec.parallelism, Some(n), "all shards run at once");
    assert_eq!(
        spec.backoff_limit,
        Some(0),
        "a retried shard would double count"
    );
    let pod = pod_spec(&job);
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let [worker] = pod.containers.as_slice() else {
        panic!("one container per worker");
    };
    assert_eq!(env_value(worker, "SHARDS"), Some(n.to_string().as_str()));
    // Kubernetes sets JOB_COMPLETION_INDEX (0-based) in Indexed mode; nothing may override it.
    assert!(env_value(worker, "JOB_COMPLETION_INDEX").is_none());
    let script = script(worker);
    assert!(
        script.contains(r#"shard="$((JOB_COMPLETION_INDEX + 1))/$SHARDS""#),
        "{script}"
    );
    assert!(script.contains(r#"--shard "$shard""#), "{script}");
    assert!(script.contains(r#"--run-id "$RUN_ID""#), "{script}");
    // Each shard writes its own folder, named by its 1-based number.
    assert!(
        script.contains("/shard-$((JOB_COMPLETION_INDEX + 1))"),
        "{script}"
    );
    // SLA breaches (exit 1) complete the pod; only 2 and 3 fail it.
    assert!(
        script.trim_end().ends_with(r#"[ "$code" -le 1 ]"#),
        "{script}"
    );
}

#[test]
fn the_scenario_config_map_is_mounted_where_the_command_reads_it() {
    let all = manifests();
    let job: Job = typed(&all, "workers-job.yaml");
    let cm: ConfigMap = typed(&all, "scenario-configmap.yaml");
    let cm_name = cm.metadata.name.as_deref().expect("named");
    let data = cm.data.as_ref().expect("data");
    let pod = pod_spec(&job);
    let worker = &pod.containers[0];
    let volume = volume_for_config_map(pod, cm_name).expect("scenario volume");
    let at = mount(worker, &volume).expect("scenario mounted");
    let script = script(worker);
    let file = format!("kneepoint run {at}/scenario.toml");
    assert!(script.contains(&file), "{script} lacks `{file}`");
    let scenario = data.get("scenario.toml").expect("scenario key");

    // Every feeder the scenario names is in the ConfigMap, next to it.
    let parsed: toml::Table = scenario.parse().expect("scenario is TOML");
    let feeders = parsed
        .get("feeder")
        .and_then(toml::Value::as_array)
        .expect("the example shows a feeder");
    for f in feeders {
        let path = f["path"].as_str().expect("feeder path");
        assert!(
            data.contains_key(path),
            "feeder `{path}` not in the ConfigMap"
        );
        let rows = data[path].lines().count() - 1;
        let n = job.spec.as_ref().and_then(|s| s.completions).expect("n");
        assert!(rows >= n as usize, "every shard needs a row of `{path}`");
    }

    // The example is sized by the README's rule: at most PER_WORKER_RPS per worker.
    let rate = parsed["load"]["rate"]
        .as_integer()
        .map(|r| r as f64)
        .or_else(|| parsed["load"]["rate"].as_float())
        .expect("rate");
    let n = job.spec.as_ref().and_then(|s| s.completions).expect("n");
    assert!(
        rate / f64::from(n) <= PER_WORKER_RPS,
        "{rate}/s on {n} workers"
    );
}

#[test]
fn workers_and_merge_share_the_results_volume_and_run_id() {
    let all = manifests();
    let (workers, merge, reader) = runners(&all);
    let pvc: PersistentVolumeClaim = typed(&all, "results-pvc.yaml");
    let run: ConfigMap = typed(&all, "run-configmap.yaml");
    let claim = pvc.metadata.name.as_deref().expect("named");
    let modes = pvc.spec.as_ref().and_then(|s| s.access_modes.clone());
    assert_eq!(
        modes.as_deref(),
        Some(&["ReadWriteMany".to_owned()][..]),
        "workers on many nodes write it"
    );
    let run_name = run.metadata.name.clone().expect("named");
    assert!(run.data.as_ref().is_some_and(|d| d.contains_key("RUN_ID")));

    let mut roots = Vec::new();
    for (what, spec) in [
        ("workers", pod_spec(&workers)),
        ("merge", pod_spec(&merge)),
        ("reader", reader.spec.as_ref().expect("spec")),
    ] {
        let volume = volume_for_claim(spec, claim)
            .unwrap_or_else(|| panic!("{what} does not use the `{claim}` claim"));
        let c = &spec.containers[0];
        let root = mount(c, &volume)
            .unwrap_or_else(|| panic!("{what} does not mount the results"))
            .to_owned();
        if what != "reader" {
            assert_eq!(
                env_config_ref(c, "RUN_ID"),
                Some((run_name.clone(), "RUN_ID".to_owned())),
                "{what} reads the shared run id"
            );
        }
        roots.push(root);
    }
    assert!(roots.iter().all(|r| r == &roots[0]), "{roots:?}");
    let root = &roots[0];

    let w = script(&pod_spec(&workers).containers[0]).to_owned();
    let m = script(&pod_spec(&merge).containers[0]).to_owned();
    assert!(
        w.contains(&format!(r#"--out "{root}/$RUN_ID/shard-"#)),
        "{w}"
    );
    assert!(
        w.contains(&format!(r#"--barrier "{root}/$RUN_ID/barrier""#)),
        "{w}"
    );
    assert!(
        m.contains(&format!(r#"kneepoint merge {root}/"$RUN_ID"/shard-*"#)),
        "the merge reads every shard folder: {m}"
    );
    assert!(
        m.contains(&format!(r#"--out "{root}/$RUN_ID/merged""#)),
        "{m}"
    );
    assert_eq!(
        merge.spec.as_ref().and_then(|s| s.backoff_limit),
        Some(0),
        "the merge's exit code is the verdict; a retry would hide it"
    );
}

#[test]
fn images_and_resources_are_set() {
    let (workers, merge, reader) = runners(&manifests());
    let containers = [
        &pod_spec(&workers).containers[0],
        &pod_spec(&merge).containers[0],
        &reader.spec.as_ref().expect("spec").containers[0],
    ];
    for c in containers {
        assert_eq!(c.image.as_deref(), Some(IMAGE), "{}", c.name);
        for which in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    quantity(c, which, resource).is_some(),
                    "{}: {which}.{resource} unset",
                    c.name
                );
            }
        }
    }
    // A worker gets a whole core, requested and limited alike (Guaranteed QoS): a throttled
    // generator would report its own delay as the target's latency.
    let w = containers[0];
    let (req, lim) = (
        quantity(w, "requests", "cpu").expect("cpu"),
        quantity(w, "limits", "cpu").expect("cpu"),
    );
    assert!(cores(&req) >= 1.0, "{req}");
    assert_eq!(req, lim);
    assert_eq!(
        quantity(w, "requests", "memory"),
        quantity(w, "limits", "memory")
    );
}

#[test]
fn a_misspelt_field_is_caught_by_the_round_trip() {
    let text = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: x\nspec:\n  completionMod: Indexed\n  template: {}\n";
    let value: serde_json::Value = yaml_serde::from_str(text).expect("yaml");
    let job: Job = serde_json::from_value(value.clone()).expect("unknown fields are skipped");
    assert_ne!(
        serde_json::to_value(&job).expect("serializable"),
        value,
        "the typed object drops `completionMod`, so the comparison in `typed` fails"
    );
}
