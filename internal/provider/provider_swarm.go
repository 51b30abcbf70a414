package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/config"
)

// swarmModel is the provider's swarm block: a Swarm manager for swarm templates.
type swarmModel struct {
	Host               types.String `tfsdk:"host"`
	Network            types.String `tfsdk:"network"`
	SubnetPool         types.String `tfsdk:"subnet_pool"`
	SubnetPrefixLength types.Int64  `tfsdk:"subnet_prefix_length"`
	Encrypted          types.Bool   `tfsdk:"encrypted"`
	PidsLimit          types.Int64  `tfsdk:"pids_limit"`
	NodeHosts          types.Map    `tfsdk:"node_hosts"`
	CAMaterial         types.String `tfsdk:"ca_material"`
	CertMaterial       types.String `tfsdk:"cert_material"`
	KeyMaterial        types.String `tfsdk:"key_material"`
	RegistryAuth       types.List   `tfsdk:"registry_auth"`
}

func swarmProviderSchema() schema.Block {
	return schema.SingleNestedBlock{
		MarkdownDescription: "A Docker Swarm for `swarm` templates: classes beyond one host. Each session is a Swarm service " +
			"(its workspace) on an overlay network of its own; Swarm places it on a node that satisfies the template's " +
			"`placement_constraints` and has the CPU and memory it reserves. Configured only by this block (no environment " +
			"fallback). The docker block must not point at the same engine. " + blockShapeNote,
		Attributes: map[string]schema.Attribute{
			"host": schema.StringAttribute{
				MarkdownDescription: "Engine API address of a Swarm **manager** (`unix://`, `tcp://`, `https://`). Required in the block.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.RegexMatches(dockerHostRE, "must be a unix://, tcp://, http:// or https:// address")},
			},
			"network": schema.StringAttribute{
				MarkdownDescription: "Name prefix of the per-session overlay networks (`<network>-<session id>`). Default `" + config.DefaultSwarmNetworkPrefix + "`.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.RegexMatches(dockerNameRE, "must be letters, digits, '_', '.' or '-', starting with a letter or digit")},
			},
			"subnet_pool": schema.StringAttribute{
				MarkdownDescription: "IPv4 CIDR that per-session overlay subnets are carved from. Default `" + config.DefaultSwarmSubnetPool + "`; " +
					"keep it apart from the swarm's default address pool and the docker block's `subnet_pool`.",
				Optional:   true,
				Validators: []validator.String{cidrValidator{}},
			},
			"subnet_prefix_length": schema.Int64Attribute{
				MarkdownDescription: "Prefix length of each session's overlay subnet. Default `28`.",
				Optional:            true,
				Validators:          []validator.Int64{int64validator.Between(16, 29)},
			},
			"encrypted": schema.BoolAttribute{
				MarkdownDescription: "Encrypt the session overlays' traffic between nodes (IPsec, Swarm's `--opt encrypted`). Default `false`; " +
					"it needs the nodes' kernels to have IPsec (ESP) support.",
				Optional: true,
			},
			"pids_limit": schema.Int64Attribute{
				MarkdownDescription: "Maximum number of processes per session container. Default `512`.",
				Optional:            true,
				Validators:          []validator.Int64{int64validator.Between(16, 1<<20)},
			},
			"node_hosts": schema.MapAttribute{
				MarkdownDescription: "Engine API address of each worker node, by node hostname (or node ID), for `nalabo_exec` and " +
					"validations in sessions whose task runs there (and for removing their volumes). The manager's own node needs " +
					"no entry. A session on a node without one fails its exec with a message naming the node.",
				ElementType: types.StringType,
				Optional:    true,
				Validators:  []validator.Map{mapvalidator.ValueStringsAre(stringvalidator.RegexMatches(dockerHostRE, "must be a unix://, tcp://, http:// or https:// address"))},
			},
			"ca_material": schema.StringAttribute{
				MarkdownDescription: "PEM-encoded CA certificate of TLS engines (the manager and `node_hosts`).",
				Optional:            true,
			},
			"cert_material": schema.StringAttribute{
				MarkdownDescription: "PEM-encoded client certificate for TLS engines.",
				Optional:            true,
			},
			"key_material": schema.StringAttribute{
				MarkdownDescription: "PEM-encoded client private key for TLS engines. " + providerSecretNote,
				Optional:            true,
				Sensitive:           true,
			},
		},
		Blocks: map[string]schema.Block{
			"registry_auth": registryAuthBlock("swarm", "used when a template's workspace image is pulled on the manager, "+
				"and sent with each session's service (create and update, `docker service create --with-registry-auth`): "+
				"the manager checks the login and pins the image's digest with it, then hands it to the node that runs the "+
				"task, which pulls with it. A login the registry refuses fails the template or session at once, naming the "+
				"registry. Swarm keeps the login in the service's task spec (never returned by its API, never in Terraform "+
				"state)."),
		},
	}
}

// swarmConfigFrom reads the swarm block. configured is false without one; known false
// when some value is unknown at plan time.
func swarmConfigFrom(m *swarmModel, diags *diag.Diagnostics) (cfg config.Swarm, configured, known bool) {
	if m == nil {
		return cfg, false, true
	}
	r := newBlockReader()
	cfg = config.Swarm{
		Host:               r.stringValue(m.Host),
		NetworkPrefix:      r.stringValue(m.Network),
		SubnetPool:         r.stringValue(m.SubnetPool),
		SubnetPrefixLength: int(r.int64Value(m.SubnetPrefixLength)),
		Encrypted:          r.boolValue(m.Encrypted),
		PidsLimit:          r.int64Value(m.PidsLimit),
		CAMaterial:         r.stringValue(m.CAMaterial),
		CertMaterial:       r.stringValue(m.CertMaterial),
		KeyMaterial:        r.stringValue(m.KeyMaterial),
	}
	cfg.RegistryAuth = registryAuthsFrom(r, m.RegistryAuth)
	if m.NodeHosts.IsUnknown() {
		r.known = false
	} else if !m.NodeHosts.IsNull() {
		cfg.NodeHosts = map[string]string{}
		for k, v := range m.NodeHosts.Elements() {
			if s, ok := v.(types.String); ok && !s.IsUnknown() {
				cfg.NodeHosts[k] = s.ValueString()
			} else {
				r.known = false
			}
		}
	}
	if r.known && cfg.Host == "" {
		diags.AddAttributeError(path.Root("swarm").AtName("host"), "Missing Swarm manager address",
			"The swarm block needs host: the Engine API address of a Swarm manager, for example host = \"unix:///var/run/docker.sock\" or \"tcp://manager:2376\".")
	}
	return cfg, true, r.known
}

// swarmBackend returns the swarm backend or a diagnostic saying what is missing.
func (d *providerData) swarmBackend(ctx context.Context) (backendImpl, diag.Diagnostics) {
	var diags diag.Diagnostics
	switch {
	case d.swarmUnknown:
		diags.AddError("Swarm backend not configured yet",
			"The provider's swarm block depends on values that are not known yet. Apply the resources it depends on first (terraform apply -target=...).")
		return nil, diags
	case d.swarm == nil:
		diags.AddError("Swarm backend not configured",
			"This resource needs a Docker Swarm, but the provider has no swarm block. Add swarm { host = \"<a manager's engine address>\" } to the provider block.")
		return nil, diags
	}
	b, err := d.swarm.get(ctx)
	if err != nil {
		diags.AddError("Cannot reach the Swarm manager",
			fmt.Sprintf("The Swarm manager at %s could not be used: %v\n\nCheck swarm.host (a manager's Engine API address, after `docker swarm init`) and its TLS settings.", d.swarm.endpoint, err))
		return nil, diags
	}
	return b, nil
}
