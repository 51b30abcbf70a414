package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/vcluster"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

type backendImpl = workshop.Backend

// providerData is what Configure hands to resources and data sources: one lazily
// connected backend per infrastructure type.
type providerData struct {
	docker        *lazyBackend
	dockerUnknown bool
	// dockerBindAddress is where Docker sessions publish ports (plan-time warnings).
	dockerBindAddress string

	kubernetes           *lazyBackend // nil when not configured or unknown
	kubernetesConfigured bool
	kubernetesUnknown    bool
	// vcluster is the kubernetes block's vCluster settings (valid when kubernetes is
	// set): plans compare them with what each vcluster session was installed with.
	vcluster vcluster.Config

	// swarm is the Swarm backend; nil when the provider has no swarm block (or it is
	// unknown: swarmUnknown).
	swarm        *lazyBackend
	swarmUnknown bool

	// gateway signs sessions' access_url; nil when no gateway is configured.
	gateway        *gatewaySigner
	gatewayUnknown bool

	// admission tallies this process's planned sessions (provider_admission.go).
	admission *admissionState
}

// vclusterConfig returns the configured vCluster settings; ok is false when the
// Kubernetes backend is not configured or its configuration is not known yet.
func (d *providerData) vclusterConfig() (cfg vcluster.Config, ok bool) {
	if d == nil || d.kubernetes == nil || d.kubernetesUnknown {
		return cfg, false
	}
	return d.vcluster, true
}

// lazyBackend connects on first use and pings once, so `terraform validate` and plans
// that need no backend never dial anything.
type lazyBackend struct {
	name     string
	endpoint string
	newFn    func() (backendImpl, error)

	once sync.Once
	b    backendImpl
	err  error
	// ping is the admission's snapshot of live reservations: the backend's full Ping,
	// taken once (usage), at the first admission check that needs it and in any case
	// before this process deletes a session (see usageBeforeChange). A no-change plan
	// never takes it: on Docker it inspects every session container.
	usage sync.Once
	ping  *workshop.Info
}

func newLazyBackend(name string, newFn func() (backendImpl, error), endpoint string) *lazyBackend {
	return &lazyBackend{name: name, newFn: newFn, endpoint: endpoint}
}

func (l *lazyBackend) get(ctx context.Context) (backendImpl, error) {
	l.once.Do(func() {
		b, err := l.newFn()
		if err != nil {
			l.err = err
			return
		}
		if r, ok := b.(workshop.Reacher); ok {
			err = r.Reach(ctx) // the usage waits for the first admission check
		} else {
			var info *workshop.Info
			if info, err = b.Ping(ctx); err == nil {
				l.usage.Do(func() { l.ping = info })
			}
		}
		if err != nil {
			l.err = err
			return
		}
		l.b = b
	})
	return l.b, l.err
}

// info is the snapshot of live reservations, taken at the first call; call it only
// after get succeeded. nil when the ping failed (logged: the admission then checks
// max_sessions and the planned class only).
func (l *lazyBackend) info(ctx context.Context) *workshop.Info {
	if l == nil || l.b == nil {
		return nil
	}
	l.usage.Do(func() {
		info, err := l.b.Ping(ctx)
		if err != nil {
			tflog.Warn(ctx, "the backend's live reservations could not be read; class admission counts the planned sessions only",
				map[string]any{"backend": l.name, "error": err.Error()})
			return
		}
		l.ping = info
	})
	return l.ping
}

// Backend returns the backend of an infrastructure type, or an error diagnostic that
// says which engine could not be reached and how it was configured.
func (d *providerData) Backend(ctx context.Context, infra workshop.InfrastructureType) (backendImpl, diag.Diagnostics) {
	var diags diag.Diagnostics
	if d == nil {
		diags.AddError("Provider not configured",
			"The nalabo provider was not configured before this resource needed a backend. This is a bug in the provider; please report it.")
		return nil, diags
	}
	switch infra {
	case workshop.InfraDocker:
		if d.dockerUnknown {
			diags.AddError("Docker backend not configured yet",
				"The provider's docker block depends on values that are not known yet. Apply the resources it depends on first (terraform apply -target=...).")
			return nil, diags
		}
		b, err := d.docker.get(ctx)
		if err != nil {
			diags.AddError("Cannot reach the Docker engine",
				fmt.Sprintf("The Docker engine at %s did not answer: %v\n\nCheck that dockerd runs and that docker.host (or DOCKER_HOST) points at it; for a TLS daemon, the TLS settings (docker.cert_path or the *_material arguments, or DOCKER_CERT_PATH or DOCKER_CA_MATERIAL, DOCKER_CERT_MATERIAL, DOCKER_KEY_MATERIAL).", d.docker.endpoint, err))
			return nil, diags
		}
		return b, nil
	case workshop.InfraKubernetes:
		switch {
		case d.kubernetesUnknown:
			diags.AddError("Kubernetes backend not configured yet",
				"The provider's kubernetes block depends on values that are not known yet. Apply the resources it depends on first (terraform apply -target=...).")
			return nil, diags
		case !d.kubernetesConfigured || d.kubernetes == nil:
			diags.AddError("Kubernetes backend not configured",
				"This resource needs a Kubernetes cluster, but the provider has no kubernetes block and none of KUBE_CONFIG_PATH, KUBECONFIG and K8S_ENDPOINT is set. "+
					"Add a block kubernetes { config_path = \"~/.kube/config\" } (or host and token) to the provider block.")
			return nil, diags
		}
		b, err := d.kubernetes.get(ctx)
		if err != nil {
			diags.AddError("Cannot reach the Kubernetes cluster",
				fmt.Sprintf("The Kubernetes API configured by %s could not be used: %v\n\nCheck the provider's kubernetes block (config_path, context, host, token, cluster_ca_certificate) or the variables it falls back to (KUBE_CONFIG_PATH, KUBECONFIG, K8S_CONTEXT, K8S_ENDPOINT, K8S_TOKEN, K8S_CLUSTER_CA_CERTIFICATE).%s", d.kubernetes.endpoint, err, execPluginHint(err)))
			return nil, diags
		}
		return b, nil
	case workshop.InfraSwarm:
		return d.swarmBackend(ctx)
	default:
		diags.AddError("Unknown infrastructure type", fmt.Sprintf("%q is not a known infrastructure type.", infra))
		return nil, diags
	}
}

// configuredBackends lists the infrastructure types a session may live on, in the order
// they are probed.
func (d *providerData) configuredBackends() []workshop.InfrastructureType {
	out := []workshop.InfrastructureType{workshop.InfraDocker}
	if d != nil && d.kubernetesConfigured {
		out = append(out, workshop.InfraKubernetes)
	}
	if d != nil && d.swarm != nil {
		out = append(out, workshop.InfraSwarm)
	}
	return out
}

// FindSession finds the backend that holds a session. It returns a nil session and no
// error diagnostics when no backend knows the ID.
func (d *providerData) FindSession(ctx context.Context, id string) (backendImpl, *workshop.Session, diag.Diagnostics) {
	var diags diag.Diagnostics
	for _, infra := range d.configuredBackends() {
		b, bd := d.Backend(ctx, infra)
		if bd.HasError() {
			diags.Append(bd...)
			continue
		}
		s, err := b.GetSession(ctx, id)
		if errors.Is(err, workshop.ErrNotFound) {
			continue
		}
		if err != nil {
			diags.AddError("Cannot read session", fmt.Sprintf("Reading session %q on %s failed: %v", id, infra, err))
			return nil, nil, diags
		}
		return b, s, nil
	}
	return nil, nil, diags
}

// providerDataFrom is the Configure helper of every resource and data source.
func providerDataFrom(pd any, diags *diag.Diagnostics) *providerData {
	if pd == nil {
		return nil // ValidateResourceConfig and early plans: not configured yet
	}
	d, ok := pd.(*providerData)
	if !ok {
		diags.AddError("Unexpected provider data", fmt.Sprintf("Expected *providerData, got %T. Please report this issue to the provider developers.", pd))
		return nil
	}
	return d
}

// execPluginHint explains a failed credential plugin (kubernetes.exec, or a
// kubeconfig's users[].user.exec): client-go reports it as "getting credentials".
func execPluginHint(err error) string {
	if err == nil || !strings.Contains(err.Error(), "getting credentials") {
		return ""
	}
	return "\n\nThe exec credential plugin (kubernetes.exec, or the kubeconfig user's exec) failed; its own message is above. " +
		"Run its command by hand with the same args and env to see why: usually an expired cloud login " +
		"(`aws sso login` for aws eks get-token, `az login` for kubelogin, `gcloud auth login` for gke-gcloud-auth-plugin) " +
		"or the command missing from PATH."
}
