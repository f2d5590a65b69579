//! The error type of the real node agent (containerd supervision, CRI, images, pod workers).

use std::path::PathBuf;

/// What can go wrong in the node agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A program the agent needs is not installed.
    #[error("{program} not found: install the Debian package {package}")]
    Missing {
        program: String,
        package: &'static str,
    },
    /// A file or directory operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The container runtime did not come up or could not be reached.
    #[error("container runtime: {0}")]
    Runtime(String),
    /// A CRI call failed.
    #[error("cri {call}: {status}")]
    Cri {
        call: &'static str,
        status: Box<tonic::Status>,
    },
    /// An image tarball could not be imported or built.
    #[error("image {0}")]
    Image(String),
    /// A request to the API server failed.
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// An invalid configuration value.
    #[error("invalid config: {0}")]
    Config(String),
}

impl Error {
    /// An IO error about `path`.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }

    /// True when the CRI call failed because the object does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::Cri { status, .. } => status.code() == tonic::Code::NotFound,
            _ => false,
        }
    }
}

/// Results of the node agent.
pub type Result<T, E = Error> = std::result::Result<T, E>;
