package provider

import (
	"context"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var (
	_ datasource.DataSource              = (*infrastructureDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*infrastructureDataSource)(nil)
)

// NewInfrastructureDataSource is the nalabo_infrastructure data source.
func NewInfrastructureDataSource() datasource.DataSource { return &infrastructureDataSource{} }

type infrastructureDataSource struct {
	data *providerData
}

type infrastructureModel struct {
	ID           types.String `tfsdk:"id"`
	Backends     types.Map    `tfsdk:"backends"`
	AllReachable types.Bool   `tfsdk:"all_reachable"`
	Sessions     types.Int64  `tfsdk:"sessions"`
	MaxSessions  types.Int64  `tfsdk:"max_sessions"`
}

var infrastructureBackendAttrTypes = map[string]attr.Type{
	"type":                       types.StringType,
	"reachable":                  types.BoolType,
	"error":                      types.StringType,
	"endpoint":                   types.StringType,
	"server_version":             types.StringType,
	"api_version":                types.StringType,
	"allocatable_cpu_millicores": types.Int64Type,
	"allocatable_memory_bytes":   types.Int64Type,
	"used_cpu_millicores":        types.Int64Type,
	"used_memory_bytes":          types.Int64Type,
	"sessions":                   types.Int64Type,
	"pool_free":                  types.Int64Type,
	"pool_free_by_template":      types.MapType{ElemType: types.Int64Type},
	"overcommit_cpu":             types.Float64Type,
	"overcommit_memory":          types.Float64Type,
	"admissible_cpu_millicores":  types.Int64Type,
	"admissible_memory_bytes":    types.Int64Type,
	"details":                    types.MapType{ElemType: types.StringType},
	"allocatable_gpus":           types.MapType{ElemType: types.Int64Type},
	"used_gpus":                  types.MapType{ElemType: types.Int64Type},
}

func (d *infrastructureDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_infrastructure"
}

func (d *infrastructureDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *infrastructureDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Health checks of the infrastructure the provider is configured for: for each backend " +
			"(`docker`, and `kubernetes` when the provider has a `kubernetes` block or `KUBE_CONFIG_PATH`/`KUBECONFIG`/`K8S_ENDPOINT`), " +
			"whether its API answers, its versions, the CPU and memory it can give, what the sessions reserve, and how " +
			"many sessions it holds. An unreachable backend is reported with `reachable = false` and its `error`, not " +
			"as a failure, so a `check` block can assert on it.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The configured backend types, comma-separated (for example `docker,kubernetes`).",
				Computed:            true,
			},
			"backends": schema.MapNestedAttribute{
				MarkdownDescription: "One entry per configured backend, keyed by its type: " +
					"`data.nalabo_infrastructure.this.backends[\"docker\"].reachable`.",
				Computed: true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"type": schema.StringAttribute{
						MarkdownDescription: "`docker` or `kubernetes`.",
						Computed:            true,
					},
					"reachable": schema.BoolAttribute{
						MarkdownDescription: "Whether the Docker engine or the Kubernetes API answered.",
						Computed:            true,
					},
					"error": schema.StringAttribute{
						MarkdownDescription: "Why the backend is not reachable; null when it is.",
						Computed:            true,
					},
					"endpoint": schema.StringAttribute{
						MarkdownDescription: "The address the provider talks to (Docker host, Kubernetes API server).",
						Computed:            true,
					},
					"server_version": schema.StringAttribute{
						MarkdownDescription: "Version of the Docker engine or of Kubernetes (`v1.33.1`).",
						Computed:            true,
					},
					"api_version": schema.StringAttribute{
						MarkdownDescription: "API version in use (Docker Engine API version negotiated by the client; Kubernetes `major.minor`).",
						Computed:            true,
					},
					"allocatable_cpu_millicores": schema.Int64Attribute{
						MarkdownDescription: "CPU the host (Docker: its CPUs) or the cluster (Kubernetes: the allocatable of the nodes " +
							"sessions can be scheduled on, or the control namespace's ResourceQuota on requests when tighter) can give, in millicores.",
						Computed: true,
					},
					"allocatable_memory_bytes": schema.Int64Attribute{
						MarkdownDescription: "Memory the host or the nodes can give, in bytes.",
						Computed:            true,
					},
					"used_cpu_millicores": schema.Int64Attribute{
						MarkdownDescription: "CPU reserved by the sessions: the sum of their containers' limits, workspace and services (Docker), " +
							"or of their quotas (Kubernetes), in millicores. A persistent session stopped in place reserves nothing (on " +
							"Kubernetes: what the template's workloads still request in its namespace); it still counts in `sessions`.",
						Computed: true,
					},
					"used_memory_bytes": schema.Int64Attribute{
						MarkdownDescription: "Memory reserved by the sessions, in bytes.",
						Computed:            true,
					},
					"sessions": schema.Int64Attribute{
						MarkdownDescription: "Sessions the backend holds (every template, every Terraform configuration; free " +
							"warm pool entries are not sessions).",
						Computed: true,
					},
					"pool_free": schema.Int64Attribute{
						MarkdownDescription: "Free warm pool entries (Kubernetes; `0` elsewhere): started sessions of templates " +
							"with `warm_pool`, not yet claimed. What they reserve is part of `used_cpu_millicores` and " +
							"`used_memory_bytes`; a new session of their template claims one instead of reserving more.",
						Computed: true,
					},
					"pool_free_by_template": schema.MapAttribute{
						MarkdownDescription: "Free warm pool entries by template ID (the templates with `warm_pool` or entries left).",
						ElementType:         types.Int64Type,
						Computed:            true,
					},
					"overcommit_cpu": schema.Float64Attribute{
						MarkdownDescription: "The configured ratio of reserved CPU to `allocatable_cpu_millicores` (`docker.overcommit.cpu` or `kubernetes.overcommit.cpu`).",
						Computed:            true,
					},
					"overcommit_memory": schema.Float64Attribute{
						MarkdownDescription: "The configured ratio of reserved memory to `allocatable_memory_bytes`.",
						Computed:            true,
					},
					"admissible_cpu_millicores": schema.Int64Attribute{
						MarkdownDescription: "CPU the sessions may reserve together (allocatable × overcommit): a plan whose new " +
							"or grown sessions would take `used_cpu_millicores` beyond it fails before anything is created.",
						Computed: true,
					},
					"admissible_memory_bytes": schema.Int64Attribute{
						MarkdownDescription: "Memory the sessions may reserve together (allocatable × overcommit), in bytes.",
						Computed:            true,
					},
					"allocatable_gpus": schema.MapAttribute{
						MarkdownDescription: "GPUs the nodes advertise, by extended resource name (`nvidia.com/gpu`), nodes not " +
							"cordoned (Kubernetes; null on Docker, which does not tell). New GPU sessions are admitted up to this × " +
							"`kubernetes.overcommit.gpu` with `used_gpus`.",
						ElementType: types.Int64Type,
						Computed:    true,
					},
					"used_gpus": schema.MapAttribute{
						MarkdownDescription: "GPUs the sessions' quotas reserve, by extended resource name (Kubernetes; free warm " +
							"pool entries are not counted; null on Docker).",
						ElementType: types.Int64Type,
						Computed:    true,
					},
					"details": schema.MapAttribute{
						MarkdownDescription: "Backend-specific facts: storage and cgroup drivers, whether storage caps are enforced, " +
							"the subnet pool (Docker); the number of nodes and of nodes sessions can be scheduled on, the platform, and " +
							"`capacity_source`, where the allocatable figures come from: the nodes' allocatable, or the control " +
							"namespace's ResourceQuota when it is tighter (Kubernetes).",
						Computed:    true,
						ElementType: types.StringType,
					},
				}},
			},
			"all_reachable": schema.BoolAttribute{
				MarkdownDescription: "Whether every configured backend answered.",
				Computed:            true,
			},
			"sessions": schema.Int64Attribute{
				MarkdownDescription: "Sessions on every reachable backend together.",
				Computed:            true,
			},
			"max_sessions": schema.Int64Attribute{
				MarkdownDescription: "The provider's `max_sessions`: the most sessions `sessions` may reach; null when there is no limit.",
				Computed:            true,
			},
		},
	}
}

func (d *infrastructureDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	if d.data == nil {
		resp.Diagnostics.AddError("Provider not configured",
			"The nalabo provider was not configured before nalabo_infrastructure was read. This is a bug in the provider; please report it.")
		return
	}
	infras := d.data.configuredBackends()
	entries := map[string]attr.Value{}
	allReachable := true
	var total int64
	var names []string
	for _, infra := range infras {
		names = append(names, string(infra))
		info, errText := d.ping(ctx, infra)
		if info == nil {
			allReachable = false
			tflog.Warn(ctx, "backend unreachable", map[string]any{"backend": string(infra), "error": errText})
		} else {
			total += int64(info.Sessions)
		}
		entries[string(infra)] = infrastructureEntry(ctx, infra, info, errText, d.data.overcommit(infra), d.pools(ctx, infra, info), &resp.Diagnostics)
	}
	backends, diags := types.MapValue(types.ObjectType{AttrTypes: infrastructureBackendAttrTypes}, entries)
	resp.Diagnostics.Append(diags...)
	m := infrastructureModel{
		ID:           types.StringValue(strings.Join(names, ",")),
		Backends:     backends,
		AllReachable: types.BoolValue(allReachable),
		Sessions:     types.Int64Value(total),
		MaxSessions:  types.Int64Null(),
	}
	if n := d.data.maxSessions(); n > 0 {
		m.MaxSessions = types.Int64Value(n)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// ping returns a backend's fresh Info, or nil and why it could not be had.
func (d *infrastructureDataSource) ping(ctx context.Context, infra workshop.InfrastructureType) (*workshop.Info, string) {
	b, bd := d.data.Backend(ctx, infra)
	if bd.HasError() {
		return nil, diagText(bd)
	}
	info, err := b.Ping(ctx)
	if err != nil {
		return nil, err.Error()
	}
	return info, ""
}

// pools returns a reachable backend's free warm pool entries by template ID (nil when
// it keeps no pools or cannot say).
func (d *infrastructureDataSource) pools(ctx context.Context, infra workshop.InfrastructureType, info *workshop.Info) map[string]int64 {
	if info == nil {
		return nil
	}
	b, bd := d.data.Backend(ctx, infra)
	p, ok := b.(workshop.WarmPooler)
	if bd.HasError() || !ok {
		return nil
	}
	list, err := p.Pools(ctx)
	if err != nil {
		tflog.Warn(ctx, "warm pools not readable", map[string]any{"backend": string(infra), "error": err.Error()})
		return nil
	}
	out := map[string]int64{}
	for _, s := range list {
		out[s.TemplateID] = int64(s.Free)
	}
	return out
}

// diagText joins the summaries and details of error diagnostics.
func diagText(diags diag.Diagnostics) string {
	var parts []string
	for _, e := range diags.Errors() {
		parts = append(parts, e.Summary()+": "+e.Detail())
	}
	return strings.Join(parts, "; ")
}

func infrastructureEntry(ctx context.Context, infra workshop.InfrastructureType, info *workshop.Info, errText string,
	oc workshop.Overcommit, pools map[string]int64, diags *diag.Diagnostics) attr.Value {
	v := map[string]attr.Value{
		"type":                       types.StringValue(string(infra)),
		"reachable":                  types.BoolValue(info != nil),
		"error":                      types.StringNull(),
		"endpoint":                   types.StringNull(),
		"server_version":             types.StringNull(),
		"api_version":                types.StringNull(),
		"allocatable_cpu_millicores": types.Int64Null(),
		"allocatable_memory_bytes":   types.Int64Null(),
		"used_cpu_millicores":        types.Int64Null(),
		"used_memory_bytes":          types.Int64Null(),
		"sessions":                   types.Int64Null(),
		"pool_free":                  types.Int64Null(),
		"pool_free_by_template":      types.MapNull(types.Int64Type),
		"overcommit_cpu":             types.Float64Value(oc.CPU),
		"overcommit_memory":          types.Float64Value(oc.Memory),
		"admissible_cpu_millicores":  types.Int64Null(),
		"admissible_memory_bytes":    types.Int64Null(),
		"details":                    types.MapNull(types.StringType),
		"allocatable_gpus":           types.MapNull(types.Int64Type),
		"used_gpus":                  types.MapNull(types.Int64Type),
	}
	if info == nil {
		v["error"] = types.StringValue(errText)
	} else {
		v["endpoint"] = optString(info.Endpoint, types.StringNull())
		v["server_version"] = optString(info.ServerVersion, types.StringNull())
		v["api_version"] = optString(info.APIVersion, types.StringNull())
		v["allocatable_cpu_millicores"] = types.Int64Value(info.AllocatableMilliCPU)
		v["allocatable_memory_bytes"] = types.Int64Value(info.AllocatableMemory)
		v["used_cpu_millicores"] = types.Int64Value(info.UsedMilliCPU)
		v["used_memory_bytes"] = types.Int64Value(info.UsedMemory)
		v["sessions"] = types.Int64Value(int64(info.Sessions))
		v["pool_free"] = types.Int64Value(int64(info.PoolFree))
		if pools == nil {
			pools = map[string]int64{}
		}
		pm, d := types.MapValueFrom(ctx, types.Int64Type, pools)
		diags.Append(d...)
		v["pool_free_by_template"] = pm
		v["admissible_cpu_millicores"] = types.Int64Value(workshop.Admissible(info.AllocatableMilliCPU, oc.CPU))
		v["admissible_memory_bytes"] = types.Int64Value(workshop.Admissible(info.AllocatableMemory, oc.Memory))
		details := info.Details
		if details == nil {
			details = map[string]string{}
		}
		m, d := types.MapValueFrom(ctx, types.StringType, details)
		diags.Append(d...)
		v["details"] = m
		if info.AllocatableGPUs != nil {
			g, d := types.MapValueFrom(ctx, types.Int64Type, info.AllocatableGPUs)
			diags.Append(d...)
			u, d := types.MapValueFrom(ctx, types.Int64Type, info.UsedGPUs)
			diags.Append(d...)
			v["allocatable_gpus"], v["used_gpus"] = g, u
		}
	}
	obj, d := types.ObjectValue(infrastructureBackendAttrTypes, v)
	diags.Append(d...)
	return obj
}
