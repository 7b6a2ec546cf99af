//! Logs a training to an MLflow tracking server through MLflow's REST API
//! (<https://mlflow.org/docs/latest/rest-api.html>): the experiment (created on first use), one
//! run with its parameters, metrics and tags, and files as artifacts, uploaded through the
//! server's artifact proxy (`mlflow server`'s default `--serve-artifacts`,
//! `PUT /api/2.0/mlflow-artifacts/artifacts/…`).
//!
//! Credentials come from MLflow's own environment variables, `MLFLOW_TRACKING_TOKEN` (a bearer
//! token) or `MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD`, and never appear in an
//! error or a log line; neither does a user or password written into the URI.
//!
//! The client is ureq's: synchronous, HTTP/1.1, TLS by rustls with the platform's certificate
//! roots (the system's store, as a browser on the machine trusts).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;

use serde::Deserialize;
use serde_json::{Value, json};

/// The server's limits per `runs/log-batch` request.
const MAX_METRICS: usize = 1000;
const MAX_PARAMS: usize = 100;
const MAX_TAGS: usize = 100;
/// Longest parameter value MLflow stores.
const MAX_PARAM_LEN: usize = 6000;

/// What went wrong; the URI is shown without credentials.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    /// The server could not be reached or did not answer in time.
    #[error("MLflow server {uri}: {what}")]
    Unreachable {
        /// The tracking URI (credentials removed).
        uri: String,
        /// What failed.
        what: String,
    },
    /// The server refused a request.
    #[error("MLflow server {uri} refused `{endpoint}` ({status}): {message}")]
    Refused {
        /// The tracking URI (credentials removed).
        uri: String,
        /// The API endpoint.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// MLflow's error code and message, or the start of the body.
        message: String,
    },
    /// The run's artifacts cannot be uploaded through this server.
    #[error("MLflow server {uri}: {what}")]
    Artifacts {
        /// The tracking URI (credentials removed).
        uri: String,
        /// Why.
        what: String,
    },
    /// A file to upload could not be read.
    #[error("cannot read {path} to log it to MLflow: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// One run to log.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    /// The experiment (created when missing).
    pub experiment: String,
    /// The run's name.
    pub run_name: String,
    /// Parameters (values longer than MLflow stores are cut).
    pub params: Vec<(String, String)>,
    /// Metrics (non-finite values are left out: MLflow's JSON cannot carry them).
    pub metrics: Vec<(String, f64)>,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Files to upload: the path inside the run's artifacts, and the file.
    pub artifacts: Vec<(String, PathBuf)>,
}

/// Where the run went.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Logged {
    /// The tracking URI (credentials removed).
    pub tracking_uri: String,
    /// The experiment's id.
    pub experiment_id: String,
    /// The run's id.
    pub run_id: String,
    /// Files uploaded.
    pub artifacts: usize,
}

/// The run's page in the MLflow UI.
impl Logged {
    /// `<tracking uri>/#/experiments/<id>/runs/<run id>`.
    pub fn url(&self) -> String {
        format!("{}/#/experiments/{}/runs/{}", self.tracking_uri, self.experiment_id, self.run_id)
    }
}

/// `uri` without a `user:password@` part.
pub fn shown(uri: &str) -> String {
    let trimmed = uri.trim_end_matches('/');
    match trimmed.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if path.is_empty() { format!("{scheme}://{host}") } else { format!("{scheme}://{host}/{path}") }
        }
        None => trimmed.to_string(),
    }
}

/// Logs `record` as one finished run to the server at `uri` (`http://` or `https://`). A run
/// created before a later step failed is marked `FAILED`.
pub fn log_run(uri: &str, record: &RunRecord) -> Result<Logged, MlflowError> {
    Server::new(uri)?.log(record)
}

/// The server and the client that talks to it.
struct Server {
    base: String,
    shown: String,
    agent: ureq::Agent,
    /// The `Authorization` header's value from MLflow's variables (a user and password in the
    /// URI itself are sent by ureq).
    auth: Option<String>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    error_code: String,
    #[serde(default)]
    message: String,
}

impl Server {
    fn new(uri: &str) -> Result<Self, MlflowError> {
        let shown = shown(uri);
        if !(uri.starts_with("http://") || uri.starts_with("https://")) {
            return Err(MlflowError::Unreachable {
                uri: shown,
                what: "the tracking URI must start with http:// or https:// (leadscore logs through the REST API)"
                    .into(),
            });
        }
        let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::PlatformVerifier).build();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
            .timeout_connect(Some(Duration::from_secs(10)))
            .user_agent(concat!("leadscore/", env!("CARGO_PKG_VERSION")))
            // A refusal's body carries MLflow's error code.
            .http_status_as_error(false)
            .tls_config(tls)
            .build()
            .into();
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let auth =
            match (env("MLFLOW_TRACKING_TOKEN"), env("MLFLOW_TRACKING_USERNAME"), env("MLFLOW_TRACKING_PASSWORD")) {
                (Some(token), ..) => Some(format!("Bearer {token}")),
                (None, Some(user), password) => {
                    let pair = format!("{user}:{}", password.unwrap_or_default());
                    Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)))
                }
                _ => None,
            };
        Ok(Self { base: uri.trim_end_matches('/').to_string(), shown, agent, auth })
    }

    fn authorised<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.auth {
            Some(value) => request.header("Authorization", value),
            None => request,
        }
    }

    /// Reads the JSON answer to a request; a refusal carries MLflow's error code.
    fn answer(
        &self,
        endpoint: &str,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, MlflowError> {
        let unreachable = |e: ureq::Error| MlflowError::Unreachable {
            uri: self.shown.clone(),
            what: format!("`{endpoint}`: {}", self.without_credentials(e)),
        };
        let mut response = sent.map_err(unreachable)?;
        let status = response.status();
        let body = response.body_mut().read_to_vec().map_err(unreachable)?;
        if status.is_success() {
            return Ok(serde_json::from_slice(&body).unwrap_or(Value::Null));
        }
        let message = match serde_json::from_slice::<ApiError>(&body) {
            Ok(e) if !e.error_code.is_empty() => format!("{}: {}", e.error_code, e.message),
            _ => String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_string(),
        };
        Err(MlflowError::Refused {
            uri: self.shown.clone(),
            endpoint: endpoint.into(),
            status: status.as_u16(),
            message,
        })
    }

    /// What went wrong, without the URI ureq may name (it may hold a user and password).
    fn without_credentials(&self, e: ureq::Error) -> String {
        match e {
            ureq::Error::BadUri(_) => "the tracking URI is not a valid URI".into(),
            e => e.to_string().replace(&self.base, &self.shown),
        }
    }

    fn post(&self, endpoint: &str, body: &Value) -> Result<Value, MlflowError> {
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        let request = self.authorised(self.agent.post(&url)).content_type("application/json");
        self.answer(endpoint, request.send(body.to_string()))
    }

    /// The experiment's id, creating it when it does not exist.
    fn experiment(&self, name: &str) -> Result<String, MlflowError> {
        let endpoint = "experiments/get-by-name";
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        let found = self.answer(endpoint, self.authorised(self.agent.get(&url)).query("experiment_name", name).call());
        let id = match found {
            Ok(v) => v["experiment"]["experiment_id"].as_str().map(str::to_string),
            Err(MlflowError::Refused { message, .. }) if message.starts_with("RESOURCE_DOES_NOT_EXIST") => {
                let created = self.post("experiments/create", &json!({ "name": name }))?;
                created["experiment_id"].as_str().map(str::to_string)
            }
            Err(e) => return Err(e),
        };
        id.ok_or_else(|| MlflowError::Refused {
            uri: self.shown.clone(),
            endpoint: endpoint.into(),
            status: 200,
            message: format!("no id for experiment `{name}` in the answer"),
        })
    }

    fn log(&self, record: &RunRecord) -> Result<Logged, MlflowError> {
        let experiment_id = self.experiment(&record.experiment)?;
        let pairs =
            |v: &[(String, String)]| -> Vec<Value> { v.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect() };
        let created = self.post(
            "runs/create",
            &json!({
                "experiment_id": experiment_id,
                "run_name": record.run_name,
                "start_time": now_ms(),
                "tags": pairs(&record.tags),
            }),
        )?;
        let info = &created["run"]["info"];
        let (Some(run_id), artifact_uri) = (info["run_id"].as_str(), info["artifact_uri"].as_str().unwrap_or(""))
        else {
            return Err(MlflowError::Refused {
                uri: self.shown.clone(),
                endpoint: "runs/create".into(),
                status: 200,
                message: "no run id in the answer".into(),
            });
        };
        let logged = self.fill(run_id, artifact_uri, record);
        let status = if logged.is_ok() { "FINISHED" } else { "FAILED" };
        let ended = self.post("runs/update", &json!({ "run_id": run_id, "status": status, "end_time": now_ms() }));
        let artifacts = logged?;
        ended?;
        Ok(Logged { tracking_uri: self.shown.clone(), experiment_id, run_id: run_id.to_string(), artifacts })
    }

    /// Parameters, metrics and tags in batches of the server's limits, then the artifacts.
    fn fill(&self, run_id: &str, artifact_uri: &str, record: &RunRecord) -> Result<usize, MlflowError> {
        let timestamp = now_ms();
        let params: Vec<Value> = record
            .params
            .iter()
            .map(|(k, v)| json!({ "key": k, "value": v.chars().take(MAX_PARAM_LEN).collect::<String>() }))
            .collect();
        let metrics: Vec<Value> = record
            .metrics
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| json!({ "key": k, "value": v, "timestamp": timestamp, "step": 0 }))
            .collect();
        for chunk in params.chunks(MAX_PARAMS) {
            self.post("runs/log-batch", &json!({ "run_id": run_id, "params": chunk }))?;
        }
        for chunk in metrics.chunks(MAX_METRICS) {
            self.post("runs/log-batch", &json!({ "run_id": run_id, "metrics": chunk }))?;
        }
        let tags: Vec<Value> = record.tags.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect();
        for chunk in tags.chunks(MAX_TAGS) {
            self.post("runs/log-batch", &json!({ "run_id": run_id, "tags": chunk }))?;
        }
        if record.artifacts.is_empty() {
            return Ok(0);
        }
        let root = artifact_root(artifact_uri).ok_or_else(|| MlflowError::Artifacts {
            uri: self.shown.clone(),
            what: format!(
                "the run's artifacts go to `{artifact_uri}`, which only the server's artifact proxy can take from leadscore: start `mlflow server` with `--serve-artifacts` (its default) and no `--default-artifact-root`"
            ),
        })?;
        for (name, path) in &record.artifacts {
            let bytes = std::fs::read(path).map_err(|source| MlflowError::Read { path: path.clone(), source })?;
            let endpoint = "mlflow-artifacts/artifacts";
            let url = format!("{}/api/2.0/{endpoint}/{root}/{name}", self.base);
            self.answer(endpoint, self.authorised(self.agent.put(&url)).send(&bytes[..]))?;
        }
        Ok(record.artifacts.len())
    }
}

/// The path under the artifact proxy of a run whose `artifact_uri` is `mlflow-artifacts:/1/<run
/// id>/artifacts` (or `mlflow-artifacts://host/…`); `None` for any other store.
fn artifact_root(artifact_uri: &str) -> Option<String> {
    let rest = artifact_uri.strip_prefix("mlflow-artifacts:")?;
    let path = match rest.strip_prefix("//") {
        Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
        None => rest,
    };
    Some(path.trim_matches('/').to_string())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_uri_are_never_shown() {
        assert_eq!(shown("https://me:secret@mlflow.example.com:5000/"), "https://mlflow.example.com:5000");
        assert_eq!(shown("http://127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(shown("https://u:p@host/prefix/mlflow"), "https://host/prefix/mlflow");
    }

    #[test]
    fn the_artifact_proxy_path_of_a_run() {
        assert_eq!(artifact_root("mlflow-artifacts:/1/abc/artifacts").as_deref(), Some("1/abc/artifacts"));
        assert_eq!(artifact_root("mlflow-artifacts://srv:5000/2/r/artifacts").as_deref(), Some("2/r/artifacts"));
        assert_eq!(artifact_root("s3://bucket/1/abc/artifacts"), None);
        assert_eq!(artifact_root("file:///tmp/mlruns/1/abc/artifacts"), None);
    }

    #[test]
    fn a_password_in_a_uri_the_client_cannot_use_is_never_shown() {
        for uri in ["http://leadscore:s3cret-pw@bad host:5000", "http://leadscore:s3cret-pw@[::1:5000"] {
            let e = log_run(uri, &RunRecord { experiment: "x".into(), ..RunRecord::default() });
            let shown = e.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(matches!(e, Err(MlflowError::Unreachable { .. })), "{uri}: {shown}");
            assert!(!shown.contains("s3cret-pw"), "{shown}");
        }
    }

    #[test]
    fn a_uri_that_is_not_http_is_refused_before_any_request() {
        let e = log_run("file:///tmp/mlruns", &RunRecord::default()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("http:// or https://"), "{e}");
    }
}
