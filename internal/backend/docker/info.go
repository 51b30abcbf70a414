package docker

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/system"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Whether the storage driver can cap a container's writable layer (StorageOpt size).
const (
	storageSizeUnsupported int32 = iota
	storageSizeSupported
	// storageSizeTry: overlay2 on xfs caps only with the pquota mount option, which the
	// daemon's info does not tell. The first create tries and remembers the answer.
	storageSizeTry
)

// sharedCallTimeout bounds a request several callers wait for.
const sharedCallTimeout = time.Minute

// daemonFacts is what the backend learns about the daemon once.
type daemonFacts struct {
	storageDriver string
	backingFS     string
	storageSize   atomic.Int32
	// init: the daemon ships docker-init (tini), so containers can run with Init.
	init bool
	// The host's CPUs and memory (docker info NCPU, MemTotal) and the daemon's data
	// root: a limit above the host's is no limit; the data root is never mounted.
	ncpu     int
	memTotal int64
	rootDir  string
}

// storageSizeFor says whether a storage driver (and its backing filesystem) supports a
// per-container size.
func storageSizeFor(driver, backingFS string) int32 {
	switch driver {
	case "btrfs", "zfs", "devicemapper":
		return storageSizeSupported
	case "overlay2", "overlay":
		if backingFS == "xfs" {
			return storageSizeTry
		}
	}
	return storageSizeUnsupported
}

// daemonFactsCache holds the facts once they were read successfully; concurrent first
// readers share one request, and each waits only as long as its own context allows.
type daemonFactsCache struct {
	facts atomic.Pointer[daemonFacts]
	group singleflight.Group
}

// daemonFacts returns the cached facts, reading them on first use.
func (b *Backend) daemonFacts(ctx context.Context) (*daemonFacts, error) {
	if f := b.facts.facts.Load(); f != nil {
		return f, nil
	}
	ch := b.facts.group.DoChan("facts", func() (any, error) {
		// Shared: not tied to the first caller's cancellation.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedCallTimeout)
		defer cancel()
		ver, info, err := b.versionAndInfo(sctx)
		if err != nil {
			return nil, err
		}
		return b.facts.remember(factsFrom(ver, info)), nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		f, ok := r.Val.(*daemonFacts)
		if !ok {
			return nil, fmt.Errorf("daemon facts: unexpected %T", r.Val)
		}
		return f, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// remember stores f unless facts are already known, and returns the known facts.
func (c *daemonFactsCache) remember(f *daemonFacts) *daemonFacts {
	c.facts.CompareAndSwap(nil, f)
	return c.facts.Load()
}

func factsFrom(ver types.Version, info system.Info) *daemonFacts {
	f := &daemonFacts{storageDriver: info.Driver, backingFS: driverStatus(info, "Backing Filesystem"),
		ncpu: info.NCPU, memTotal: info.MemTotal, rootDir: info.DockerRootDir}
	f.storageSize.Store(storageSizeFor(f.storageDriver, f.backingFS))
	for _, c := range ver.Components {
		if c.Name == "docker-init" {
			f.init = true
		}
	}
	return f
}

func driverStatus(info system.Info, key string) string {
	for _, kv := range info.DriverStatus {
		if kv[0] == key {
			return kv[1]
		}
	}
	return ""
}

// versionAndInfo asks the daemon for its version and info, concurrently.
func (b *Backend) versionAndInfo(ctx context.Context) (types.Version, system.Info, error) {
	var ver types.Version
	var info system.Info
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { ver, err = b.cli.ServerVersion(gctx); return err })
	g.Go(func() (err error) { info, err = b.cli.Info(gctx); return err })
	if err := g.Wait(); err != nil {
		return ver, info, fmt.Errorf("cannot reach Docker at %s: %w", b.cfg.Host, err)
	}
	return ver, info, nil
}

// Reach checks that the daemon answers and records its facts: Ping without the usage
// figures, which inspect every session container (workshop.Reacher).
func (b *Backend) Reach(ctx context.Context) error {
	ver, info, err := b.versionAndInfo(ctx)
	if err != nil {
		return err
	}
	b.facts.remember(factsFrom(ver, info))
	return nil
}

// Ping checks that the daemon answers and reports its capacity and what sessions use.
func (b *Backend) Ping(ctx context.Context) (*workshop.Info, error) {
	ver, info, err := b.versionAndInfo(ctx)
	if err != nil {
		return nil, err
	}
	facts := b.facts.remember(factsFrom(ver, info))

	out := &workshop.Info{
		Type:                workshop.InfraDocker,
		Endpoint:            b.cfg.Host,
		ServerVersion:       ver.Version,
		APIVersion:          b.cli.ClientVersion(),
		AllocatableMilliCPU: int64(info.NCPU) * 1000,
		AllocatableMemory:   info.MemTotal,
		Details: map[string]string{
			"storage_driver":     info.Driver,
			"backing_filesystem": facts.backingFS,
			"cgroup_driver":      info.CgroupDriver,
			"cgroup_version":     info.CgroupVersion,
			"daemon_api_version": ver.APIVersion,
			"storage_enforced":   storageEnforcedDetail(facts.storageSize.Load()),
			"init":               strconv.FormatBool(facts.init),
			"network_prefix":     b.cfg.NetworkPrefix,
			"subnet_pool":        b.cfg.SubnetPool,
			"bind_address":       b.cfg.BindAddress,
		},
	}
	if err := b.addUsage(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// addUsage counts the sessions (their workspace containers) and adds up what every
// session container reserves, workspace and Compose services (their limits share the
// session's budget), one inspect each, a few at a time: list data has no limits, and
// the creation labels miss later updates. A stopped persistent session (StopSession:
// its containers exited) reserves nothing until it is started again.
func (b *Backend) addUsage(ctx context.Context, out *workshop.Info) error {
	list, err := b.listSessionContainers(ctx)
	if err != nil {
		return err
	}
	var cpu, mem atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, c := range list {
		stopped := stoppedInPlace(c)
		if c.Labels[workshop.LabelRole] == workshop.RoleWorkspace {
			out.Sessions++
			if stopped {
				out.StoppedSessions++
			}
		}
		if stopped {
			continue
		}
		g.Go(func() error {
			ins, err := b.cli.ContainerInspect(gctx, c.ID)
			if isNotFound(err) {
				return nil // removed meanwhile
			}
			if err != nil {
				return fmt.Errorf("inspect container %s: %w", c.ID, err)
			}
			if ins.HostConfig != nil {
				cpu.Add(ins.HostConfig.NanoCPUs / 1e6)
				mem.Add(ins.HostConfig.Memory)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	out.UsedMilliCPU, out.UsedMemory = cpu.Load(), mem.Load()
	return nil
}

// stoppedInPlace says whether a container of a persistent session is stopped (exited
// or dead: not running, restarting, paused, nor created by a create under way), so
// that it holds no CPU or memory. A container of a session without persistence
// counts whatever its state: such a session is never stopped on purpose.
func stoppedInPlace(c container.Summary) bool {
	if workshop.PersistenceFromLabels(c.Labels) == nil {
		return false
	}
	return c.State == container.StateExited || c.State == container.StateDead
}

// listSessionContainers lists the workspace and service containers of every session
// the provider manages (label filter; the role is checked here, since label filters
// only AND).
func (b *Backend) listSessionContainers(ctx context.Context) ([]container.Summary, error) {
	list, err := b.cli.ContainerList(ctx, container.ListOptions{
		All: true,
		Filters: labelFilters(
			workshop.LabelManagedBy+"="+workshop.ManagedByValue,
			workshop.LabelSession,
		),
	})
	if err != nil {
		return nil, fmt.Errorf("list session containers: %w", err)
	}
	out := list[:0]
	for _, c := range list {
		if r := c.Labels[workshop.LabelRole]; r == workshop.RoleWorkspace || r == workshop.RoleService {
			out = append(out, c)
		}
	}
	return out, nil
}

func storageEnforcedDetail(mode int32) string {
	switch mode {
	case storageSizeSupported:
		return "true"
	case storageSizeTry:
		return "unknown until the first session (overlay2 on xfs caps only with the pquota mount option)"
	}
	return "false"
}
