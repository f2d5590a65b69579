//! ControllerRevision history shared by DaemonSet and StatefulSet (not implemented yet).
