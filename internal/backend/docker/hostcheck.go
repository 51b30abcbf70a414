package docker

import (
	"context"
	"fmt"

	"github.com/nalabo/terraform-provider-nalabo/internal/hostpath"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// pathPolicy is the host-path policy of this daemon: the defaults plus its socket (when
// docker.host is a unix socket) and its data root. The provider checks the defaults at
// plan time; the backend checks again here, so a direct caller is refused too.
func (b *Backend) pathPolicy(ctx context.Context) (*hostpath.Policy, error) {
	facts, err := b.daemonFacts(ctx)
	if err != nil {
		return nil, err
	}
	return hostpath.New(hostpath.SocketPath(b.cfg.Host), facts.rootDir), nil
}

// checkHostCapacity refuses CPU or memory beyond what the host has: such a limit is no
// limit at all, so it is an error naming the host's figure rather than a silent yes.
func checkHostCapacity(facts *daemonFacts, res workshop.ParsedResources) error {
	if facts.ncpu > 0 && res.MilliCPU > int64(facts.ncpu)*1000 {
		return &workshop.FieldError{Path: "resources.cpu", Msg: fmt.Sprintf(
			"%s is more than the Docker host has (%d CPUs = %dm): a limit above the host's is no limit",
			workshop.FormatMilliCPU(res.MilliCPU), facts.ncpu, facts.ncpu*1000)}
	}
	if facts.memTotal > 0 && res.MemoryBytes > facts.memTotal {
		return &workshop.FieldError{Path: "resources.memory", Msg: fmt.Sprintf(
			"%s is more than the Docker host has (MemTotal %.1fGi = %d bytes): a limit above the host's memory is no limit",
			workshop.FormatBytes(res.MemoryBytes), float64(facts.memTotal)/(1<<30), facts.memTotal)}
	}
	return nil
}

// checkTemplateCapacity refuses a template whose own resources exceed the host (the
// defaults are checked with each session).
func (b *Backend) checkTemplateCapacity(ctx context.Context, t *workshop.Template) error {
	res, err := workshop.Resources{CPU: t.Resources.CPU, Memory: t.Resources.Memory}.Parse()
	if err != nil {
		return err // Validate reported it
	}
	facts, err := b.daemonFacts(ctx)
	if err != nil {
		return err
	}
	return checkHostCapacity(facts, res)
}
