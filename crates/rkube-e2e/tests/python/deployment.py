"""The official Kubernetes Python client against rkube: create, read, patch, replace and
delete a Deployment. Exits non-zero on the first wrong answer."""
import sys

from kubernetes import client, config
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
apps = client.AppsV1Api()
core = client.CoreV1Api()

body = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="py", labels={"app": "py"}),
    spec=client.V1DeploymentSpec(
        replicas=1,
        selector=client.V1LabelSelector(match_labels={"app": "py"}),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "py"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1")]),
        ),
    ),
)
created = apps.create_namespaced_deployment("default", body)
assert created.metadata.uid, created
assert created.spec.strategy.type == "RollingUpdate", created.spec.strategy

got = apps.read_namespaced_deployment("py", "default")
assert got.spec.template.spec.containers[0].image == "busybox:1"

patched = apps.patch_namespaced_deployment("py", "default", {"spec": {"replicas": 3}})
assert patched.spec.replicas == 3, patched.spec.replicas
assert patched.metadata.generation == 2, patched.metadata.generation

# Read-modify-write, retried on conflict: the deployment controller writes the object too.
for attempt in range(20):
    got = apps.read_namespaced_deployment("py", "default")
    got.spec.template.spec.containers[0].image = "busybox:2"
    try:
        replaced = apps.replace_namespaced_deployment("py", "default", got)
        break
    except ApiException as e:
        assert e.status == 409, e
else:
    raise SystemExit("replace kept conflicting")
assert replaced.spec.template.spec.containers[0].image == "busybox:2"

# A stale resourceVersion is a 409 Conflict.
try:
    apps.replace_namespaced_deployment("py", "default", got)
    raise SystemExit("stale replace succeeded")
except ApiException as e:
    assert e.status == 409, e

names = [d.metadata.name for d in apps.list_namespaced_deployment("default", label_selector="app=py").items]
assert names == ["py"], names

apps.delete_namespaced_deployment("py", "default")
try:
    apps.read_namespaced_deployment("py", "default")
    raise SystemExit("deployment still there")
except ApiException as e:
    assert e.status == 404, e

assert "default" in [n.metadata.name for n in core.list_namespace().items]
print("ok")
