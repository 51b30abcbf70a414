package provider

import (
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/swarm"
	"github.com/nalabo/terraform-provider-nalabo/internal/config"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// realBackends are the constructors main.go hands over: the tests run the provider
// against the real engines. (Test files may import backends; the package may not.)
func realBackends() Backends {
	return Backends{
		Docker:     func(c config.Docker) (workshop.Backend, error) { return docker.New(c) },
		Kubernetes: func(c config.Kubernetes) (workshop.Backend, error) { return kubernetes.New(c) },
		Swarm:      func(c config.Swarm) (workshop.Backend, error) { return swarm.New(c) },
	}
}

// newTestProvider is newTestProvider with the real backends.
var newTestProvider = New("test", realBackends())
