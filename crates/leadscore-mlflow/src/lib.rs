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
//! The client is synchronous for its callers: requests run on a current-thread tokio runtime of
//! their own.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    let server = Server::new(uri)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
        MlflowError::Unreachable { uri: server.shown.clone(), what: format!("cannot start the HTTP client: {e}") }
    })?;
    runtime.block_on(server.log(record))
}

/// The server and the client that talks to it.
struct Server {
    base: String,
    shown: String,
    client: reqwest::Client,
    auth: Option<Auth>,
}

enum Auth {
    Bearer(String),
    Basic(String, String),
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
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("leadscore/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MlflowError::Unreachable { uri: shown.clone(), what: format!("HTTP client: {e}") })?;
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let auth =
            match (env("MLFLOW_TRACKING_TOKEN"), env("MLFLOW_TRACKING_USERNAME"), env("MLFLOW_TRACKING_PASSWORD")) {
                (Some(token), ..) => Some(Auth::Bearer(token)),
                (None, Some(user), password) => Some(Auth::Basic(user, password.unwrap_or_default())),
                _ => None,
            };
        Ok(Self { base: uri.trim_end_matches('/').to_string(), shown, client, auth })
    }

    fn authorised(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Some(Auth::Bearer(token)) => request.bearer_auth(token),
            Some(Auth::Basic(user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    /// Sends a request and reads its JSON answer; a refusal carries MLflow's error code.
    async fn send(&self, endpoint: &str, request: reqwest::RequestBuilder) -> Result<Value, MlflowError> {
        let unreachable = |e: reqwest::Error| MlflowError::Unreachable {
            uri: self.shown.clone(),
            // Without the URL reqwest would add (it may hold credentials).
            what: format!("`{endpoint}`: {}", e.without_url()),
        };
        let response = self.authorised(request).send().await.map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
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

    async fn post(&self, endpoint: &str, body: &Value) -> Result<Value, MlflowError> {
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        self.send(endpoint, self.client.post(url).json(body)).await
    }

    /// The experiment's id, creating it when it does not exist.
    async fn experiment(&self, name: &str) -> Result<String, MlflowError> {
        let endpoint = "experiments/get-by-name";
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        let found = self.send(endpoint, self.client.get(url).query(&[("experiment_name", name)])).await;
        let id = match found {
            Ok(v) => v["experiment"]["experiment_id"].as_str().map(str::to_string),
            Err(MlflowError::Refused { message, .. }) if message.starts_with("RESOURCE_DOES_NOT_EXIST") => {
                let created = self.post("experiments/create", &json!({ "name": name })).await?;
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

    async fn log(&self, record: &RunRecord) -> Result<Logged, MlflowError> {
        let experiment_id = self.experiment(&record.experiment).await?;
        let pairs =
            |v: &[(String, String)]| -> Vec<Value> { v.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect() };
        let created = self
            .post(
                "runs/create",
                &json!({
                    "experiment_id": experiment_id,
                    "run_name": record.run_name,
                    "start_time": now_ms(),
                    "tags": pairs(&record.tags),
                }),
            )
            .await?;
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
        let logged = self.fill(run_id, artifact_uri, record).await;
        let status = if logged.is_ok() { "FINISHED" } else { "FAILED" };
        let ended =
            self.post("runs/update", &json!({ "run_id": run_id, "status": status, "end_time": now_ms() })).await;
        let artifacts = logged?;
        ended?;
        Ok(Logged { tracking_uri: self.shown.clone(), experiment_id, run_id: run_id.to_string(), artifacts })
    }

    /// Parameters, metrics and tags in batches of the server's limits, then the artifacts.
    async fn fill(&self, run_id: &str, artifact_uri: &str, record: &RunRecord) -> Result<usize, MlflowError> {
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
            self.post("runs/log-batch", &json!({ "run_id": run_id, "params": chunk })).await?;
        }
        for chunk in metrics.chunks(MAX_METRICS) {
            self.post("runs/log-batch", &json!({ "run_id": run_id, "metrics": chunk })).await?;
        }
        let tags: Vec<Value> = record.tags.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect();
        for chunk in tags.chunks(MAX_TAGS) {
            self.post("runs/log-batch", &json!({ "run_id": run_id, "tags": chunk })).await?;
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
            self.send(endpoint, self.client.put(url).body(bytes)).await?;
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
    fn a_uri_that_is_not_http_is_refused_before_any_request() {
        let e = log_run("file:///tmp/mlruns", &RunRecord::default()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("http:// or https://"), "{e}");
    }
}
