package compose

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Say it or refuse it: every Compose key a file sets is applied, refused (it would
// weaken the session's isolation or budgets, or reach outside it) or reported as a
// warning (the provider does not apply it). The keys are read from compose-go's types
// by reflection, so a key compose-go adds is a warning until it is classified here
// (TestEveryComposeKeyIsClassified fails meanwhile).

type keyKind int

const (
	keyApplied keyKind = iota + 1
	keyIgnored
	keyRefused
)

// keyRule classifies one key path ("pids_limit", "deploy.resources.limits.cpus"). check,
// when set, decides from the value instead of kind.
type keyRule struct {
	kind  keyKind
	msg   string
	check func(sc *types.ServiceConfig) (keyKind, string)
}

func applied() keyRule           { return keyRule{kind: keyApplied} }
func ignored(why string) keyRule { return keyRule{kind: keyIgnored, msg: why} }
func refused(why string) keyRule { return keyRule{kind: keyRefused, msg: why} }
func byValue(f func(sc *types.ServiceConfig) (keyKind, string)) keyRule {
	return keyRule{check: f}
}

const (
	notApplied   = "is not applied by the provider"
	sessionNet   = "services join the session's own network only"
	isolationMsg = "would weaken the session's isolation"
)

// serviceKeys classifies every key of a service (types.ServiceConfig, walked into its
// structs). A rule on a parent covers its children only when listed in coveredParents.
var serviceKeys = map[string]keyRule{
	// Applied (see convertService and the Docker backend's servicePlan).
	"image": applied(), "command": applied(), "entrypoint": applied(), "environment": applied(),
	"working_dir": applied(), "user": applied(), "hostname": applied(), "restart": applied(),
	"volumes": applied(), "tmpfs": applied(), "ports": applied(), "depends_on": applied(), "cap_add": applied(),
	"cpus": applied(), "mem_limit": applied(), "healthcheck": applied(),
	"healthcheck.start_interval": ignored(notApplied),
	"build.context":              applied(), "build.dockerfile": applied(), "build.args": applied(),
	"deploy.resources.limits.cpus":    applied(),
	"deploy.resources.limits.memory":  applied(),
	"deploy.restart_policy.condition": applied(),
	"deploy.replicas":                 byValue(checkScale),
	"scale":                           byValue(checkScale),
	"networks":                        byValue(checkNetworks),
	"pids_limit":                      byValue(checkPidsLimit),
	"deploy.resources.limits.pids":    byValue(checkDeployPids),
	"ulimits":                         byValue(checkUlimits),
	"oom_score_adj":                   byValue(checkOOMScore),
	"cap_drop":                        ignored("is not applied: services already drop every capability but the default set"),
	"deploy.resources.limits.generic_resources": ignored(notApplied),
	"deploy.resources.limits.devices":           refused("devices are not allowed"),
	"deploy.resources.reservations.devices":     refused("devices are not allowed"),

	// Refused: they weaken isolation or budgets, or reach outside the session.
	"privileged":                refused("privileged services are not allowed"),
	"network_mode":              refused("network_mode is not allowed: " + sessionNet),
	"net":                       refused("net is not allowed: " + sessionNet),
	"pid":                       refused("pid, ipc, uts, cgroup and userns_mode settings are not allowed"),
	"ipc":                       refused("pid, ipc, uts, cgroup and userns_mode settings are not allowed"),
	"uts":                       refused("pid, ipc, uts, cgroup and userns_mode settings are not allowed"),
	"cgroup":                    refused("pid, ipc, uts, cgroup and userns_mode settings are not allowed"),
	"userns_mode":               refused("pid, ipc, uts, cgroup and userns_mode settings are not allowed"),
	"cgroup_parent":             refused("cgroup_parent is not allowed: it would move the service out of the session's limits"),
	"devices":                   refused("devices are not allowed"),
	"device_cgroup_rules":       refused("devices are not allowed"),
	"gpus":                      refused("devices are not allowed"),
	"security_opt":              refused("security_opt is not allowed (services get no-new-privileges and the default seccomp profile)"),
	"sysctls":                   refused("sysctls are not allowed"),
	"use_api_socket":            refused("use_api_socket is not allowed: it would hand the Docker socket to the service"),
	"volumes_from":              refused("volumes_from is not supported; use named volumes"),
	"env_file":                  refused("env_file is not supported; put the variables in environment"),
	"configs":                   refused("configs and secrets are not supported; use environment or a bind mount from the declared directory"),
	"secrets":                   refused("configs and secrets are not supported; use environment or a bind mount from the declared directory"),
	"container_name":            refused("container_name is not supported: service containers are named nalabo-session-<id>-<service>"),
	"extends":                   byValue(checkExtends),
	"provider":                  refused("provider services are not supported"),
	"oom_kill_disable":          refused("oom_kill_disable is not allowed: the memory limit must be able to kill"),
	"runtime":                   refused("runtime is not allowed: services run with the daemon's default runtime"),
	"isolation":                 refused("isolation is not allowed"),
	"storage_opt":               refused("storage_opt is not allowed: it would change the writable layer's size"),
	"volume_driver":             refused("volume_driver is not allowed: volumes use the local driver"),
	"cpu_rt_runtime":            refused("cpu_rt_runtime is not allowed: real-time scheduling " + isolationMsg),
	"cpu_rt_period":             refused("cpu_rt_period is not allowed: real-time scheduling " + isolationMsg),
	"external_links":            refused("external_links is not allowed: " + sessionNet),
	"credential_spec":           refused("credential_spec is not supported"),
	"label_file":                refused("label_file is not supported: it reads files of the machine running Terraform"),
	"models":                    refused("models are not supported"),
	"build.privileged":          refused("build.privileged is not allowed"),
	"build.entitlements":        refused("build.entitlements is not allowed"),
	"build.network":             refused("build.network is not allowed: builds run on the daemon's default build network"),
	"build.dockerfile_inline":   refused("build.dockerfile_inline is not supported; put the Dockerfile in the build context"),
	"build.additional_contexts": refused("build.additional_contexts is not supported: the build context is the only directory sent"),
	"build.ssh":                 refused("build.ssh is not supported: it would forward the SSH agent of the machine running Terraform"),
	"build.secrets":             refused("build.secrets is not supported: they read files of the machine running Terraform"),

	// Not applied: said as a warning.
	"profiles": ignored(notApplied + " (every service runs)"), "develop": ignored(notApplied), "attach": ignored(notApplied),
	"links":     ignored("is not applied: services reach each other by service name on the session network"),
	"pre_start": ignored(notApplied), "post_start": ignored(notApplied), "pre_stop": ignored(notApplied),
	"annotations": ignored(notApplied), "blkio_config": ignored(notApplied),
	"cpu_count": ignored(notApplied + "; use cpus"), "cpu_percent": ignored(notApplied + "; use cpus"),
	"cpu_period": ignored(notApplied + "; use cpus"), "cpu_quota": ignored(notApplied + "; use cpus"),
	"cpuset": ignored(notApplied), "cpu_shares": ignored(notApplied + "; use cpus"),
	"dns": ignored(notApplied + ": services use the session network's DNS"), "dns_opt": ignored(notApplied),
	"dns_search": ignored(notApplied), "domainname": ignored(notApplied),
	"extra_hosts": ignored(notApplied + ": services resolve each other by service name"),
	"group_add":   ignored(notApplied), "init": ignored("is not applied: services run with an init process when the daemon has one"),
	"labels":  ignored("is not applied: service containers carry the provider's labels only"),
	"logging": ignored("is not applied: logs go to json-file with a size cap"), "log_driver": ignored("is not applied: logs go to json-file with a size cap"),
	"log_opt":         ignored("is not applied: logs go to json-file with a size cap"),
	"mem_reservation": ignored(notApplied), "memswap_limit": ignored("is not applied: swap is off (memory limit = memory + swap limit)"),
	"mem_swappiness": ignored(notApplied), "mac_address": ignored(notApplied), "platform": ignored(notApplied),
	"pull_policy":        ignored("is not applied: images are pulled once, when the template is applied"),
	"pull_refresh_after": ignored(notApplied), "read_only": ignored(notApplied),
	"shm_size":          ignored("is not applied: /dev/shm keeps Docker's default size (64Mi)"),
	"stop_grace_period": ignored(notApplied), "stop_signal": ignored(notApplied),
	"umask": ignored(notApplied), "expose": ignored("is not applied: every port is reachable on the session network"),
	"stdin_open": ignored(notApplied), "tty": ignored(notApplied), "dockerfile": ignored(notApplied + "; use build.dockerfile"),
	"deploy.mode": ignored(notApplied), "deploy.labels": ignored(notApplied), "deploy.update_config": ignored(notApplied),
	"deploy.rollback_config": ignored(notApplied), "deploy.endpoint_mode": ignored(notApplied),
	"deploy.placement": ignored(notApplied), "deploy.resources.reservations": ignored(notApplied + "; limits are what a session is held to"),
	"deploy.restart_policy.delay": ignored(notApplied), "deploy.restart_policy.max_attempts": ignored(notApplied),
	"deploy.restart_policy.window": ignored(notApplied),
	"build.labels":                 ignored(notApplied), "build.cache_from": ignored(notApplied), "build.cache_to": ignored(notApplied),
	"build.no_cache": ignored(notApplied), "build.no_cache_filter": ignored(notApplied), "build.pull": ignored(notApplied),
	"build.extra_hosts": ignored(notApplied), "build.isolation": ignored(notApplied), "build.target": ignored(notApplied),
	"build.shm_size": ignored(notApplied), "build.tags": ignored(notApplied), "build.ulimits": ignored(notApplied),
	"build.platforms": ignored(notApplied), "build.provenance": ignored(notApplied), "build.sbom": ignored(notApplied),
}

// coveredParents: rules that cover every key below them.
var coveredParents = map[string]bool{"healthcheck": true, "extends": true}

// leafTypes are structs compared as one value, not walked.
var leafTypes = map[reflect.Type]bool{}

// volumeKeys classifies the keys of one volumes entry.
var volumeKeys = map[string]keyRule{
	"type": applied(), "source": applied(), "target": applied(), "read_only": applied(),
	"bind.create_host_path": applied(), // the default; Docker's mount API never creates it
	"bind":                  ignored(notApplied),
	"volume":                ignored(notApplied),
	"tmpfs":                 ignored("is not applied: tmpfs pages count against the service's memory limit"),
	"image":                 refused("image volumes are not supported"),
	"consistency":           ignored(notApplied),
}

func checkScale(sc *types.ServiceConfig) (keyKind, string) {
	if sc.GetScale() != 1 {
		return keyRefused, "scale/replicas must be 1"
	}
	return keyApplied, ""
}

func checkNetworks(sc *types.ServiceConfig) (keyKind, string) {
	for n, c := range sc.Networks {
		if n != "default" || c != nil {
			return keyIgnored, "is not applied: " + sessionNet
		}
	}
	return keyApplied, ""
}

func checkPidsLimit(sc *types.ServiceConfig) (keyKind, string) {
	if sc.PidsLimit <= 0 {
		return keyRefused, fmt.Sprintf("pids_limit %d is not allowed: every container keeps the provider's process limit", sc.PidsLimit)
	}
	return keyIgnored, "is not applied: every container keeps the provider's process limit"
}

func checkDeployPids(sc *types.ServiceConfig) (keyKind, string) {
	if sc.Deploy.Resources.Limits.Pids < 0 {
		return keyRefused, "a negative pids limit is not allowed: every container keeps the provider's process limit"
	}
	return keyIgnored, "is not applied: every container keeps the provider's process limit"
}

func checkUlimits(sc *types.ServiceConfig) (keyKind, string) {
	for name := range sc.Ulimits {
		if name == "nproc" || name == "memlock" || name == "rtprio" {
			return keyRefused, fmt.Sprintf("ulimits %s is not allowed: it would raise a limit the session is held to", name)
		}
	}
	return keyIgnored, "is not applied: services keep the daemon's default ulimits"
}

func checkOOMScore(sc *types.ServiceConfig) (keyKind, string) {
	if sc.OomScoreAdj < 0 {
		return keyRefused, "a negative oom_score_adj is not allowed: it would shield the service from the OOM killer"
	}
	return keyIgnored, notApplied
}

func checkExtends(sc *types.ServiceConfig) (keyKind, string) {
	if sc.Extends.File != "" {
		return keyRefused, "extends from another file is not supported"
	}
	return keyApplied, "" // compose-go merged it
}

// keyFindings lists what a service sets that is not applied (warnings) and what it
// sets that is refused (errors), each as a message naming the key.
func keyFindings(sc *types.ServiceConfig) (warnings, errs []string) {
	seenMsg := map[string]bool{}
	add := func(key string, kind keyKind, msg string) {
		switch kind {
		case keyIgnored:
			warnings = append(warnings, fmt.Sprintf("%s %s", key, msg))
		case keyRefused:
			if !seenMsg[msg] {
				errs = append(errs, msg)
			}
			seenMsg[msg] = true
		}
	}
	classify := func(rules map[string]keyRule, key, prefix string) {
		r, ok := lookupRule(rules, key)
		if !ok {
			add(prefix+key, keyIgnored, "is not applied by the provider (not a key it knows)")
			return
		}
		kind, msg := r.kind, r.msg
		if r.check != nil {
			kind, msg = r.check(sc)
		}
		add(prefix+key, kind, msg)
	}
	for _, key := range setKeys(reflect.ValueOf(*sc), "") {
		if key == "name" || key == "volumes" {
			continue
		}
		classify(serviceKeys, key, "")
	}
	for i, v := range sc.Volumes {
		for _, key := range setKeys(reflect.ValueOf(v), "") {
			if v.Type == types.VolumeTypeBind && key == "bind" && v.Bind != nil && v.Bind.CreateHostPath && v.Bind.Propagation == "" && v.Bind.SELinux == "" {
				continue
			}
			classify(volumeKeys, key, fmt.Sprintf("volumes[%d].", i))
		}
	}
	sort.Strings(warnings)
	return warnings, errs
}

// lookupRule finds the rule of key, or of a covering parent.
func lookupRule(rules map[string]keyRule, key string) (keyRule, bool) {
	if r, ok := rules[key]; ok {
		return r, true
	}
	for k := key; strings.Contains(k, "."); {
		k = k[:strings.LastIndex(k, ".")]
		// An applied parent covers its children only when listed; a parent that is
		// not applied or refused says the same of its children.
		if r, ok := rules[k]; ok && (coveredParents[k] || r.kind == keyIgnored || r.kind == keyRefused) {
			return r, true
		}
	}
	return keyRule{}, false
}

// setKeys lists the YAML keys of v that are set (not zero), walking into structs.
func setKeys(v reflect.Value, prefix string) []string {
	var out []string
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")
		name := tag[0]
		fv := v.Field(i)
		if !f.IsExported() || name == "-" || strings.HasPrefix(name, "#") {
			continue
		}
		if name == "" && f.Anonymous { // inline
			out = append(out, setKeys(fv, prefix)...)
			continue
		}
		if name == "" || fv.IsZero() {
			continue
		}
		if name == "extensions" {
			continue
		}
		sv := fv
		if sv.Kind() == reflect.Pointer {
			sv = sv.Elem()
		}
		if sv.Kind() == reflect.Struct && !leafTypes[sv.Type()] {
			// An empty struct ("volume: {}") sets nothing.
			out = append(out, setKeys(sv, prefix+name+".")...)
			continue
		}
		out = append(out, prefix+name)
	}
	return out
}

// allKeys lists every YAML key path of a type (for the classification test).
func allKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if !f.IsExported() || name == "-" || strings.HasPrefix(name, "#") {
			continue
		}
		if name == "" && f.Anonymous {
			out = append(out, allKeys(f.Type, prefix)...)
			continue
		}
		if name == "" || name == "extensions" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && !leafTypes[ft] {
			out = append(out, allKeys(ft, prefix+name+".")...)
			continue
		}
		out = append(out, prefix+name)
	}
	return out
}

// projectFindings classifies the top-level keys: per-session named volumes are applied
// (local driver, no options), everything else is said or refused.
func projectFindings(p *types.Project, bad, warn func(svc, format string, a ...any)) {
	names := make([]string, 0, len(p.Volumes))
	for n := range p.Volumes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := p.Volumes[n]
		if len(v.DriverOpts) > 0 {
			o := strings.ToLower(v.DriverOpts["o"])
			typ := strings.ToLower(v.DriverOpts["type"])
			if v.DriverOpts["device"] != "" || typ == "none" || typ == "bind" || strings.Contains(o, "bind") {
				bad("", "volume %q: driver_opts that mount a host path or device (type %q, o %q, device %q) are not allowed", n, v.DriverOpts["type"], v.DriverOpts["o"], v.DriverOpts["device"])
			} else {
				warn("", "volume %q: driver_opts is not applied: session volumes are plain local volumes", n)
			}
		}
		if len(v.Labels) > 0 {
			warn("", "volume %q: labels is not applied: session volumes carry the provider's labels only", n)
		}
		if v.Name != "" && v.Name != p.Name+"_"+n && !bool(v.External) {
			warn("", "volume %q: name is not applied: session volumes are named nalabo-session-<id>-%s", n, n)
		}
	}
	for n := range p.Networks {
		if n != "default" {
			warn("", "network %q is not applied: services join the session's own network only", n)
		}
	}
	if len(p.Configs) > 0 || len(p.Secrets) > 0 {
		warn("", "top-level configs and secrets are not applied")
	}
	if len(p.Models) > 0 {
		warn("", "top-level models are not applied")
	}
}
