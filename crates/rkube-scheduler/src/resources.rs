//! Resource arithmetic shared by the framework and `NodeResourcesFit`: a pod's effective
//! requests (regular containers summed, init containers as a maximum, plus pod overhead) and a
//! node's allocatable amounts, parsed with [`rkube_api::quantity::Quantity`].

use rkube_api::quantity::Quantity;
use serde_json::Value;

/// CPU assumed for a container without a CPU request when scoring (upstream's non-zero default).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory assumed for a container without a memory request when scoring (200Mi).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Amounts of the resources the scheduler tracks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Number of pods.
    pub pods: i64,
}

impl Resources {
    fn add(&mut self, o: Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(o.milli_cpu);
        self.memory = self.memory.saturating_add(o.memory);
        self.pods = self.pods.saturating_add(o.pods);
    }

    fn max(&mut self, o: Resources) {
        self.milli_cpu = self.milli_cpu.max(o.milli_cpu);
        self.memory = self.memory.max(o.memory);
    }

    /// The per-resource sum, saturating.
    pub fn plus(mut self, o: Resources) -> Resources {
        self.add(o);
        self
    }

    /// The per-resource difference, saturating and never below zero.
    pub fn minus(self, o: Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu.saturating_sub(o.milli_cpu).max(0),
            memory: self.memory.saturating_sub(o.memory).max(0),
            pods: self.pods.saturating_sub(o.pods).max(0),
        }
    }

    /// Reads `cpu`, `memory` and `pods` from a resource list (`requests`, `allocatable`, …);
    /// missing or malformed entries count as zero.
    pub fn from_list(list: Option<&Value>) -> Resources {
        let get = |k: &str| list.and_then(|l| l.get(k)).and_then(Quantity::from_json);
        Resources {
            milli_cpu: get("cpu").map(|q| clamp(q.milli_value())).unwrap_or(0),
            memory: get("memory").map(|q| clamp(value(q))).unwrap_or(0),
            pods: get("pods").map(|q| clamp(value(q))).unwrap_or(0),
        }
    }

    /// A node's `status.allocatable`.
    pub fn allocatable(node: &Value) -> Resources {
        Resources::from_list(node.pointer("/status/allocatable"))
    }

    /// A pod's effective requests: `max(sum(containers), max(initContainers)) + overhead`.
    /// `pods` is 1.
    pub fn pod_requests(pod: &Value) -> Resources {
        pod_requests_with(pod, false)
    }

    /// As [`Resources::pod_requests`], but containers without a CPU or memory request count
    /// upstream's defaults, so best-effort pods still spread when scoring.
    pub fn pod_requests_non_zero(pod: &Value) -> Resources {
        pod_requests_with(pod, true)
    }
}

fn pod_requests_with(pod: &Value, non_zero: bool) -> Resources {
    let container = |c: &Value| {
        let mut r = Resources::from_list(c.pointer("/resources/requests"));
        if non_zero {
            if r.milli_cpu == 0 {
                r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
            }
            if r.memory == 0 {
                r.memory = DEFAULT_MEMORY_REQUEST;
            }
        }
        r.pods = 0;
        r
    };
    let list = |k: &str| {
        pod.pointer(&format!("/spec/{k}"))
            .and_then(Value::as_array)
            .map(|a| a.as_slice())
            .unwrap_or_default()
    };
    let mut total = Resources::default();
    for c in list("containers") {
        total.add(container(c));
    }
    for c in list("initContainers") {
        total.max(container(c));
    }
    let mut overhead = Resources::from_list(pod.pointer("/spec/overhead"));
    overhead.pods = 0;
    total.add(overhead);
    total.pods = 1;
    total
}

/// Upstream `Value()`: whole units, rounded up.
fn value(q: Quantity) -> i128 {
    let nano = 1_000_000_000;
    let v = q.nanos / nano;
    if q.nanos % nano > 0 {
        v + 1
    } else {
        v
    }
}

fn clamp(v: i128) -> i64 {
    i64::try_from(v.max(0)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_requests_table() {
        let cases = [
            (json!({"spec": {}}), (0, 0)),
            (
                json!({"spec": {"containers": [
                {"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
                {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}),
                (1250, 1088 << 20),
            ),
            // an init container larger than the sum wins per resource
            (
                json!({"spec": {"initContainers": [
                {"resources": {"requests": {"cpu": "2", "memory": "1Mi"}}}],
                "containers": [{"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}}),
                (2000, 1 << 30),
            ),
            (
                json!({"spec": {"overhead": {"cpu": "100m"},
                "containers": [{"resources": {"requests": {"cpu": "100m"}}}]}}),
                (200, 0),
            ),
            // malformed quantities and shapes count as zero
            (
                json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "lots"}}}, 7]}}),
                (0, 0),
            ),
            (json!("not a pod"), (0, 0)),
        ];
        for (pod, (cpu, mem)) in cases {
            let r = Resources::pod_requests(&pod);
            assert_eq!((r.milli_cpu, r.memory, r.pods), (cpu, mem, 1), "{pod}");
        }
    }

    #[test]
    fn non_zero_defaults() {
        let pod = json!({"spec": {"containers": [{}, {"resources": {"requests": {"cpu": "1"}}}]}});
        let r = Resources::pod_requests_non_zero(&pod);
        assert_eq!(r.milli_cpu, 1100);
        assert_eq!(r.memory, 2 * DEFAULT_MEMORY_REQUEST);
    }

    #[test]
    fn allocatable() {
        let node = json!({"status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}});
        assert_eq!(
            Resources::allocatable(&node),
            Resources {
                milli_cpu: 4000,
                memory: 8 << 30,
                pods: 110
            }
        );
        assert_eq!(Resources::allocatable(&json!({})), Resources::default());
    }
}
