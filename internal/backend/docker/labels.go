package docker

import (
	"sort"
	"strconv"

	"github.com/docker/docker/api/types/filters"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Docker-specific labels.
const (
	// LabelTemplateSpec holds base64(JSON of workshop.Template) on a template volume.
	LabelTemplateSpec = workshop.LabelPrefix + "template-spec"
	// LabelLeaseRevision orders the leases of a session: the highest wins.
	LabelLeaseRevision = workshop.LabelPrefix + "lease-revision"
	// LabelStorage is the storage a session asked for (it cannot change in place).
	LabelStorage = workshop.LabelPrefix + "storage"
	// LabelStorageEnforced says whether the daemon caps the container's writable layer.
	LabelStorageEnforced = workshop.LabelPrefix + "storage-enforced"
	// LabelCPU and LabelMemory are the limits a session was created with (ListSessions
	// reports them; GetSession reads the live limits).
	// LabelGPU and LabelGPUResource are the GPUs a session asked for (gpu.go).
	LabelGPU         = workshop.LabelPrefix + "gpu"
	LabelGPUResource = workshop.LabelPrefix + "gpu-resource"
	LabelCPU         = workshop.LabelPrefix + "cpu"
	LabelMemory      = workshop.LabelPrefix + "memory"
	// LabelBuildDigest identifies the inputs of a built image (context, Dockerfile, args).
	LabelBuildDigest = workshop.LabelPrefix + "build-digest"
)

// labelFilters builds a label filter ("key=value" or "key") for list calls.
func labelFilters(kv ...string) filters.Args {
	args := filters.NewArgs()
	for _, s := range kv {
		args.Add("label", s)
	}
	return args
}

// managedBy reports whether labels say the provider created the object.
func managedBy(labels map[string]string) bool {
	return labels[workshop.LabelManagedBy] == workshop.ManagedByValue
}

// envList renders an environment map as sorted KEY=VALUE entries.
func envList(env map[string]string) []string {
	if len(env) == 0 {
		return nil
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// leaseRevision reads a lease's revision label (0 when absent or malformed).
func leaseRevision(labels map[string]string) int {
	n, err := strconv.Atoi(labels[LabelLeaseRevision])
	if err != nil {
		return 0
	}
	return n
}
