package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var (
	_ datasource.DataSource              = (*workshopSessionDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*workshopSessionDataSource)(nil)
)

// NewWorkshopSessionDataSource is the nalabo_workshop_session data source.
func NewWorkshopSessionDataSource() datasource.DataSource { return &workshopSessionDataSource{} }

type workshopSessionDataSource struct {
	data *providerData
}

type workshopSessionDataModel struct {
	ID                 types.String `tfsdk:"id"`
	InfrastructureType types.String `tfsdk:"infrastructure_type"`
	TemplateID         types.String `tfsdk:"template_id"`
	TemplateName       types.String `tfsdk:"template_name"`
	Participant        types.String `tfsdk:"participant"`
	Status             types.String `tfsdk:"status"`
	CreatedAt          types.String `tfsdk:"created_at"`
	ExpiresAt          types.String `tfsdk:"expires_at"`
	Resources          types.Object `tfsdk:"resources"`
	StorageEnforced    types.Bool   `tfsdk:"storage_enforced"`
	WorkspaceName      types.String `tfsdk:"workspace_name"`
	NetworkName        types.String `tfsdk:"network_name"`
	Namespace          types.String `tfsdk:"namespace"`
	Volumes            types.List   `tfsdk:"volumes"`
	Containers         types.List   `tfsdk:"containers"`
	Ports              types.List   `tfsdk:"ports"`
	Kubeconfig         types.String `tfsdk:"kubeconfig"`
	Usage              types.Object `tfsdk:"usage"`
	State              types.String `tfsdk:"state"`
	Persistence        types.Object `tfsdk:"persistence"`
}

var sessionResourcesAttrTypes = map[string]attr.Type{
	"cpu":     types.StringType,
	"memory":  types.StringType,
	"storage": types.StringType,
}

var sessionUsageAttrTypes = map[string]attr.Type{
	"sampled_at":         types.StringType,
	"cpu_seconds":        types.Float64Type,
	"cpu_millicores":     types.Float64Type,
	"memory_bytes":       types.Int64Type,
	"memory_limit_bytes": types.Int64Type,
	"network_rx_bytes":   types.Int64Type,
	"network_tx_bytes":   types.Int64Type,
	"containers":         types.Int64Type,
}

func (d *workshopSessionDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_workshop_session"
}

func (d *workshopSessionDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *workshopSessionDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Looks up a session by ID on every configured backend (including sessions created by " +
			"another Terraform configuration) and reads its live state and resource usage: CPU, memory and network " +
			"from Docker's statistics, CPU and memory from the Kubernetes metrics API when the cluster serves it " +
			"(metrics-server).",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "Session ID (`nalabo_workshop_session.<name>.id`): 10 lower-case hex characters.",
				Required:            true,
				Validators:          []validator.String{sessionID()},
			},
			"infrastructure_type": computed("`docker` or `kubernetes`: the backend that holds the session."),
			"template_id":         computed("`id` of the template the session was built from."),
			"template_name":       computed("Name of the template (the label `nalabo.io/template`)."),
			"participant":         computed("Who the session is for (the label `nalabo.io/participant`)."),
			"status": computed("Live status: `running`, `pending`, `unhealthy`, `stopped`, `failed`, `degraded` " +
				"(part of it was removed), `over_quota` (uses more disk than its `storage`, where the backend cannot cap it: " +
				"marked, and stopped with `--stop-over-quota`, by the reconciler) or `expired` (past `expires_at`; the reconciler deletes it after its grace period)."),
			"state": computed("`stopped` when the session is persistent and stopped in place (by `state = \"stopped\"`, or by " +
				"the reconciler at expiry: its workspace does not run, its home is kept, and it reserves no CPU or memory in " +
				"class admission), else `running`, as the resource's `state` would read it; `status` says more (a " +
				"session without persistence is always `running` here, even when `status` is `stopped`)."),
			"persistence": schema.SingleNestedAttribute{
				MarkdownDescription: "The session's persistent home (the resource's `persistence`, read from the labels " +
					"`nalabo.io/persistent-size` and `nalabo.io/retain-days`); null for a session whose data goes with it.",
				Computed: true,
				Attributes: map[string]schema.Attribute{
					"size": computed("Size of the home, a storage quantity such as `1Gi`."),
					"retain_days": schema.Int64Attribute{
						MarkdownDescription: "Days the expired session stays stopped with its data before the reconciler deletes it.",
						Computed:            true,
					},
					"pause_expiry": schema.BoolAttribute{
						MarkdownDescription: "Whether the session's lifetime pauses while it is stopped (the label " +
							"`nalabo.io/pause-expiry`; see the resource's `persistence.pause_expiry`).",
						Computed: true,
					},
				},
			},
			"created_at": computed("When the session was created (RFC 3339, UTC)."),
			"expires_at": computed("When the session expires (RFC 3339, UTC)."),
			"resources": schema.SingleNestedAttribute{
				MarkdownDescription: "Resources the backend enforces now.",
				Computed:            true,
				Attributes: map[string]schema.Attribute{
					"cpu":     computed("CPU limit, for example `500m`."),
					"memory":  computed("Memory limit, for example `512Mi`."),
					"storage": computed("Storage cap, for example `10Gi`."),
				},
			},
			"storage_enforced": schema.BoolAttribute{
				MarkdownDescription: "Whether the backend enforces the storage cap.",
				Computed:            true,
			},
			"workspace_name": computed("The workspace container (Docker) or pod (Kubernetes)."),
			"network_name":   computed("The session's Docker network; null on Kubernetes."),
			"namespace":      computed("The session's Kubernetes namespace; null on Docker."),
			"volumes": schema.ListAttribute{
				MarkdownDescription: "The session's Docker volumes.",
				Computed:            true,
				ElementType:         types.StringType,
			},
			"containers": schema.ListAttribute{
				MarkdownDescription: "Every container of the session, the workspace first.",
				Computed:            true,
				ElementType:         types.StringType,
			},
			"ports": schema.ListNestedAttribute{
				MarkdownDescription: "Published ports (Docker).",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"container":      computed("The container (`workspace` or a Compose service)."),
					"container_port": schema.Int64Attribute{MarkdownDescription: "Port inside the container.", Computed: true},
					"protocol":       computed("`tcp` or `udp`."),
					"host_ip":        computed("Address the port is published on."),
					"host_port":      schema.Int64Attribute{MarkdownDescription: "Port on the host.", Computed: true},
				}},
			},
			"kubeconfig": schema.StringAttribute{
				MarkdownDescription: "The participant's kubeconfig (Kubernetes). Sensitive.",
				Computed:            true,
				Sensitive:           true,
			},
			"usage": schema.SingleNestedAttribute{
				MarkdownDescription: "Live resource usage, summed over the session's containers (or pods). Null when the " +
					"backend has no figures (a Kubernetes cluster without metrics-server) or the session has no running container.",
				Computed: true,
				Attributes: map[string]schema.Attribute{
					"sampled_at": computed("When the figures were taken (RFC 3339, UTC)."),
					"cpu_seconds": schema.Float64Attribute{
						MarkdownDescription: "CPU time used since the containers started (Docker); null on Kubernetes.",
						Computed:            true,
					},
					"cpu_millicores": schema.Float64Attribute{
						MarkdownDescription: "Current CPU usage in millicores (Kubernetes metrics API); null on Docker, whose " +
							"one-shot statistics give `cpu_seconds` only.",
						Computed: true,
					},
					"memory_bytes": schema.Int64Attribute{
						MarkdownDescription: "Memory in use without reclaimable page cache (the working set), in bytes.",
						Computed:            true,
					},
					"memory_limit_bytes": schema.Int64Attribute{
						MarkdownDescription: "Memory limit the usage counts against (Docker), in bytes; null when unknown.",
						Computed:            true,
					},
					"network_rx_bytes": schema.Int64Attribute{
						MarkdownDescription: "Bytes received since the containers started (Docker); null on Kubernetes.",
						Computed:            true,
					},
					"network_tx_bytes": schema.Int64Attribute{
						MarkdownDescription: "Bytes sent since the containers started (Docker); null on Kubernetes.",
						Computed:            true,
					},
					"containers": schema.Int64Attribute{
						MarkdownDescription: "How many running containers (Docker) or pods (Kubernetes) the figures add up.",
						Computed:            true,
					},
				},
			},
		},
	}
}

func (d *workshopSessionDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg workshopSessionDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	id := cfg.ID.ValueString()
	b, s := findSessionForDataSource(ctx, d.data, "id", id, &resp.Diagnostics)
	if s == nil {
		return
	}
	m := sessionDataModel(ctx, s, &resp.Diagnostics)
	m.Usage = types.ObjectNull(sessionUsageAttrTypes)
	if sr, ok := b.(workshop.StatsReader); ok {
		st, err := sr.SessionStats(ctx, id)
		switch {
		case errors.Is(err, workshop.ErrStatsUnavailable), errors.Is(err, workshop.ErrNotFound):
			tflog.Debug(ctx, "no usage figures for the session", map[string]any{"session_id": id, "reason": err.Error()})
		case err != nil:
			resp.Diagnostics.AddWarning("Cannot read the session's usage",
				fmt.Sprintf("Reading the resource usage of session %s failed: %v\n\nusage is left null.", id, err))
		default:
			m.Usage = sessionUsage(st, &resp.Diagnostics)
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// findSessionForDataSource finds a session on the configured backends; it adds an error
// on the attribute attrName (that holds id) when no backend has it.
func findSessionForDataSource(ctx context.Context, data *providerData, attrName, id string, diags *diag.Diagnostics) (backendImpl, *workshop.Session) {
	if data == nil {
		diags.AddError("Provider not configured",
			"The nalabo provider was not configured before this data source was read. This is a bug in the provider; please report it.")
		return nil, nil
	}
	b, s, fd := data.FindSession(ctx, id)
	if s != nil {
		return b, s
	}
	diags.Append(fd...)
	if !diags.HasError() {
		diags.AddAttributeError(path.Root(attrName), "Session not found",
			fmt.Sprintf("No configured backend (%s) has a session %q. It may have been destroyed, or reaped by the reconciler after it expired.",
				joinInfras(data.configuredBackends()), id))
	}
	return nil, nil
}

func joinInfras(l []workshop.InfrastructureType) string {
	s := ""
	for i, t := range l {
		if i > 0 {
			s += ", "
		}
		s += string(t)
	}
	return s
}

// sessionDataModel is the data source's view of a live session.
func sessionDataModel(ctx context.Context, s *workshop.Session, diags *diag.Diagnostics) workshopSessionDataModel {
	opt := func(v string) types.String { return optString(v, types.StringNull()) }
	ts := func(t interface{ IsZero() bool }, f string) types.String {
		if t.IsZero() {
			return types.StringNull()
		}
		return types.StringValue(f)
	}
	list := func(v []string) types.List {
		if v == nil {
			v = []string{}
		}
		l, d := types.ListValueFrom(ctx, types.StringType, v)
		diags.Append(d...)
		return l
	}
	status := s.Status
	if status == "" {
		status = workshop.StatusRunning
	}
	res, d := types.ObjectValue(sessionResourcesAttrTypes, map[string]attr.Value{
		"cpu": opt(s.Resources.CPU), "memory": opt(s.Resources.Memory), "storage": opt(s.Resources.Storage),
	})
	diags.Append(d...)
	ports := make([]attr.Value, 0, len(s.Ports))
	for _, p := range s.Ports {
		o, d := types.ObjectValue(portAttrTypes, map[string]attr.Value{
			"container":      types.StringValue(p.Container),
			"container_port": types.Int64Value(int64(p.ContainerPort)),
			"protocol":       types.StringValue(p.Protocol),
			"host_ip":        types.StringValue(p.HostIP),
			"host_port":      types.Int64Value(int64(p.HostPort)),
		})
		diags.Append(d...)
		ports = append(ports, o)
	}
	pl, d := types.ListValue(types.ObjectType{AttrTypes: portAttrTypes}, ports)
	diags.Append(d...)
	state := workshop.StateRunning
	if s.Persistence != nil && s.Stopped {
		state = workshop.StateStopped
	}
	return workshopSessionDataModel{
		ID:                 types.StringValue(s.ID),
		InfrastructureType: opt(string(s.Infrastructure)),
		TemplateID:         opt(s.TemplateID),
		TemplateName:       opt(s.TemplateName),
		Participant:        opt(s.Participant),
		Status:             types.StringValue(status),
		CreatedAt:          ts(s.CreatedAt, formatTime(s.CreatedAt)),
		ExpiresAt:          ts(s.ExpiresAt, formatTime(s.ExpiresAt)),
		Resources:          res,
		StorageEnforced:    types.BoolValue(s.StorageEnforced),
		WorkspaceName:      opt(s.WorkspaceName),
		NetworkName:        opt(s.NetworkName),
		Namespace:          opt(s.Namespace),
		Volumes:            list(s.Volumes),
		Containers:         list(s.Containers),
		Ports:              pl,
		Kubeconfig:         opt(s.Kubeconfig),
		State:              types.StringValue(state),
		Persistence:        persistenceValue(s.Persistence, diags),
	}
}

func sessionUsage(st *workshop.SessionStats, diags *diag.Diagnostics) types.Object {
	v := map[string]attr.Value{
		"sampled_at":         types.StringValue(formatTime(st.At)),
		"cpu_seconds":        types.Float64Null(),
		"cpu_millicores":     types.Float64Null(),
		"memory_bytes":       types.Int64Value(st.MemoryBytes),
		"memory_limit_bytes": types.Int64Null(),
		"network_rx_bytes":   types.Int64Null(),
		"network_tx_bytes":   types.Int64Null(),
		"containers":         types.Int64Value(int64(st.Containers)),
	}
	if st.HasCPUSeconds {
		v["cpu_seconds"] = types.Float64Value(st.CPUSeconds)
	}
	if st.HasCPUMilli {
		v["cpu_millicores"] = types.Float64Value(st.CPUMilli)
	}
	if st.MemoryLimitBytes > 0 {
		v["memory_limit_bytes"] = types.Int64Value(st.MemoryLimitBytes)
	}
	if st.HasNetwork {
		v["network_rx_bytes"] = types.Int64Value(st.NetworkRxBytes)
		v["network_tx_bytes"] = types.Int64Value(st.NetworkTxBytes)
	}
	o, d := types.ObjectValue(sessionUsageAttrTypes, v)
	diags.Append(d...)
	return o
}
