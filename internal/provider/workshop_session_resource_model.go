package provider

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// workshopSessionModel is the state and plan of nalabo_workshop_session.
type workshopSessionModel struct {
	ID          types.String   `tfsdk:"id"`
	TemplateID  types.String   `tfsdk:"template_id"`
	Participant types.String   `tfsdk:"participant"`
	Resources   types.Map      `tfsdk:"resources"`
	Duration    types.String   `tfsdk:"duration"`
	Persistence types.Object   `tfsdk:"persistence"`
	State       types.String   `tfsdk:"state"`
	Timeouts    timeouts.Value `tfsdk:"timeouts"`

	EffectiveResources types.Object `tfsdk:"effective_resources"`
	InfrastructureType types.String `tfsdk:"infrastructure_type"`
	TemplateName       types.String `tfsdk:"template_name"`
	Status             types.String `tfsdk:"status"`
	CreatedAt          types.String `tfsdk:"created_at"`
	ExpiresAt          types.String `tfsdk:"expires_at"`
	WorkspaceName      types.String `tfsdk:"workspace_name"`
	NetworkName        types.String `tfsdk:"network_name"`
	Namespace          types.String `tfsdk:"namespace"`
	Volumes            types.List   `tfsdk:"volumes"`
	Containers         types.List   `tfsdk:"containers"`
	Ports              types.List   `tfsdk:"ports"`
	StorageEnforced    types.Bool   `tfsdk:"storage_enforced"`
	Kubeconfig         types.String `tfsdk:"kubeconfig"`
	VCluster           types.Object `tfsdk:"vcluster"`
	AccessURL          types.String `tfsdk:"access_url"`
}

// vclusterStateModel is the session's vcluster attribute (workshop.VClusterState).
type vclusterStateModel struct {
	Release      types.String `tfsdk:"release"`
	Chart        types.String `tfsdk:"chart"`
	ValuesSHA256 types.String `tfsdk:"values_sha256"`
	Persistence  types.String `tfsdk:"persistence"`
	BackingStore types.String `tfsdk:"backing_store"`
}

var vclusterStateAttrTypes = map[string]attr.Type{
	"release":       types.StringType,
	"chart":         types.StringType,
	"values_sha256": types.StringType,
	"persistence":   types.StringType,
	"backing_store": types.StringType,
}

// vclusterStateValue is the vcluster attribute of a session: null for Docker and
// namespace sessions. Chart and values hash are null when not recorded (sessions
// created before they were); persistence is "" when off.
func vclusterStateValue(st *workshop.VClusterState, diags *diag.Diagnostics) types.Object {
	if st == nil {
		return types.ObjectNull(vclusterStateAttrTypes)
	}
	o, d := types.ObjectValue(vclusterStateAttrTypes, map[string]attr.Value{
		"release":       types.StringValue(st.Release),
		"chart":         optString(st.Chart, types.StringNull()),
		"values_sha256": optString(st.ValuesSHA256, types.StringNull()),
		"persistence":   types.StringValue(st.Persistence),
		"backing_store": optString(st.BackingStore, types.StringNull()),
	})
	diags.Append(d...)
	return o
}

// vclusterStateFrom reads a known, non-null vcluster attribute; nil otherwise.
func vclusterStateFrom(ctx context.Context, o types.Object, diags *diag.Diagnostics) *workshop.VClusterState {
	if o.IsNull() || o.IsUnknown() {
		return nil
	}
	var m vclusterStateModel
	diags.Append(o.As(ctx, &m, asOpts)...)
	return &workshop.VClusterState{
		Release: m.Release.ValueString(), Chart: m.Chart.ValueString(), ValuesSHA256: m.ValuesSHA256.ValueString(),
		Persistence: m.Persistence.ValueString(), BackingStore: m.BackingStore.ValueString(),
	}
}

var portAttrTypes = map[string]attr.Type{
	"container":      types.StringType,
	"container_port": types.Int64Type,
	"protocol":       types.StringType,
	"host_ip":        types.StringType,
	"host_port":      types.Int64Type,
}

// liveFill says which computed attributes setLive may write: all of them after create,
// read and import; after an update only those the plan left unknown (Terraform
// requires the applied values to match the known planned ones).
type liveFill int

const (
	fillAll liveFill = iota
	fillUnknown
)

// setLive copies what the backend reports about a session into the computed
// attributes (not resources, duration or the timestamps: see the callers).
func (m *workshopSessionModel) setLive(ctx context.Context, s *workshop.Session, fill liveFill, diags *diag.Diagnostics) {
	setString := func(dst *types.String, v string) {
		if fill == fillUnknown && !dst.IsUnknown() {
			return
		}
		if v == "" {
			*dst = types.StringNull()
			return
		}
		*dst = types.StringValue(v)
	}
	setList := func(dst *types.List, v []string) {
		if fill == fillUnknown && !dst.IsUnknown() {
			return
		}
		if v == nil {
			v = []string{}
		}
		l, d := types.ListValueFrom(ctx, types.StringType, v)
		diags.Append(d...)
		*dst = l
	}
	status := s.Status
	if status == "" {
		status = workshop.StatusRunning
	}
	setString(&m.ID, s.ID)
	setString(&m.Status, status)
	setString(&m.InfrastructureType, string(s.Infrastructure))
	setString(&m.TemplateName, s.TemplateName)
	setString(&m.WorkspaceName, s.WorkspaceName)
	setString(&m.NetworkName, s.NetworkName)
	setString(&m.Namespace, s.Namespace)
	setString(&m.Kubeconfig, s.Kubeconfig)
	setList(&m.Volumes, s.Volumes)
	setList(&m.Containers, s.Containers)
	if fill == fillAll || m.Ports.IsUnknown() {
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
		l, d := types.ListValue(types.ObjectType{AttrTypes: portAttrTypes}, ports)
		diags.Append(d...)
		m.Ports = l
	}
	if fill == fillAll || m.StorageEnforced.IsUnknown() {
		m.StorageEnforced = types.BoolValue(s.StorageEnforced)
	}
	if fill == fillAll || m.VCluster.IsUnknown() {
		m.VCluster = vclusterStateValue(s.VCluster, diags)
	}
}

// mergeLiveResources writes the live resources into the state: a value equal in
// quantity to the state's keeps the user's spelling ("1" stays "1" when Docker says
// 1000m); a different one is drift and is written as the backend reports it; an empty
// live value (not reported) keeps the state's.
func mergeLiveResources(state resourcesModel, live workshop.Resources) resourcesModel {
	merge := func(s types.String, l string) types.String {
		if l == "" {
			return s
		}
		if knownString(s) && workshop.SameQuantity(s.ValueString(), l) {
			return s
		}
		return types.StringValue(l)
	}
	return resourcesModel{
		CPU:     merge(state.CPU, live.CPU),
		Memory:  merge(state.Memory, live.Memory),
		Storage: merge(state.Storage, live.Storage),
		// GPUs: a backend reports them, or not (""); they never change live.
		GPU:         merge(state.GPU, live.GPU),
		GPUResource: merge(state.GPUResource, live.GPUResource),
	}
}

// inheritedSettings are what a session gets for attributes its configuration leaves
// unset: the template's resources over the backend defaults, and the template's
// duration. Kept in private state so that a plan can tell "unset" from "drifted".
type inheritedSettings struct {
	Resources workshop.Resources `json:"resources"`
	Duration  string             `json:"duration"`
}

const privateInheritedKey = "inherited"

// privateAdmissionKey marks a plan whose growth the class admission counted: the
// create half of a replacement is not counted again (provider_admission.go).
const privateAdmissionKey = "admission"

// privateReapedKey marks a session that expired and is gone (kept in state as expired).
const privateReapedKey = "reaped"

func inheritedFrom(t *workshop.Template) inheritedSettings {
	in := inheritedSettings{
		Resources: t.Resources.Over(workshop.DefaultResources(t.Infrastructure)),
		Duration:  t.Duration,
	}
	if in.Duration == "" {
		in.Duration = workshop.DefaultDuration
	}
	return in
}

func getInherited(ctx context.Context, p privateGetter, diags *diag.Diagnostics) *inheritedSettings {
	if p == nil {
		return nil
	}
	raw, d := p.GetKey(ctx, privateInheritedKey)
	diags.Append(d...)
	if len(raw) == 0 {
		return nil
	}
	var in inheritedSettings
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil
	}
	return &in
}

func setInherited(ctx context.Context, p privateSetter, in inheritedSettings) diag.Diagnostics {
	raw, _ := json.Marshal(in)
	return p.SetKey(ctx, privateInheritedKey, raw)
}

// parseTime reads an RFC 3339 timestamp attribute.
func parseTime(v types.String) (time.Time, bool) {
	if !knownString(v) {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, v.ValueString())
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}
