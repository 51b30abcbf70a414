package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/vcluster"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

func TestCompareVCluster(t *testing.T) {
	rec := workshop.VClusterState{Release: "vcluster-a", Chart: "repo/vcluster@0.30.0", ValuesSHA256: strings.Repeat("a", 64), BackingStore: "sqlite"}

	if c := compareVCluster(rec, rec); len(c.Replace) != 0 || c.InPlace || c.Reason != "" {
		t.Errorf("equal: %+v", c)
	}

	values := rec
	values.ValuesSHA256 = strings.Repeat("b", 64)
	c := compareVCluster(rec, values)
	if !c.InPlace || len(c.Replace) != 0 || !strings.Contains(c.Reason, "restarts its control plane") ||
		!strings.Contains(c.Reason, "without persistence the participant's own objects in the virtual cluster are lost") {
		t.Errorf("values: %+v", c)
	}

	chart := rec
	chart.Chart = "repo/vcluster@0.31.0"
	chart.Persistence = "1Gi"
	rec1 := rec
	rec1.Persistence = "1Gi"
	if c := compareVCluster(rec1, chart); !c.InPlace || !strings.Contains(c.Reason, `chart changes from "repo/vcluster@0.30.0" to "repo/vcluster@0.31.0"`) ||
		!strings.Contains(c.Reason, "kept on its volume") {
		t.Errorf("chart: %+v", c)
	}

	persist := values
	persist.Persistence = "1Gi"
	c = compareVCluster(rec, persist)
	want := `nalabo_workshop_session: vcluster persistence changes from "" to "1Gi": the virtual cluster's data store cannot be moved in place, so the session will be replaced`
	if c.InPlace || len(c.Replace) != 1 || c.Replace[0] != "persistence" || !strings.HasPrefix(c.Reason, want) {
		t.Errorf("persistence: %+v", c)
	}

	both := rec
	both.Persistence, both.BackingStore = "1Gi", "etcd-embedded"
	if c := compareVCluster(rec, both); len(c.Replace) != 2 || !strings.Contains(c.Reason, `backing_store changes from "sqlite" to "etcd-embedded"`) {
		t.Errorf("both: %+v", c)
	}

	// Not recorded (a session older than the fingerprint): not compared.
	old := rec
	old.Chart, old.ValuesSHA256 = "", ""
	if c := compareVCluster(old, values); c.InPlace || len(c.Replace) != 0 {
		t.Errorf("unrecorded: %+v", c)
	}
}

// vclusterFixture is a kubernetes vcluster template on a fake backend, the provider
// data serving it as the kubernetes backend, and a session state recorded with cfg.
type vclusterFixture struct {
	f     *fakeBackend
	tmpl  *workshop.Template
	data  *providerData
	state workshopSessionModel
}

func newVClusterFixture(t *testing.T, cfg vcluster.Config) vclusterFixture {
	t.Helper()
	ctx := context.Background()
	f := newFakeBackend()
	tmpl, err := f.ApplyTemplate(ctx, &workshop.Template{Name: "vc", Infrastructure: workshop.InfraKubernetes,
		Isolation: workshop.IsolationVCluster, Workspace: workshop.Workspace{Image: "shell:1"}})
	if err != nil {
		t.Fatal(err)
	}
	data := &providerData{
		docker:               newLazyBackend("docker", func() (backendImpl, error) { return f, nil }, "fake://docker"),
		kubernetes:           newLazyBackend("kubernetes", func() (backendImpl, error) { return f, nil }, "fake://kubernetes"),
		kubernetesConfigured: true, vcluster: cfg,
	}
	id := "0123456789"
	rec, err := vcluster.Fingerprint(cfg, tmpl, id)
	if err != nil {
		t.Fatal(err)
	}
	ns := workshop.SessionObjectName(id)
	st := workshopSessionModel{
		ID: types.StringValue(id), TemplateID: types.StringValue(tmpl.ID), Participant: types.StringValue("ada"),
		Resources:          types.MapNull(types.StringType),
		EffectiveResources: resourcesModel{CPU: types.StringValue("2000m"), Memory: types.StringValue("4Gi"), Storage: types.StringValue("20Gi")}.object(nd()),
		Duration:           types.StringValue("4h"), Timeouts: nullTimeouts(),
		InfrastructureType: types.StringValue("kubernetes"), TemplateName: types.StringValue("vc"), Status: types.StringValue("running"),
		CreatedAt: types.StringValue("2030-01-02T03:04:05Z"), ExpiresAt: types.StringValue("2030-01-02T07:04:05Z"),
		WorkspaceName: types.StringValue("workspace"), NetworkName: types.StringNull(), Namespace: types.StringValue(ns),
		Volumes: types.ListValueMust(types.StringType, []attr.Value{}), Containers: types.ListValueMust(types.StringType, []attr.Value{types.StringValue("workspace")}),
		Ports:           types.ListValueMust(types.ObjectType{AttrTypes: portAttrTypes}, []attr.Value{}),
		StorageEnforced: types.BoolValue(true), Kubeconfig: types.StringValue("apiVersion: v1"),
		VCluster:    vclusterStateValue(&rec, nd()),
		Persistence: types.ObjectNull(persistenceAttrTypes), State: types.StringValue(workshop.StateRunning),
	}
	return vclusterFixture{f: f, tmpl: tmpl, data: data, state: st}
}

// planExisting runs the session's ModifyPlan for an unchanged configuration over state.
func planExisting(t *testing.T, data *providerData, state workshopSessionModel) (workshopSessionModel, resource.ModifyPlanResponse) {
	t.Helper()
	ctx := context.Background()
	r := &workshopSessionResource{data: data}
	s := schemaOf(t, r)
	config := state
	config.ID, config.InfrastructureType, config.TemplateName, config.Status = types.StringNull(), types.StringNull(), types.StringNull(), types.StringNull()
	config.CreatedAt, config.ExpiresAt, config.WorkspaceName, config.NetworkName = types.StringNull(), types.StringNull(), types.StringNull(), types.StringNull()
	config.Namespace, config.Kubeconfig, config.Duration = types.StringNull(), types.StringNull(), types.StringNull()
	config.Volumes, config.Containers = types.ListNull(types.StringType), types.ListNull(types.StringType)
	config.Ports = types.ListNull(types.ObjectType{AttrTypes: portAttrTypes})
	config.StorageEnforced, config.EffectiveResources = types.BoolNull(), types.ObjectNull(resourcesAttrTypes)
	config.VCluster = types.ObjectNull(vclusterStateAttrTypes)
	req := resource.ModifyPlanRequest{
		Config: tfsdk.Config{Schema: s.Schema, Raw: rawOf(t, s, &config)},
		Plan:   tfsdk.Plan{Schema: s.Schema, Raw: rawOf(t, s, &state)},
		State:  tfsdk.State{Schema: s.Schema, Raw: rawOf(t, s, &state)},
	}
	resp := resource.ModifyPlanResponse{Plan: req.Plan}
	r.ModifyPlan(ctx, req, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatalf("plan: %v", resp.Diagnostics)
	}
	var out workshopSessionModel
	if d := resp.Plan.Get(ctx, &out); d.HasError() {
		t.Fatal(d)
	}
	return out, resp
}

func warnings(resp resource.ModifyPlanResponse) string {
	var out []string
	for _, d := range resp.Diagnostics.Warnings() {
		out = append(out, d.Summary()+": "+d.Detail())
	}
	return strings.Join(out, "\n")
}

func TestSessionPlanVCluster(t *testing.T) {
	ctx := context.Background()
	cfg := vcluster.Config{SyncerImage: "reg/syncer:1"}
	fx := newVClusterFixture(t, cfg)

	// Unchanged configuration: nothing planned, no warning.
	plan, resp := planExisting(t, fx.data, fx.state)
	if !plan.VCluster.Equal(fx.state.VCluster) || len(resp.RequiresReplace) != 0 || len(resp.Diagnostics) != 0 {
		t.Errorf("unchanged: vcluster %v replace %v diags %v", plan.VCluster, resp.RequiresReplace, resp.Diagnostics)
	}

	// New provider values: an upgrade in place, with a warning; the kubeconfig may change.
	fx.data.vcluster.Values = "controlPlane: {statefulSet: {annotations: {x: y}}}"
	want, _ := vcluster.Fingerprint(fx.data.vcluster, fx.tmpl, "0123456789")
	plan, resp = planExisting(t, fx.data, fx.state)
	got := vclusterStateFrom(ctx, plan.VCluster, nd())
	if got == nil || *got != want || len(resp.RequiresReplace) != 0 {
		t.Errorf("values: planned %+v want %+v replace %v", got, want, resp.RequiresReplace)
	}
	if w := warnings(resp); !strings.Contains(w, "vCluster control plane restarts") || !strings.Contains(w, "objects in the virtual cluster are lost") {
		t.Errorf("values: warnings %q", w)
	}
	if !plan.Kubeconfig.IsUnknown() {
		t.Error("values: the kubeconfig should be unknown (a new control plane)")
	}
	if len(resp.Diagnostics.Warnings()) != 1 || acctest.As[diag.DiagnosticWithPath](t, resp.Diagnostics.Warnings()[0]).Path().String() != "vcluster" {
		t.Errorf("values: the warning is not on the vcluster attribute: %v", resp.Diagnostics)
	}

	// Persistence on: replaced, with the reason.
	fx.data.vcluster = cfg
	fx.data.vcluster.Persistence = true
	_, resp = planExisting(t, fx.data, fx.state)
	if resp.RequiresReplace.String() != "[vcluster.persistence]" {
		t.Errorf("persistence: replace %v", resp.RequiresReplace)
	}
	if w := warnings(resp); !strings.Contains(w, `vcluster persistence changes from "" to "1Gi": the virtual cluster's data store cannot be moved in place, so the session will be replaced`) {
		t.Errorf("persistence: warnings %q", w)
	}

	// Backing store from the provider's values: replaced.
	fx.data.vcluster = cfg
	fx.data.vcluster.Values = "controlPlane: {backingStore: {etcd: {embedded: {enabled: true}}}}"
	_, resp = planExisting(t, fx.data, fx.state)
	if resp.RequiresReplace.String() != "[vcluster.backing_store]" {
		t.Errorf("backing store: replace %v (%s)", resp.RequiresReplace, warnings(resp))
	}

	// Kubernetes configuration unknown at plan time: the state's value, no diagnostic.
	unknown := &providerData{docker: fx.data.docker, kubernetesConfigured: true, kubernetesUnknown: true, vcluster: fx.data.vcluster}
	plan, resp = planExisting(t, unknown, fx.state)
	if !plan.VCluster.Equal(fx.state.VCluster) || len(resp.RequiresReplace) != 0 || len(resp.Diagnostics) != 0 {
		t.Errorf("unknown config: vcluster %v replace %v diags %v", plan.VCluster, resp.RequiresReplace, resp.Diagnostics)
	}

	// Template gone: kept, no diagnostic.
	fx.f.templates = map[string]*workshop.Template{}
	plan, resp = planExisting(t, fx.data, fx.state)
	if !plan.VCluster.Equal(fx.state.VCluster) || len(resp.RequiresReplace) != 0 || len(resp.Diagnostics) != 0 {
		t.Errorf("template gone: vcluster %v replace %v diags %v", plan.VCluster, resp.RequiresReplace, resp.Diagnostics)
	}

	// A namespace (or Docker) session: vcluster stays null.
	fx = newVClusterFixture(t, cfg)
	fx.data.vcluster.Persistence = true
	nsSession := fx.state
	nsSession.VCluster = types.ObjectNull(vclusterStateAttrTypes)
	plan, resp = planExisting(t, fx.data, nsSession)
	if !plan.VCluster.IsNull() || len(resp.RequiresReplace) != 0 || len(resp.Diagnostics) != 0 {
		t.Errorf("namespace session: vcluster %v replace %v diags %v", plan.VCluster, resp.RequiresReplace, resp.Diagnostics)
	}
}

func TestSessionVClusterLive(t *testing.T) {
	var m workshopSessionModel
	m.VCluster = types.ObjectUnknown(vclusterStateAttrTypes)
	st := &workshop.VClusterState{Release: "vcluster-a", Chart: "c", ValuesSHA256: "h", Persistence: "", BackingStore: "sqlite"}
	m.setLive(context.Background(), &workshop.Session{VCluster: st}, fillAll, nd())
	got := vclusterStateFrom(context.Background(), m.VCluster, nd())
	if got == nil || *got != *st {
		t.Errorf("vcluster %v", m.VCluster)
	}
	if p := m.VCluster.Attributes()["persistence"]; p.IsNull() || acctest.As[types.String](t, p).ValueString() != "" {
		t.Errorf("persistence off is %v, want \"\"", p)
	}
	m.setLive(context.Background(), &workshop.Session{}, fillAll, nd())
	if !m.VCluster.IsNull() {
		t.Errorf("a session without vCluster: %v", m.VCluster)
	}
}
