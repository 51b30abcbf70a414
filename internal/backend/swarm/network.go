package swarm

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/network"

	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// networkName is <prefix>-<session id>.
func (b *Backend) networkName(id string) string { return b.cfg.NetworkPrefix + "-" + id }

// createNetwork creates the session's overlay with a subnet from the pool, trying the
// next subnet when another network already uses one (as the Docker backend does).
// Attachable, so that a debugging container (docker run --network) can join it.
func (b *Backend) createNetwork(ctx context.Context, spec *workshop.SessionSpec) error {
	name := b.networkName(spec.ID)
	if err := b.subnets.Load(ctx, b.cli); err != nil {
		return err
	}
	labels := workshop.WithLabels(spec.Labels(), workshop.LabelRole, workshop.RoleNetwork,
		workshop.LabelBackend, string(workshop.InfraSwarm))
	if spec.Template != nil {
		// A network whose service was never created (a killed apply) is found by the
		// re-apply of the same template and participant (SessionsOf).
		labels[workshop.LabelTemplateID] = spec.Template.ID
	}
	opts := map[string]string{}
	if b.cfg.Encrypted {
		opts["encrypted"] = ""
	}
	var lastErr error
	for attempt := 0; attempt < docker.MaxSubnetAttempts; attempt++ {
		subnet, err := b.subnets.Reserve(spec.ID)
		if err != nil {
			return err
		}
		_, err = b.cli.NetworkCreate(ctx, name, network.CreateOptions{
			Driver:     "overlay",
			Scope:      "swarm",
			Attachable: true,
			IPAM: &network.IPAM{
				Driver: "default",
				Config: []network.IPAMConfig{{Subnet: subnet.String(), Gateway: docker.GatewayOf(subnet).String()}},
			},
			Labels:  labels,
			Options: opts,
		})
		if err == nil {
			return nil
		}
		if !docker.IsOverlapError(err) {
			b.subnets.Release(spec.ID)
			return fmt.Errorf("create overlay network %s (subnet %s): %w", name, subnet, err)
		}
		b.subnets.Conflict(spec.ID, subnet)
		lastErr = err
		if err := b.subnets.Refresh(ctx, b.cli); err != nil {
			return err
		}
	}
	return fmt.Errorf("create overlay network %s: %d subnets of %s in a row overlapped other networks: %w",
		name, docker.MaxSubnetAttempts, b.subnets.Pool(), lastErr)
}
