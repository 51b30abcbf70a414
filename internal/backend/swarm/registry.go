package swarm

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/swarm"

	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/config"
)

// Private registries. The login of an image's registry (swarm.registry_auth, looked up
// like the Docker backend's: the registry's own block, else the one without address)
// goes with every service create and update as X-Registry-Auth: the manager keeps it
// in the service's task spec and hands it to the node that runs a task, which pulls
// with it (`docker service create --with-registry-auth`). The Engine API never returns
// it (service inspect has no pull options). QueryRegistry makes the client ask the
// manager to resolve the tag's digest with that login, so that every node runs the
// same image.

// imageAuth is the encoded login for image ("" and nil when none applies).
func (b *Backend) imageAuth(image string) (string, *config.RegistryAuth, error) {
	return docker.RegistryAuthFor(b.cfg.RegistryAuth, image)
}

// checkRegistryLogin asks the manager to resolve image's manifest with the login of its
// registry, and returns that login encoded ("" when none applies: nothing is asked).
// A registry that refuses the login fails it at once with an error naming the registry
// and the block (a task would otherwise be rejected with a bare "No such image" on its
// node, the registry's answer only in that node's daemon log). Other failures (the
// manager cannot reach the registry, yet a node may) are left to the task's own pull.
func (b *Backend) checkRegistryLogin(ctx context.Context, image string) (string, error) {
	enc, login, err := b.imageAuth(image)
	if err != nil || enc == "" {
		return "", err
	}
	_, err = b.cli.DistributionInspect(ctx, image, enc)
	if err != nil && config.IsRegistryAuthError(err.Error()) {
		return "", docker.PullError("swarm", image, login, err)
	}
	return enc, nil
}

// createOptions are the service create options that carry enc (see checkRegistryLogin).
func createOptions(enc string) swarm.ServiceCreateOptions {
	return swarm.ServiceCreateOptions{EncodedRegistryAuth: enc, QueryRegistry: enc != ""}
}

// updateOptions are the service update options that carry enc; without a login the
// manager keeps the one the service has.
func updateOptions(enc string) swarm.ServiceUpdateOptions {
	return swarm.ServiceUpdateOptions{EncodedRegistryAuth: enc, QueryRegistry: enc != ""}
}

// noImageHint explains a task rejected because its node has no image: the node's pull
// failed (its daemon logs why), and with a private registry that is usually the login.
func (b *Backend) noImageHint(t swarm.Task) string {
	cs := t.Spec.ContainerSpec
	if cs == nil || !strings.Contains(taskErr(t), "No such image") {
		return ""
	}
	host, err := config.ImageRegistry(cs.Image)
	if err != nil {
		return ""
	}
	_, login, _ := b.imageAuth(cs.Image)
	if login == nil {
		return fmt.Sprintf("; the node could not pull the image from registry %s: if it needs a login, add a swarm.registry_auth block with address = %q", host, host)
	}
	return fmt.Sprintf("; the node could not pull the image from registry %s with swarm.registry_auth %q (user %q): check that the node reaches the registry, trusts its certificate and that the login is valid",
		host, login.Address, login.Username)
}
