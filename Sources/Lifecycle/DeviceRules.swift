import Cgroups
import OCISpec

/// The resources a container's cgroup gets: the config's, with the device rules every
/// container has (as runc: deny all, the config's rules, then the default devices such as
/// /dev/null and ptys) even when the config names none.
func effectiveResources(_ spec: Spec) -> ResourcesSpec {
    let linux = spec.linux ?? LinuxSpec()
    var resources = linux.resources ?? ResourcesSpec()
    resources.devices = DevicePolicy.containerRules(resources.devices)
    return resources
}
