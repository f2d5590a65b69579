//! The container runtime behind a narrow trait ([`ContainerRuntime`]), and its real
//! implementation: a CRI v1 gRPC client (tonic) over a unix socket ([`CriRuntime`]).
//!
//! The trait speaks CRI's own message types, so a test runtime only has to keep them in memory.

use std::path::PathBuf;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::error::{Error, Result};

/// The CRI calls the kubelet makes.
#[async_trait::async_trait]
pub trait ContainerRuntime: Send + Sync {
    /// Runtime name and version, e.g. `("containerd", "1.6.20")`.
    async fn version(&self) -> Result<(String, String)>;
    /// Runtime conditions (RuntimeReady, NetworkReady) as `(type, ok, message)`.
    async fn status(&self) -> Result<Vec<(String, bool, String)>>;
    /// Starts a pod sandbox and returns its id.
    async fn run_pod_sandbox(&self, config: cri::PodSandboxConfig) -> Result<String>;
    /// Stops a sandbox (and every container in it).
    async fn stop_pod_sandbox(&self, id: &str) -> Result<()>;
    /// Removes a stopped sandbox and its containers.
    async fn remove_pod_sandbox(&self, id: &str) -> Result<()>;
    /// A sandbox's status, including its IP.
    async fn pod_sandbox_status(&self, id: &str) -> Result<cri::PodSandboxStatus>;
    /// Every sandbox.
    async fn list_pod_sandboxes(&self) -> Result<Vec<cri::PodSandbox>>;
    /// Creates a container in a sandbox and returns its id.
    async fn create_container(
        &self,
        sandbox_id: &str,
        config: cri::ContainerConfig,
        sandbox_config: cri::PodSandboxConfig,
    ) -> Result<String>;
    /// Starts a created container.
    async fn start_container(&self, id: &str) -> Result<()>;
    /// Stops a container: SIGTERM, then SIGKILL after `timeout`.
    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()>;
    /// Removes a container.
    async fn remove_container(&self, id: &str) -> Result<()>;
    /// Every container.
    async fn list_containers(&self) -> Result<Vec<cri::Container>>;
    /// One container's status (exit code, reason, times).
    async fn container_status(&self, id: &str) -> Result<cri::ContainerStatus>;
    /// The local image `image` refers to, if any.
    async fn image_status(&self, image: &str) -> Result<Option<cri::Image>>;
    /// Pulls an image and returns its reference.
    async fn pull_image(&self, image: &str, auth: Option<cri::AuthConfig>) -> Result<String>;
    /// Every local image.
    async fn list_images(&self) -> Result<Vec<cri::Image>>;
    /// Runs a command in a container to completion: stdout, stderr, exit code.
    async fn exec_sync(
        &self,
        id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> Result<(Vec<u8>, Vec<u8>, i32)>;
    /// The runtime's streaming URL for an exec (`kubectl exec`).
    async fn exec(&self, req: cri::ExecRequest) -> Result<String>;
    /// The runtime's streaming URL for an attach (`kubectl attach`).
    async fn attach(&self, req: cri::AttachRequest) -> Result<String>;
    /// The runtime's streaming URL for port forwarding into a sandbox.
    async fn port_forward(&self, sandbox_id: &str, ports: Vec<i32>) -> Result<String>;
    /// CPU, memory and filesystem use of every container.
    async fn container_stats(&self) -> Result<Vec<cri::ContainerStats>>;
}

/// A CRI v1 runtime reached over gRPC on a unix socket.
#[derive(Clone)]
pub struct CriRuntime {
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

fn cri_err(call: &'static str) -> impl FnOnce(tonic::Status) -> Error {
    move |status| Error::Cri {
        call,
        status: Box::new(status),
    }
}

impl CriRuntime {
    /// A client for `endpoint` (`unix:///run/x.sock` or a plain path). The connection is made
    /// lazily and re-made after the runtime restarts.
    pub fn new(endpoint: &str) -> Result<CriRuntime> {
        let path = PathBuf::from(endpoint.strip_prefix("unix://").unwrap_or(endpoint));
        if !path.is_absolute() {
            return Err(Error::Config(format!(
                "container runtime endpoint {endpoint:?} is not an absolute unix socket path"
            )));
        }
        let channel = Endpoint::from_static("http://[::1]:50051")
            .connect_timeout(Duration::from_secs(5))
            .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }));
        Ok(CriRuntime {
            runtime: RuntimeServiceClient::new(channel.clone()).max_decoding_message_size(16 << 20),
            images: ImageServiceClient::new(channel).max_decoding_message_size(16 << 20),
        })
    }
}

#[async_trait::async_trait]
impl ContainerRuntime for CriRuntime {
    async fn version(&self) -> Result<(String, String)> {
        let r = self
            .runtime
            .clone()
            .version(cri::VersionRequest {
                version: "v1".into(),
            })
            .await
            .map_err(cri_err("Version"))?
            .into_inner();
        Ok((r.runtime_name, r.runtime_version))
    }

    async fn status(&self) -> Result<Vec<(String, bool, String)>> {
        let r = self
            .runtime
            .clone()
            .status(cri::StatusRequest { verbose: false })
            .await
            .map_err(cri_err("Status"))?
            .into_inner();
        Ok(r.status
            .map(|s| {
                s.conditions
                    .into_iter()
                    .map(|c| {
                        let msg = if c.message.is_empty() {
                            c.reason
                        } else {
                            c.message
                        };
                        (c.r#type, c.status, msg)
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn run_pod_sandbox(&self, config: cri::PodSandboxConfig) -> Result<String> {
        let r = self
            .runtime
            .clone()
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config),
                runtime_handler: String::new(),
            })
            .await
            .map_err(cri_err("RunPodSandbox"))?;
        Ok(r.into_inner().pod_sandbox_id)
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        self.runtime
            .clone()
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await
            .map_err(cri_err("StopPodSandbox"))?;
        Ok(())
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        self.runtime
            .clone()
            .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await
            .map_err(cri_err("RemovePodSandbox"))?;
        Ok(())
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<cri::PodSandboxStatus> {
        let r = self
            .runtime
            .clone()
            .pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: id.into(),
                verbose: false,
            })
            .await
            .map_err(cri_err("PodSandboxStatus"))?;
        r.into_inner().status.ok_or_else(|| Error::Cri {
            call: "PodSandboxStatus",
            status: Box::new(tonic::Status::not_found("no status")),
        })
    }

    async fn list_pod_sandboxes(&self) -> Result<Vec<cri::PodSandbox>> {
        let r = self
            .runtime
            .clone()
            .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
            .await
            .map_err(cri_err("ListPodSandbox"))?;
        Ok(r.into_inner().items)
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: cri::ContainerConfig,
        sandbox_config: cri::PodSandboxConfig,
    ) -> Result<String> {
        let r = self
            .runtime
            .clone()
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: sandbox_id.into(),
                config: Some(config),
                sandbox_config: Some(sandbox_config),
            })
            .await
            .map_err(cri_err("CreateContainer"))?;
        Ok(r.into_inner().container_id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        self.runtime
            .clone()
            .start_container(cri::StartContainerRequest {
                container_id: id.into(),
            })
            .await
            .map_err(cri_err("StartContainer"))?;
        Ok(())
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()> {
        let mut req = tonic::Request::new(cri::StopContainerRequest {
            container_id: id.into(),
            timeout: timeout.as_secs() as i64,
        });
        // The call itself lasts as long as the grace period.
        req.set_timeout(timeout + Duration::from_secs(30));
        self.runtime
            .clone()
            .stop_container(req)
            .await
            .map_err(cri_err("StopContainer"))?;
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        self.runtime
            .clone()
            .remove_container(cri::RemoveContainerRequest {
                container_id: id.into(),
            })
            .await
            .map_err(cri_err("RemoveContainer"))?;
        Ok(())
    }

    async fn list_containers(&self) -> Result<Vec<cri::Container>> {
        let r = self
            .runtime
            .clone()
            .list_containers(cri::ListContainersRequest { filter: None })
            .await
            .map_err(cri_err("ListContainers"))?;
        Ok(r.into_inner().containers)
    }

    async fn container_status(&self, id: &str) -> Result<cri::ContainerStatus> {
        let r = self
            .runtime
            .clone()
            .container_status(cri::ContainerStatusRequest {
                container_id: id.into(),
                verbose: false,
            })
            .await
            .map_err(cri_err("ContainerStatus"))?;
        r.into_inner().status.ok_or_else(|| Error::Cri {
            call: "ContainerStatus",
            status: Box::new(tonic::Status::not_found("no status")),
        })
    }

    async fn image_status(&self, image: &str) -> Result<Option<cri::Image>> {
        let r = self
            .images
            .clone()
            .image_status(cri::ImageStatusRequest {
                image: Some(cri::ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
                verbose: false,
            })
            .await
            .map_err(cri_err("ImageStatus"))?;
        Ok(r.into_inner().image)
    }

    async fn pull_image(&self, image: &str, auth: Option<cri::AuthConfig>) -> Result<String> {
        let r = self
            .images
            .clone()
            .pull_image(cri::PullImageRequest {
                image: Some(cri::ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
                auth,
                sandbox_config: None,
            })
            .await
            .map_err(cri_err("PullImage"))?;
        Ok(r.into_inner().image_ref)
    }

    async fn list_images(&self) -> Result<Vec<cri::Image>> {
        let r = self
            .images
            .clone()
            .list_images(cri::ListImagesRequest { filter: None })
            .await
            .map_err(cri_err("ListImages"))?;
        Ok(r.into_inner().images)
    }

    async fn exec_sync(
        &self,
        id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> Result<(Vec<u8>, Vec<u8>, i32)> {
        let mut req = tonic::Request::new(cri::ExecSyncRequest {
            container_id: id.into(),
            cmd,
            timeout: timeout.as_secs().max(1) as i64,
        });
        req.set_timeout(timeout + Duration::from_secs(2));
        let r = self
            .runtime
            .clone()
            .exec_sync(req)
            .await
            .map_err(cri_err("ExecSync"))?
            .into_inner();
        Ok((r.stdout, r.stderr, r.exit_code))
    }

    async fn exec(&self, req: cri::ExecRequest) -> Result<String> {
        let r = self
            .runtime
            .clone()
            .exec(req)
            .await
            .map_err(cri_err("Exec"))?;
        Ok(r.into_inner().url)
    }

    async fn attach(&self, req: cri::AttachRequest) -> Result<String> {
        let r = self
            .runtime
            .clone()
            .attach(req)
            .await
            .map_err(cri_err("Attach"))?;
        Ok(r.into_inner().url)
    }

    async fn port_forward(&self, sandbox_id: &str, ports: Vec<i32>) -> Result<String> {
        let r = self
            .runtime
            .clone()
            .port_forward(cri::PortForwardRequest {
                pod_sandbox_id: sandbox_id.into(),
                port: ports,
            })
            .await
            .map_err(cri_err("PortForward"))?;
        Ok(r.into_inner().url)
    }

    async fn container_stats(&self) -> Result<Vec<cri::ContainerStats>> {
        let r = self
            .runtime
            .clone()
            .list_container_stats(cri::ListContainerStatsRequest { filter: None })
            .await
            .map_err(cri_err("ListContainerStats"))?;
        Ok(r.into_inner().stats)
    }
}
