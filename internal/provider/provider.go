// Package provider is the Terraform layer of Nalabo: the provider, its resources and
// data sources. It knows workshop types and backend constructors only, never Docker or
// Kubernetes client types.
package provider

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/config"
	"github.com/nalabo/terraform-provider-nalabo/internal/envconfig"
	"github.com/nalabo/terraform-provider-nalabo/internal/netguard"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var (
	_ provider.Provider                   = (*nalaboProvider)(nil)
	_ provider.ProviderWithValidateConfig = (*nalaboProvider)(nil)
)

// Backends builds the backends from their configurations. main.go hands over the real
// constructors (docker.New, kubernetes.New), so that this package imports no backend
// and no Docker, client-go or Helm package; a constructor only validates and builds
// a client, the first use pings.
type Backends struct {
	Docker     func(config.Docker) (workshop.Backend, error)
	Kubernetes func(config.Kubernetes) (workshop.Backend, error)
	Swarm      func(config.Swarm) (workshop.Backend, error)
}

// newDocker and newKubernetes build a backend; a Backends without the constructor
// (a test) fails like an unreachable engine instead of panicking.
func (b Backends) newDocker(c config.Docker) (workshop.Backend, error) {
	if b.Docker == nil {
		return nil, errors.New("this provider was built without the Docker backend")
	}
	return b.Docker(c)
}

func (b Backends) newKubernetes(c config.Kubernetes) (workshop.Backend, error) {
	if b.Kubernetes == nil {
		return nil, errors.New("this provider was built without the Kubernetes backend")
	}
	return b.Kubernetes(c)
}

func (b Backends) newSwarm(c config.Swarm) (workshop.Backend, error) {
	if b.Swarm == nil {
		return nil, errors.New("this provider was built without the Swarm backend")
	}
	return b.Swarm(c)
}

// New returns the provider factory for providerserver.Serve and tests.
func New(version string, backends Backends) func() provider.Provider {
	return func() provider.Provider {
		return &nalaboProvider{version: version, getenv: os.Getenv, backends: backends}
	}
}

type nalaboProvider struct {
	version  string
	backends Backends
	// getenv reads the environment fallbacks (os.Getenv; a map in unit tests).
	getenv func(string) string
}

type providerModel struct {
	Docker     *dockerModel     `tfsdk:"docker"`
	Kubernetes *kubernetesModel `tfsdk:"kubernetes"`
	Gateway    *gatewayModel    `tfsdk:"gateway"`
	Swarm      *swarmModel      `tfsdk:"swarm"`
	// MaxSessions caps the sessions of every configured backend together.
	MaxSessions types.Int64 `tfsdk:"max_sessions"`
}

type dockerModel struct {
	Host               types.String `tfsdk:"host"`
	Network            types.String `tfsdk:"network"`
	BindAddress        types.String `tfsdk:"bind_address"`
	SubnetPool         types.String `tfsdk:"subnet_pool"`
	SubnetPrefixLength types.Int64  `tfsdk:"subnet_prefix_length"`
	PidsLimit          types.Int64  `tfsdk:"pids_limit"`
	CertPath           types.String `tfsdk:"cert_path"`
	CAMaterial         types.String `tfsdk:"ca_material"`
	CertMaterial       types.String `tfsdk:"cert_material"`
	KeyMaterial        types.String `tfsdk:"key_material"`
	RegistryAuth       types.List   `tfsdk:"registry_auth"`
	EgressDeny         types.List   `tfsdk:"egress_deny"`
	Overcommit         types.Object `tfsdk:"overcommit"`
}

func (p *nalaboProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "nalabo"
	resp.Version = p.version
}

func (p *nalaboProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The Nalabo provider gives every participant of a workshop an isolated, " +
			"resource-limited environment on Docker or Kubernetes, runs commands and checks in it, " +
			"and removes every trace on `terraform destroy`.",
		Attributes: map[string]schema.Attribute{
			"max_sessions": schema.Int64Attribute{
				MarkdownDescription: "The most sessions the backends of this configuration may hold at once, at least `1`: " +
					"every state's sessions count, as the backends list them (stopped persistent sessions too: they still hold " +
					"their data and names, though no CPU or memory). A plan that would create more fails before " +
					"anything is created, with the figures; sessions that exist already are never refused (a class can always " +
					"be re-planned and destroyed). When unset, `" + envMaxSessions + "`; default no limit (the hosts' capacity still " +
					"applies, see `docker.overcommit` and `kubernetes.overcommit`).",
				Optional:   true,
				Validators: []validator.Int64{int64validator.AtLeast(1)},
			},
		},
		Blocks: map[string]schema.Block{
			"docker": schema.SingleNestedBlock{
				MarkdownDescription: "The Docker engine sessions of `docker` templates run on. " +
					"When omitted, the local engine is used with the defaults below. " + blockShapeNote,
				Attributes: map[string]schema.Attribute{
					"host": schema.StringAttribute{
						MarkdownDescription: "Docker daemon address. " + envconfig.FallbackNote("docker.host") + " Default `" + config.DefaultDockerHost + "`.",
						Optional:            true,
						Validators:          []validator.String{stringvalidator.RegexMatches(dockerHostRE, "must be a unix://, tcp://, http:// or https:// address")},
					},
					"network": schema.StringAttribute{
						MarkdownDescription: "Name prefix of the per-session networks (`<network>-<session id>`). " +
							envconfig.FallbackNote("docker.network") + " Default `" + config.DefaultDockerNetworkPrefix + "`.",
						Optional:   true,
						Validators: []validator.String{stringvalidator.RegexMatches(dockerNameRE, "must be letters, digits, '_', '.' or '-', starting with a letter or digit")},
					},
					"bind_address": schema.StringAttribute{
						MarkdownDescription: "Host address published ports listen on. Default `" + config.DefaultDockerBindAddress + "`. " +
							"`0.0.0.0` (or `::`) lets participants reach their ports from other machines; sessions of templates with " +
							"`egress` `restricted` (the default) or `none` still cannot reach other sessions' ports through a host " +
							"address, sessions with `egress = \"open\"` can (the plan warns).",
						Optional:   true,
						Validators: []validator.String{ipAddressValidator{}},
					},
					"subnet_pool": schema.StringAttribute{
						MarkdownDescription: "IPv4 CIDR that per-session network subnets are carved from, so a class never " +
							"exhausts Docker's default address pools. Default `" + config.DefaultDockerSubnetPool + "`.",
						Optional:   true,
						Validators: []validator.String{cidrValidator{}},
					},
					"subnet_prefix_length": schema.Int64Attribute{
						MarkdownDescription: "Prefix length of each session's subnet, carved from `subnet_pool`. Default `28` (14 addresses).",
						Optional:            true,
						Validators:          []validator.Int64{int64validator.Between(16, 29)},
					},
					"pids_limit": schema.Int64Attribute{
						MarkdownDescription: "Maximum number of processes per session container. Default `512`.",
						Optional:            true,
						Validators:          []validator.Int64{int64validator.Between(16, 1<<20)},
					},
					"cert_path": schema.StringAttribute{
						MarkdownDescription: "Directory holding `ca.pem`, `cert.pem` and `key.pem` for a TLS daemon (`~` is expanded). " +
							"The TLS settings (this one or the three `*_material`) come from the configuration or, when it gives none, " +
							"from the environment: `DOCKER_CERT_PATH`, or `DOCKER_CA_MATERIAL`, `DOCKER_CERT_MATERIAL` and `DOCKER_KEY_MATERIAL`; " +
							"with none of them, a non-empty `DOCKER_TLS_VERIFY` means `~/.docker` (as the Docker CLI). The daemon's certificate is always verified.",
						Optional: true,
					},
					"ca_material": schema.StringAttribute{
						MarkdownDescription: "PEM-encoded CA certificate of a TLS daemon (instead of `cert_path`). " + envconfig.FallbackNote("docker.ca_material"),
						Optional:            true,
					},
					"cert_material": schema.StringAttribute{
						MarkdownDescription: "PEM-encoded client certificate for a TLS daemon. " + envconfig.FallbackNote("docker.cert_material"),
						Optional:            true,
					},
					"key_material": schema.StringAttribute{
						MarkdownDescription: "PEM-encoded client private key for a TLS daemon. " + envconfig.FallbackNote("docker.key_material") + " " + providerSecretNote,
						Optional:            true,
						Sensitive:           true,
					},
					"egress_deny": schema.ListAttribute{
						MarkdownDescription: "CIDRs (IPv4 or IPv6) that sessions of templates with `egress = \"restricted\"` (the default) " +
							"cannot reach. Default the cloud metadata endpoints, `" + strings.Join(netguard.DefaultDeny, "`, `") + "`; " +
							"an empty list denies no range (the host and other sessions stay unreachable). Add your LAN, VPN and cluster " +
							"ranges. The ranges go into the `inet nalabo` nftables table of the engine's host, shared by every " +
							"configuration that uses the same engine: the denied ranges are the union of theirs, and are removed only " +
							"with the table (`nft delete table inet nalabo` on the host).",
						ElementType: types.StringType,
						Optional:    true,
						Validators:  []validator.List{listvalidator.ValueStringsAre(egressCIDRValidator{})},
					},
					"overcommit": overcommitAttribute(workshop.InfraDocker, "Docker host", "the Docker host's CPUs and memory (`docker info`)"),
				},
				Blocks: map[string]schema.Block{
					"registry_auth": registryAuthBlock("docker", "used when templates pull their workspace and Compose "+
						"service images (once for the whole class) and when they build a Dockerfile (its `FROM` images)."),
				},
			},
			"kubernetes": kubernetesProviderSchema(),
			"gateway":    gatewayProviderSchema(),
			"swarm":      swarmProviderSchema(),
		},
	}
}

// providerSecretNote ends the description of every secret of the provider block.
const providerSecretNote = "Sensitive. Provider configuration is never written to state or plan files, so this argument " +
	"needs no write-only variant; it accepts ephemeral values (Terraform >= 1.10), and the environment variable keeps it out of the configuration altogether."

func (p *nalaboProvider) ValidateConfig(ctx context.Context, req provider.ValidateConfigRequest, resp *provider.ValidateConfigResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	validateKubernetesBlock(m.Kubernetes, p.getenv, &resp.Diagnostics)
	if m.Docker == nil {
		return
	}
	d := m.Docker
	// Either a certificate directory or PEM material, not both.
	if !d.CertPath.IsNull() && (!d.CAMaterial.IsNull() || !d.CertMaterial.IsNull() || !d.KeyMaterial.IsNull()) {
		resp.Diagnostics.AddAttributeError(path.Root("docker").AtName("cert_path"), "Conflicting TLS settings",
			"Set either docker.cert_path or docker.ca_material/cert_material/key_material, not both.")
	}
	if d.CertMaterial.IsNull() != d.KeyMaterial.IsNull() && !d.CertMaterial.IsUnknown() && !d.KeyMaterial.IsUnknown() {
		resp.Diagnostics.AddAttributeError(path.Root("docker").AtName("key_material"), "Incomplete TLS client certificate",
			"docker.cert_material and docker.key_material must be set together.")
	}
}

func (p *nalaboProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	data := &providerData{}
	dockerCfg, known, dockerEnv, err := dockerConfigFrom(m.Docker, p.getenv)
	if err != nil && known {
		resp.Diagnostics.AddAttributeError(path.Root("docker"), "Invalid Docker settings from the environment", err.Error())
	}
	k8sCfg, k8sConfigured, k8sKnown, k8sEnv := kubernetesConfigFrom(m.Kubernetes, p.getenv, &resp.Diagnostics)
	gw, gwKnown := gatewayFrom(m.Gateway, p.getenv, &resp.Diagnostics)
	swarmCfg, swarmConfigured, swarmKnown := swarmConfigFrom(m.Swarm, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if (!known || !k8sKnown || !swarmKnown) && req.ClientCapabilities.DeferralAllowed {
		// Terraform >= 1.9 with deferred actions: plan the resources later, once the
		// values the provider block depends on are known.
		tflog.Debug(ctx, "provider configuration has unknown values; deferring")
		resp.Deferred = &provider.Deferred{Reason: provider.DeferredReasonProviderConfigUnknown}
		return
	}
	if !known {
		// Part of the docker block depends on values known only after apply. Nothing
		// dials anything now; a resource that needs the engine says so clearly.
		data.dockerUnknown = true
		tflog.Debug(ctx, "docker configuration has unknown values; the Docker backend is not configured during this plan")
	}
	dockerEndpoint := dockerCfg.Host
	if len(dockerEnv) > 0 {
		dockerEndpoint += " (from the environment: " + strings.Join(dockerEnv, ", ") + ")"
	}
	data.docker = newLazyBackend("docker", func() (backendImpl, error) { return p.backends.newDocker(dockerCfg) }, dockerEndpoint)
	data.dockerBindAddress = dockerCfg.BindAddress
	data.gateway, data.gatewayUnknown = gw, !gwKnown
	data.kubernetesConfigured = k8sConfigured
	data.kubernetesUnknown = !k8sKnown
	if k8sConfigured && k8sKnown {
		endpoint := k8sCfg.Host
		if endpoint == "" {
			endpoint = "the kubeconfig " + k8sCfg.ConfigPath
			if k8sCfg.Context != "" {
				endpoint += " (context " + k8sCfg.Context + ")"
			}
		}
		if len(k8sEnv) > 0 {
			endpoint += " (from the environment: " + strings.Join(k8sEnv, ", ") + ")"
		}
		data.kubernetes = newLazyBackend("kubernetes", func() (backendImpl, error) { return p.backends.newKubernetes(k8sCfg) }, endpoint)
		data.vcluster = k8sCfg.VCluster
	}
	data.swarmUnknown = !swarmKnown
	if swarmConfigured && swarmKnown {
		data.swarm = newLazyBackend("swarm", func() (backendImpl, error) { return p.backends.newSwarm(swarmCfg) }, swarmCfg.Host)
	}
	tflog.Debug(ctx, "configured nalabo provider", map[string]any{
		"docker_host": dockerCfg.Host, "docker_network": dockerCfg.NetworkPrefix,
		"kubernetes_configured": k8sConfigured, "kubernetes_config_path": k8sCfg.ConfigPath,
		"kubernetes_context": k8sCfg.Context, "kubernetes_host": k8sCfg.Host, "kubernetes_namespace": k8sCfg.Namespace,
		"docker_environment": dockerEnv, "kubernetes_environment": k8sEnv, // names only, never values
		"gateway_configured": gw != nil,
		"swarm_configured":   swarmConfigured, "swarm_host": swarmCfg.Host,
	})
	data.admission = admissionFrom(ctx, m, p.getenv, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.ResourceData = data
	resp.DataSourceData = data
}

// dockerConfigFrom takes the docker block's values, then the environment fallbacks
// and defaults (envconfig). known is false when some value is unknown at plan time;
// used names the variables applied.
func dockerConfigFrom(d *dockerModel, getenv func(string) string) (cfg config.Docker, known bool, used []string, err error) {
	r := newBlockReader()
	if d == nil {
		d = &dockerModel{}
	}
	cfg = config.Docker{
		Host:               r.stringValue(d.Host),
		NetworkPrefix:      r.stringValue(d.Network),
		BindAddress:        r.stringValue(d.BindAddress),
		SubnetPool:         r.stringValue(d.SubnetPool),
		SubnetPrefixLength: int(r.int64Value(d.SubnetPrefixLength)),
		PidsLimit:          r.int64Value(d.PidsLimit),
		CertPath:           expandHome(r.stringValue(d.CertPath)),
		CAMaterial:         r.stringValue(d.CAMaterial),
		CertMaterial:       r.stringValue(d.CertMaterial),
		KeyMaterial:        r.stringValue(d.KeyMaterial),
	}
	cfg.EgressDeny = r.stringList(d.EgressDeny) // [] is not the default
	cfg.RegistryAuth = registryAuthsFrom(r, d.RegistryAuth)
	used, err = envconfig.Docker(&cfg, getenv)
	return cfg, r.known, used, err
}

func (p *nalaboProvider) Resources(_ context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		NewWorkshopTemplateResource,
		NewWorkshopSessionResource,
		NewExecResource,
		NewApplyResource,
	}
}

func (p *nalaboProvider) DataSources(_ context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewInfrastructureDataSource,
		NewWorkshopSessionDataSource,
		NewSessionValidationDataSource,
	}
}
