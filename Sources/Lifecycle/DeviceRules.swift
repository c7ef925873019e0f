import Cgroups
import OCISpec

/// The resources a container's cgroup gets: the config's, with the device rules every
/// container has (as runc: deny all, the config's rules, the default devices such as
/// /dev/null and ptys, then each linux.devices entry) even when the config names none.
func effectiveResources(_ spec: Spec) -> ResourcesSpec {
    let linux = spec.linux ?? LinuxSpec()
    var resources = linux.resources ?? ResourcesSpec()
    resources.devices = DevicePolicy.containerRules(resources.devices, devices: linux.devices)
    return resources
}
