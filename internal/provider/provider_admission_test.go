package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// validateProviderConfig runs the provider's validation (schema validators included)
// over a configuration with the given top-level attributes and docker and kubernetes
// overcommit objects (nil: null), and returns the error diagnostics.
func validateProviderConfig(t *testing.T, top map[string]tftypes.Value, dockerOC, k8sOC map[string]tftypes.Value) []*tfprotov6.Diagnostic {
	t.Helper()
	ctx := context.Background()
	p := newTestProvider()
	var sr provider.SchemaResponse
	p.Schema(ctx, provider.SchemaRequest{}, &sr)
	typ := acctest.As[tftypes.Object](t, sr.Schema.Type().TerraformType(ctx))
	null := func(ot tftypes.Object, set map[string]tftypes.Value) tftypes.Value {
		vals := map[string]tftypes.Value{}
		for name, at := range ot.AttributeTypes {
			if v, ok := set[name]; ok {
				vals[name] = v
			} else {
				vals[name] = tftypes.NewValue(at, nil)
			}
		}
		return tftypes.NewValue(ot, vals)
	}
	block := func(name string, oc map[string]tftypes.Value) {
		if oc == nil {
			return
		}
		bt := acctest.As[tftypes.Object](t, typ.AttributeTypes[name])
		ot := acctest.As[tftypes.Object](t, bt.AttributeTypes["overcommit"])
		if top == nil {
			top = map[string]tftypes.Value{}
		}
		set := map[string]tftypes.Value{"overcommit": null(ot, oc)}
		if name == "kubernetes" {
			kc := filepath.Join(t.TempDir(), "kubeconfig") // checked to exist, never dialled: validation only
			if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			set["config_path"] = tftypes.NewValue(tftypes.String, kc)
		}
		top[name] = null(bt, set)
	}
	block("docker", dockerOC)
	block("kubernetes", k8sOC)
	cfg, err := tfprotov6.NewDynamicValue(typ, null(typ, top))
	if err != nil {
		t.Fatal(err)
	}
	srv := providerserver.NewProtocol6(p)()
	resp, err := srv.ValidateProviderConfig(ctx, &tfprotov6.ValidateProviderConfigRequest{Config: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	var errs []*tfprotov6.Diagnostic
	for _, d := range resp.Diagnostics {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			errs = append(errs, d)
		}
	}
	return errs
}

func TestAdmissionSettingsValidation(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("K8S_ENDPOINT", "")
	num := func(f float64) tftypes.Value { return tftypes.NewValue(tftypes.Number, f) }
	cases := []struct {
		name             string
		top              map[string]tftypes.Value
		docker, k8s      map[string]tftypes.Value
		wantPath, wantIn string // "" wants no error
	}{
		{name: "valid", top: map[string]tftypes.Value{"max_sessions": num(30)},
			docker: map[string]tftypes.Value{"cpu": num(4), "memory": num(1)}, k8s: map[string]tftypes.Value{"cpu": num(1.5)}},
		{name: "max_sessions 0", top: map[string]tftypes.Value{"max_sessions": num(0)},
			wantPath: "max_sessions", wantIn: "value must be at least 1, got: 0"},
		{name: "docker cpu below 1", docker: map[string]tftypes.Value{"cpu": num(0.5)},
			wantPath: "docker.overcommit.cpu", wantIn: "must be at least 1.000000, got: 0.500000"},
		{name: "kubernetes memory below 1", k8s: map[string]tftypes.Value{"memory": num(0.9)},
			wantPath: "kubernetes.overcommit.memory", wantIn: "must be at least 1.000000, got: 0.900000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := validateProviderConfig(t, c.top, c.docker, c.k8s)
			if c.wantPath == "" {
				if len(errs) > 0 {
					t.Fatalf("valid settings refused: %s: %s", errs[0].Summary, errs[0].Detail)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("want one error, got %d: %+v", len(errs), errs)
			}
			e := errs[0]
			if got := attrPathString(e.Attribute); got != c.wantPath || !strings.Contains(e.Detail, c.wantPath) || !strings.Contains(e.Detail, c.wantIn) {
				t.Errorf("error at %s: %s: %s; want it at %s saying %q", got, e.Summary, e.Detail, c.wantPath, c.wantIn)
			}
		})
	}
}

// attrPathString renders a protocol attribute path as "docker.overcommit.cpu".
func attrPathString(p *tftypes.AttributePath) string {
	if p == nil {
		return ""
	}
	var parts []string
	for _, s := range p.Steps() {
		if n, ok := s.(tftypes.AttributeName); ok {
			parts = append(parts, string(n))
		}
	}
	return strings.Join(parts, ".")
}

func TestAdmissionSettingsFromEnvironment(t *testing.T) {
	ctx := context.Background()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	ocObj := func(cpu float64) types.Object {
		o, _ := types.ObjectValue(overcommitAttrTypes, map[string]attr.Value{"cpu": types.Float64Value(cpu), "memory": types.Float64Null()})
		return o
	}

	var diags diag.Diagnostics
	a := admissionFrom(ctx, providerModel{MaxSessions: types.Int64Null()}, env(map[string]string{
		"NALABO_DOCKER_OVERCOMMIT_CPU": "8", "NALABO_KUBERNETES_OVERCOMMIT_MEMORY": "1.5", "NALABO_MAX_SESSIONS": "40",
		"NALABO_KUBERNETES_OVERCOMMIT_GPU": "2", "NALABO_DOCKER_OVERCOMMIT_GPU": "3", // Docker has no GPU ratio
	}), &diags)
	if diags.HasError() {
		t.Fatal(diags)
	}
	if got := a.tally.OvercommitOf(workshop.InfraDocker); got != (workshop.Overcommit{CPU: 8, Memory: 1, GPU: 1}) {
		t.Errorf("docker overcommit from the environment = %+v", got)
	}
	if got := a.tally.OvercommitOf(workshop.InfraKubernetes); got != (workshop.Overcommit{CPU: 4, Memory: 1.5, GPU: 2}) {
		t.Errorf("kubernetes overcommit from the environment = %+v", got)
	}
	if a.tally.MaxSessions != 40 {
		t.Errorf("max_sessions from the environment = %d", a.tally.MaxSessions)
	}

	// The configuration wins over the environment.
	a = admissionFrom(ctx, providerModel{MaxSessions: types.Int64Value(3), Docker: &dockerModel{Overcommit: ocObj(2)}},
		env(map[string]string{"NALABO_DOCKER_OVERCOMMIT_CPU": "8", "NALABO_MAX_SESSIONS": "40"}), &diags)
	if got := a.tally.OvercommitOf(workshop.InfraDocker).CPU; got != 2 || a.tally.MaxSessions != 3 {
		t.Errorf("configured cpu 2 and max_sessions 3 over the environment: got %v and %d", got, a.tally.MaxSessions)
	}

	// Bad values name the variable and the attribute it stands for.
	for name, val := range map[string]string{"NALABO_DOCKER_OVERCOMMIT_MEMORY": "0.5", "NALABO_KUBERNETES_OVERCOMMIT_CPU": "four", "NALABO_MAX_SESSIONS": "0"} {
		var d diag.Diagnostics
		admissionFrom(ctx, providerModel{MaxSessions: types.Int64Null()}, env(map[string]string{name: val}), &d)
		if !d.HasError() || !strings.Contains(d.Errors()[0].Detail(), name) || !strings.Contains(d.Errors()[0].Detail(), fmt.Sprintf("%q", val)) {
			t.Errorf("%s=%s: diagnostics %v", name, val, d)
		}
	}
}

// A replaced or updated session adds only its growth: the same size counts nothing
// (it is in the live figures already), a larger one the difference.
func TestSessionChangeCountsReplacementOnce(t *testing.T) {
	ctx := context.Background()
	var diags diag.Diagnostics
	res := func(cpu, mem string) types.Object {
		return resourcesModel{CPU: types.StringValue(cpu), Memory: types.StringValue(mem), Storage: types.StringValue("1Gi")}.object(&diags)
	}
	d := &providerData{admission: newAdmissionState(nil, 0)}
	state := workshopSessionModel{InfrastructureType: types.StringValue("docker"), EffectiveResources: res("500m", "1Gi")}
	plan := workshopSessionModel{Participant: types.StringValue("alice"), TemplateID: types.StringUnknown(), EffectiveResources: res("0.5", "1Gi")}
	c, ok := d.sessionChange(ctx, plan, &state)
	if !ok || c.Create || c.MilliCPU != 0 || c.Memory != 0 || !c.CPUKnown || !c.MemoryKnown {
		t.Errorf("same size: %+v, %v; want no growth", c, ok)
	}
	plan.EffectiveResources = res("750m", "512Mi")
	c, _ = d.sessionChange(ctx, plan, &state)
	if c.MilliCPU != 250 || c.Memory != -512<<20 {
		t.Errorf("resized: %+v; want +250m and -512Mi", c)
	}

	// A new session whose template is planned in the same walk (unknown ID) takes the
	// template's size; with no template planned it is not checked.
	plan.EffectiveResources = resourcesModel{CPU: types.StringUnknown(), Memory: types.StringUnknown(), Storage: types.StringUnknown()}.object(&diags)
	if _, ok := d.sessionChange(ctx, plan, nil); ok {
		t.Error("a new session of an unknown template was sized without a planned template")
	}
	d.recordPlannedTemplate(workshop.InfraDocker, "web", workshop.Resources{CPU: "300m", Memory: "256Mi"})
	c, ok = d.sessionChange(ctx, plan, nil)
	if !ok || !c.Create || c.Infra != workshop.InfraDocker || c.MilliCPU != 300 || c.Memory != 256<<20 {
		t.Errorf("new session of a planned template: %+v, %v", c, ok)
	}
	if diags.HasError() {
		t.Fatal(diags)
	}
}

// reachingBackend is a fake backend whose Ping (the usage snapshot) is costly, as the
// Docker backend's: it counts the full pings and the cheap reaches.
type reachingBackend struct {
	*fakeBackend
	pings, reaches atomic.Int32
}

func (r *reachingBackend) Reach(context.Context) error { r.reaches.Add(1); return nil }
func (r *reachingBackend) Ping(ctx context.Context) (*workshop.Info, error) {
	r.pings.Add(1)
	return &workshop.Info{Type: workshop.InfraDocker, AllocatableMilliCPU: 2000, AllocatableMemory: 4 << 30, UsedMilliCPU: 1500, Sessions: 3}, nil
}

// TestAdmissionSnapshotOnlyWhenNeeded: a no-change plan of a class never reads the
// live reservations (on Docker: an inspect per session container); the first session
// that grows or is created reads them once, for the whole process; so does a delete,
// before it deletes.
func TestAdmissionSnapshotOnlyWhenNeeded(t *testing.T) {
	ctx := context.Background()
	var diags diag.Diagnostics
	res := func(cpu, mem string) types.Object {
		return resourcesModel{CPU: types.StringValue(cpu), Memory: types.StringValue(mem), Storage: types.StringValue("1Gi")}.object(&diags)
	}
	newData := func() (*providerData, *reachingBackend) {
		rb := &reachingBackend{fakeBackend: newFakeBackend()}
		d := &providerData{admission: newAdmissionState(nil, 0)}
		d.docker = newLazyBackend("docker", func() (backendImpl, error) { return rb, nil }, "unix:///fake")
		return d, rb
	}
	state := workshopSessionModel{InfrastructureType: types.StringValue("docker"), EffectiveResources: res("500m", "1Gi")}
	same := workshopSessionModel{Participant: types.StringValue("alice"), InfrastructureType: types.StringValue("docker"),
		EffectiveResources: res("500m", "1Gi")}

	d, rb := newData()
	for range 50 {
		d.admitSession(ctx, same, &state, &diags)
	}
	if rb.pings.Load() != 0 {
		t.Errorf("a no-change plan of 50 sessions pinged in full %d times; want 0", rb.pings.Load())
	}
	// Positive control: growth reads the snapshot, once, and the admission uses it
	// (1.5 of 2 CPUs reserved, overcommit 4: +0.25 CPU fits).
	grown := same
	grown.EffectiveResources = res("750m", "1Gi")
	d.admitSession(ctx, grown, &state, &diags)
	d.admitSession(ctx, grown, &state, &diags)
	if rb.pings.Load() != 1 || diags.HasError() {
		t.Errorf("two growing sessions: %d full pings (want 1), %v", rb.pings.Load(), diags)
	}

	d, rb = newData()
	d.usageBeforeChange(ctx, workshop.InfraDocker)
	d.usageBeforeChange(ctx, workshop.InfraDocker)
	if rb.pings.Load() != 1 || rb.reaches.Load() != 1 {
		t.Errorf("deletes: %d full pings, %d reaches; want 1 and 1", rb.pings.Load(), rb.reaches.Load())
	}
}

// A stopped persistent session reserves nothing: staying stopped (resized or not) or
// being stopped adds nothing; a resume adds its whole reservation and is refused on
// state; deleting a stopped session frees no reservation.
func TestSessionChangeStoppedAndResumed(t *testing.T) {
	ctx := context.Background()
	var diags diag.Diagnostics
	res := func(cpu, mem string) types.Object {
		return resourcesModel{CPU: types.StringValue(cpu), Memory: types.StringValue(mem), Storage: types.StringValue("1Gi")}.object(&diags)
	}
	home := persistenceValue(&workshop.Persistence{Size: "1Gi", RetainDays: 7}, &diags)
	session := func(state, cpu string) workshopSessionModel {
		return workshopSessionModel{Participant: types.StringValue("alice"), InfrastructureType: types.StringValue("docker"),
			TemplateID: types.StringUnknown(), EffectiveResources: res(cpu, "1Gi"), Persistence: home, State: types.StringValue(state)}
	}
	d := &providerData{admission: newAdmissionState(nil, 0)}
	for _, tc := range []struct {
		name         string
		prior, plan  workshopSessionModel
		resume       bool
		cpu, memory  int64
		wantNoChange bool
	}{
		{name: "stays stopped, resized", prior: session("stopped", "500m"), plan: session("stopped", "2")},
		{name: "being stopped, resized", prior: session("running", "500m"), plan: session("stopped", "2")},
		{name: "resumed", prior: session("stopped", "500m"), plan: session("running", "750m"), resume: true, cpu: 750, memory: 1 << 30},
		// Positive control: a running session resized counts its growth only.
		{name: "running, resized", prior: session("running", "500m"), plan: session("running", "750m"), cpu: 250},
	} {
		c, ok := d.sessionChange(ctx, tc.plan, &tc.prior)
		if !ok || c.Create || c.Resume != tc.resume || c.MilliCPU != tc.cpu || c.Memory != tc.memory {
			t.Errorf("%s: %+v, %v; want resume %v, %dm, %d bytes", tc.name, c, ok, tc.resume, tc.cpu, tc.memory)
		}
	}

	// The resume is refused on state when the host is full (1.5 of 2 CPUs reserved,
	// overcommit 1); the same size as a running resize of +0.25 CPU fits.
	rb := &reachingBackend{fakeBackend: newFakeBackend()}
	newData := func() *providerData {
		d := &providerData{admission: newAdmissionState(map[workshop.InfrastructureType]workshop.Overcommit{workshop.InfraDocker: {CPU: 1, Memory: 1}}, 0)}
		d.docker = newLazyBackend("docker", func() (backendImpl, error) { return rb, nil }, "unix:///fake")
		return d
	}
	var got diag.Diagnostics
	prior := session("stopped", "750m")
	newData().admitSession(ctx, session("running", "750m"), &prior, &got)
	if !got.HasError() {
		t.Fatal("a resume of 0.75 CPU on a host with 0.5 CPU left was admitted")
	}
	e := got.Errors()[0]
	ad, ok := e.(diag.DiagnosticWithPath)
	if !ok || !ad.Path().Equal(path.Root("state")) || !strings.Contains(e.Detail(), `Resuming the stopped session of "alice" refused`) ||
		!strings.Contains(e.Detail(), "0.75 CPU for 1 resumed sessions") || !strings.Contains(e.Detail(), "The session stays stopped") {
		t.Errorf("refusal: %v", got)
	}
	var ctl diag.Diagnostics
	prior = session("running", "500m")
	newData().admitSession(ctx, session("running", "750m"), &prior, &ctl)
	if ctl.HasError() {
		t.Errorf("a running resize of +0.25 CPU was refused: %v", ctl)
	}

	// Deleting a stopped session frees the session, not a reservation.
	d = newData()
	d.sessionDeleted(ctx, session("stopped", "750m"))
	d.sessionDeleted(ctx, session("running", "250m"))
	if err := d.admission.tally.Admit(workshop.Change{Infra: workshop.InfraDocker, Create: true, MilliCPU: 1000, CPUKnown: true},
		&workshop.Info{Type: workshop.InfraDocker, AllocatableMilliCPU: 2000, UsedMilliCPU: 1500, Sessions: 3}, 3); err == nil ||
		!strings.Contains(err.Error(), "+ 1.25 reserved by 1 live sessions") {
		t.Errorf("after deleting a stopped and a running session: %v; want only the running one's 0.25 CPU freed", err)
	}
	if diags.HasError() {
		t.Fatal(diags)
	}
}
