package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	fwpath "github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Unit tests of the plan and CRUD logic against the in-memory fake backend. The
// acceptance tests (TestAcc*) cover the same resources through Terraform and Docker.

func TestResourceSchemas(t *testing.T) {
	ctx := context.Background()
	p := newTestProvider()
	for _, f := range p.Resources(ctx) {
		r := f()
		var meta resource.MetadataResponse
		r.Metadata(ctx, resource.MetadataRequest{ProviderTypeName: "nalabo"}, &meta)
		s := schemaOf(t, r).Schema
		if d := s.ValidateImplementation(ctx); d.HasError() {
			t.Errorf("%s: %v", meta.TypeName, d)
		}
		if s.MarkdownDescription == "" {
			t.Errorf("%s has no MarkdownDescription", meta.TypeName)
		}
		var walk func(prefix string, attrs map[string]schema.Attribute, blocks map[string]schema.Block)
		walk = func(prefix string, attrs map[string]schema.Attribute, blocks map[string]schema.Block) {
			for name, a := range attrs {
				if a.GetMarkdownDescription() == "" {
					t.Errorf("%s: attribute %s%s has no MarkdownDescription", meta.TypeName, prefix, name)
				}
				switch n := a.(type) {
				case schema.SingleNestedAttribute:
					walk(prefix+name+".", n.Attributes, nil)
				case schema.ListNestedAttribute:
					walk(prefix+name+"[].", n.NestedObject.Attributes, nil)
				}
			}
			for name, b := range blocks {
				if b.GetMarkdownDescription() == "" {
					t.Errorf("%s: block %s%s has no MarkdownDescription", meta.TypeName, prefix, name)
				}
				switch n := b.(type) {
				case schema.SingleNestedBlock:
					walk(prefix+name+".", n.Attributes, n.Blocks)
				case schema.ListNestedBlock: // repeated (toleration)
					walk(prefix+name+"[].", n.NestedObject.Attributes, n.NestedObject.Blocks)
				default:
					t.Errorf("%s: block %s%s is neither a single nor a list nested block", meta.TypeName, prefix, name)
				}
			}
		}
		walk("", s.Attributes, s.Blocks)
	}
}

func TestValidators(t *testing.T) {
	cases := []struct {
		name string
		v    validator.String
		good []string
		bad  []string
	}{
		{"cpu", cpuQuantity(), []string{"500m", "1", "1.5", "2000m"}, []string{"abc", "-1", "0", "5m", "1Gm"}},
		{"memory", memoryQuantity(), []string{"512Mi", "2Gi", "64M"}, []string{"2Gm", "-1", "1Ki", "lots"}},
		{"storage", storageQuantity(), []string{"10Gi", "64Mi"}, []string{"1Mi", "x"}},
		{"session duration", sessionDuration(), []string{"4h", "90m", "1h30m", "2d"}, []string{"4 hours", "30s", "91d", "-1h"}},
		{"timeout", timeoutDuration(), []string{"30s", "5m"}, []string{"soon", "0s"}},
		{"template name", templateName(), []string{"docker-intro", "a1"}, []string{"Bad_Name", "-x", ""}},
		{"participant", participantName(), []string{"ada", "Ada.Lovelace_1"}, []string{"ada lovelace", "-ada", ""}},
		{"session id", sessionID(), []string{"0123456789", "abcdef0123"}, []string{"Not An ID", "ab"}},
		{"template id", templateID(), []string{"docker.intro.0123456789ab"}, []string{"nonsense", "nomad.intro.0123456789ab", "docker.intro.0123"}},
		{"regexp", goRegexp(), []string{"^1", "a|b"}, []string{"(", "[z-a]"}},
	}
	ctx := context.Background()
	for _, c := range cases {
		check := func(value string) (bool, string) {
			req := validator.StringRequest{Path: fwpath.Root("attr"), ConfigValue: types.StringValue(value)}
			var resp validator.StringResponse
			c.v.ValidateString(ctx, req, &resp)
			if resp.Diagnostics.HasError() {
				return false, resp.Diagnostics[0].Detail()
			}
			return true, ""
		}
		for _, g := range c.good {
			if ok, msg := check(g); !ok {
				t.Errorf("%s: %q rejected: %s", c.name, g, msg)
			}
		}
		for _, b := range c.bad {
			ok, msg := check(b)
			if ok {
				t.Errorf("%s: %q accepted", c.name, b)
			} else if !strings.HasPrefix(msg, "attr: ") {
				t.Errorf("%s: diagnostic does not name the attribute: %s", c.name, msg)
			}
		}
		// Null and unknown pass: other validators or the apply decide.
		for _, v := range []types.String{types.StringNull(), types.StringUnknown()} {
			var resp validator.StringResponse
			c.v.ValidateString(ctx, validator.StringRequest{Path: fwpath.Root("attr"), ConfigValue: v}, &resp)
			if resp.Diagnostics.HasError() {
				t.Errorf("%s: %s rejected", c.name, v)
			}
		}
	}
}

func TestHelpers(t *testing.T) {
	for in, want := range map[string]string{
		"name":                   "name",
		"workspace.image":        "workspace.image",
		"validations[2].timeout": "validations[2].timeout",
	} {
		if got := hclPath(in).String(); got != want {
			t.Errorf("hclPath(%q) = %q, want %q", in, got, want)
		}
	}
	err := fmt.Errorf("apply: %w", errors.Join(
		&workshop.FieldError{Path: "workspace.image", Msg: "bad"},
		errors.New("other"),
		&workshop.FieldError{Path: "validations[0].name", Msg: "dup"},
	))
	if fes := fieldErrors(err); len(fes) != 2 || fes[1].Path != "validations[0].name" {
		t.Errorf("fieldErrors = %v", fes)
	}
	for d, want := range map[time.Duration]string{
		4 * time.Hour: "4h", 90 * time.Minute: "90m", 30 * time.Second: "30s", 0: "0s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
	diags := addBackendErrorDiags(err)
	if len(diags) != 2 || !strings.Contains(diags[0].Summary(), "workspace.image") {
		t.Errorf("addBackendError on field errors: %v", diags)
	}
	if d := addBackendErrorDiags(fmt.Errorf("wait: %w", context.DeadlineExceeded)); !strings.Contains(d[0].Detail(), "timeouts") {
		t.Errorf("deadline diagnostic does not point at timeouts: %v", d)
	}
}

func addBackendErrorDiags(err error) diag.Diagnostics {
	var diags diag.Diagnostics
	addBackendError(&diags, "do it", err)
	return diags
}

type attrValue = attr.Value

func mustList(t *testing.T, items ...string) types.List {
	t.Helper()
	l, d := types.ListValueFrom(context.Background(), types.StringType, items)
	if d.HasError() {
		t.Fatal(d)
	}
	return l
}

// nd is a throwaway diagnostics sink.
func nd() *diag.Diagnostics { return new(diag.Diagnostics) }

// --- nalabo_workshop_template ---

func templateModel(t *testing.T, name, image string) workshopTemplateModel {
	t.Helper()
	ctx := context.Background()
	ws, d := types.ObjectValueFrom(ctx, workspaceAttrTypes, workspaceModel{
		Image: types.StringValue(image), Build: types.ObjectNull(buildAttrTypes),
		Command: types.ListNull(types.StringType), Env: types.MapNull(types.StringType),
		User: types.StringNull(), WorkingDir: types.StringNull(), Ports: types.ListNull(types.Int64Type),
	})
	if d.HasError() {
		t.Fatal(d)
	}
	return workshopTemplateModel{
		ID: types.StringNull(), Name: types.StringValue(name), InfrastructureType: types.StringValue("docker"),
		Isolation: types.StringNull(), Workspace: ws, Manifests: types.StringNull(), Compose: types.StringNull(),
		ComposeDirectory: types.StringNull(), ComposeBuilds: types.MapNull(types.StringType),
		Resources: types.MapNull(types.StringType), EffectiveResources: types.ObjectNull(resourcesAttrTypes),
		Duration: types.StringValue("4h"), PodSecurity: types.StringNull(),
		DockerInDocker: types.BoolValue(false), PrePull: types.BoolValue(true), WarmPool: types.Int64Value(0), // the schema defaults
		Validations: types.ListNull(types.ObjectType{AttrTypes: validationAttrTypes}),
		Digest:      types.StringNull(), Images: types.MapNull(types.StringType), Timeouts: nullTimeouts(),
		PlacementConstraints: types.ListNull(types.StringType),
		NodeSelector:         types.MapNull(types.StringType), RuntimeClassName: types.StringNull(),
		Tolerations: types.ListValueMust(types.ObjectType{AttrTypes: tolerationAttrTypes}, nil),
	}
}

// planTemplate runs ModifyPlan for config (as the planned value with computed
// attributes unknown) over state (nil on create).
func planTemplate(t *testing.T, config workshopTemplateModel, state *workshopTemplateModel) (workshopTemplateModel, resource.ModifyPlanResponse) {
	t.Helper()
	ctx := context.Background()
	r := &workshopTemplateResource{}
	s := schemaOf(t, r)
	proposed := config
	proposed.ID, proposed.Digest, proposed.Images = types.StringUnknown(), types.StringUnknown(), types.MapUnknown(types.StringType)
	if proposed.Isolation.IsNull() {
		proposed.Isolation = types.StringUnknown()
	}
	proposed.EffectiveResources = types.ObjectUnknown(resourcesAttrTypes)
	var stateAny any
	if state != nil {
		stateAny = state
	}
	req := resource.ModifyPlanRequest{
		Config: tfsdk.Config{Schema: s.Schema, Raw: rawOf(t, s, &config)},
		Plan:   tfsdk.Plan{Schema: s.Schema, Raw: rawOf(t, s, &proposed)},
		State:  tfsdk.State{Schema: s.Schema, Raw: rawOf(t, s, stateAny)},
	}
	resp := resource.ModifyPlanResponse{Plan: req.Plan}
	r.ModifyPlan(ctx, req, &resp)
	if resp.Diagnostics.HasError() {
		return workshopTemplateModel{}, resp
	}
	var out workshopTemplateModel
	if d := resp.Plan.Get(ctx, &out); d.HasError() {
		t.Fatal(d)
	}
	return out, resp
}

// applyTemplate creates a template through the resource with the fake backend.
func applyTemplate(t *testing.T, f *fakeBackend, plan workshopTemplateModel) workshopTemplateModel {
	t.Helper()
	ctx := context.Background()
	r := &workshopTemplateResource{data: fakeProviderData(f)}
	s := schemaOf(t, r)
	req := resource.CreateRequest{Plan: tfsdk.Plan{Schema: s.Schema, Raw: rawOf(t, s, &plan)}}
	resp := resource.CreateResponse{State: tfsdk.State{Schema: s.Schema, Raw: rawOf(t, s, nil)}}
	r.Create(ctx, req, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatalf("create: %v", resp.Diagnostics)
	}
	var out workshopTemplateModel
	if d := resp.State.Get(ctx, &out); d.HasError() {
		t.Fatal(d)
	}
	return out
}

func TestTemplatePlan(t *testing.T) {
	ctx := context.Background()
	f := newFakeBackend()
	config := templateModel(t, "intro", "nalabo-test/shell:1")

	// Create: docker defaults, no isolation, id unknown.
	plan, _ := planTemplate(t, config, nil)
	if !plan.Isolation.IsNull() {
		t.Errorf("isolation on docker = %s, want null", plan.Isolation)
	}
	res := resourcesFrom(ctx, plan.EffectiveResources, nd())
	if res.CPU.ValueString() != "1000m" || res.Memory.ValueString() != "2Gi" || res.Storage.ValueString() != "10Gi" {
		t.Errorf("docker defaults = %+v", res)
	}
	if !plan.ID.IsUnknown() {
		t.Errorf("id on create = %s, want unknown", plan.ID)
	}

	state := applyTemplate(t, f, plan)
	if !strings.HasPrefix(state.ID.ValueString(), "docker.intro.") || len(state.Images.Elements()) != 1 {
		t.Fatalf("applied: id %s images %s", state.ID, state.Images)
	}

	// No change: everything kept.
	same, _ := planTemplate(t, config, &state)
	if !same.ID.Equal(state.ID) || !same.Digest.Equal(state.Digest) || !same.Images.Equal(state.Images) {
		t.Errorf("unchanged template planned a new id: %s", same.ID)
	}

	// Validations only: id kept.
	withChecks := config
	v, d := types.ObjectValueFrom(ctx, validationAttrTypes, validationModel{
		Name: types.StringValue("v"), Command: mustList(t, "true"), ExpectedExitCode: types.Int64Value(0),
		OutputPattern: types.StringNull(), Timeout: types.StringValue("30s"),
	})
	if d.HasError() {
		t.Fatal(d)
	}
	withChecks.Validations = types.ListValueMust(types.ObjectType{AttrTypes: validationAttrTypes}, []attrValue{v})
	checksPlan, _ := planTemplate(t, withChecks, &state)
	if !checksPlan.ID.Equal(state.ID) {
		t.Errorf("validations-only change planned id %s, want %s", checksPlan.ID, state.ID)
	}

	// Image: id unknown.
	changed, _ := planTemplate(t, templateModel(t, "intro", "nalabo-test/shell:2"), &state)
	if !changed.ID.IsUnknown() || !changed.Digest.IsUnknown() || !changed.Images.IsUnknown() {
		t.Errorf("image change kept id %s", changed.ID)
	}

	// A removed resources setting goes back to the default.
	withCPU := config
	withCPU.Resources = resourcesMap(resourcesModel{CPU: types.StringValue("500m"), Memory: types.StringNull(), Storage: types.StringNull()}, nd())
	cpuPlan, _ := planTemplate(t, withCPU, &state)
	if got := resourcesFrom(ctx, cpuPlan.EffectiveResources, nd()); got.CPU.ValueString() != "500m" || got.Memory.ValueString() != "2Gi" {
		t.Errorf("configured cpu plan = %+v", got)
	}
	if !cpuPlan.ID.IsUnknown() {
		t.Errorf("resources change kept id")
	}
	// A configured value equal to the default: effective resources and id unchanged.
	withDefault := config
	withDefault.Resources = resourcesMap(resourcesModel{CPU: types.StringNull(), Memory: types.StringValue("2Gi"), Storage: types.StringNull()}, nd())
	if p, _ := planTemplate(t, withDefault, &state); !p.ID.Equal(state.ID) {
		t.Errorf("resources spelling out a default planned id %s, want %s", p.ID, state.ID)
	}

	// Kubernetes: vcluster and the kubernetes defaults.
	k8s := config
	k8s.InfrastructureType = types.StringValue("kubernetes")
	k8sPlan, _ := planTemplate(t, k8s, nil)
	if k8sPlan.Isolation.ValueString() != "vcluster" {
		t.Errorf("kubernetes isolation = %s", k8sPlan.Isolation)
	}
	if got := resourcesFrom(ctx, k8sPlan.EffectiveResources, nd()); got.CPU.ValueString() != "2000m" || got.Storage.ValueString() != "20Gi" {
		t.Errorf("kubernetes defaults = %+v", got)
	}
}

func TestTemplatePlanBuildContext(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM nalabo-test/shell:1\nCOPY hello.txt /hello.txt\n")
	write("hello.txt", "1\n")
	withBuild := func(contextDir string) workshopTemplateModel {
		m := templateModel(t, "built", "")
		var ws workspaceModel
		m.Workspace.As(ctx, &ws, asOpts)
		ws.Image = types.StringNull()
		b, d := types.ObjectValueFrom(ctx, buildAttrTypes, buildModel{
			Context: types.StringValue(contextDir), Dockerfile: types.StringValue("Dockerfile"),
			Args: types.MapNull(types.StringType), ContextSHA256: types.StringNull(),
		})
		if d.HasError() {
			t.Fatal(d)
		}
		ws.Build = b
		m.Workspace, _ = types.ObjectValueFrom(ctx, workspaceAttrTypes, ws)
		return m
	}
	sha := func(m workshopTemplateModel) string {
		var ws workspaceModel
		m.Workspace.As(ctx, &ws, asOpts)
		var b buildModel
		ws.Build.As(ctx, &b, asOpts)
		return b.ContextSHA256.ValueString()
	}

	plan, _ := planTemplate(t, withBuild(dir), nil)
	first := sha(plan)
	if len(first) != 64 {
		t.Fatalf("context_sha256 = %q", first)
	}
	state := applyTemplate(t, newFakeBackend(), plan)
	if sha(state) != first {
		t.Fatalf("state context_sha256 = %q, want %q", sha(state), first)
	}
	again, _ := planTemplate(t, withBuild(dir), &state)
	if !again.ID.Equal(state.ID) {
		t.Errorf("unchanged context planned id %s", again.ID)
	}
	write("hello.txt", "2\n")
	changed, _ := planTemplate(t, withBuild(dir), &state)
	if sha(changed) == first || !changed.ID.IsUnknown() {
		t.Errorf("changed file: sha %s id %s", sha(changed), changed.ID)
	}

	_, resp := planTemplate(t, withBuild(filepath.Join(dir, "missing")), nil)
	if !resp.Diagnostics.HasError() || !strings.Contains(resp.Diagnostics[0].Detail(), "workspace.build.context") {
		t.Errorf("missing context: %v", resp.Diagnostics)
	}
}

func TestTemplateReadAndImport(t *testing.T) {
	ctx := context.Background()
	f := newFakeBackend()
	config := templateModel(t, "intro", "nalabo-test/shell:1")
	var ws workspaceModel
	config.Workspace.As(ctx, &ws, asOpts)
	ws.Command = mustList(t, "sleep", "infinity")
	ws.Env = types.MapValueMust(types.StringType, map[string]attrValue{"LANG": types.StringValue("C.UTF-8")})
	ws.Ports = types.ListValueMust(types.Int64Type, []attrValue{types.Int64Value(8080)})
	config.Workspace, _ = types.ObjectValueFrom(ctx, workspaceAttrTypes, ws)
	plan, _ := planTemplate(t, config, nil)
	state := applyTemplate(t, f, plan)

	r := &workshopTemplateResource{data: fakeProviderData(f)}
	s := schemaOf(t, r)
	readResp := resource.ReadResponse{State: tfsdk.State{Schema: s.Schema, Raw: rawOf(t, s, &state)}}
	r.Read(ctx, resource.ReadRequest{State: readResp.State}, &readResp)
	if readResp.Diagnostics.HasError() {
		t.Fatal(readResp.Diagnostics)
	}
	if !readResp.State.Raw.Equal(rawOf(t, s, &state)) {
		t.Errorf("read changed the state:\n got %s\nwant %s", readResp.State.Raw, rawOf(t, s, &state))
	}

	importResp := resource.ImportStateResponse{State: tfsdk.State{Schema: s.Schema, Raw: rawOf(t, s, nil)}}
	r.ImportState(ctx, resource.ImportStateRequest{ID: state.ID.ValueString()}, &importResp)
	if importResp.Diagnostics.HasError() {
		t.Fatal(importResp.Diagnostics)
	}
	if !importResp.State.Raw.Equal(rawOf(t, s, &state)) {
		t.Errorf("import differs from state:\n got %s\nwant %s", importResp.State.Raw, rawOf(t, s, &state))
	}

	// Gone from the backend: removed from state.
	if err := f.DeleteTemplate(ctx, state.ID.ValueString()); err != nil {
		t.Fatal(err)
	}
	goneResp := resource.ReadResponse{State: tfsdk.State{Schema: s.Schema, Raw: rawOf(t, s, &state)}}
	r.Read(ctx, resource.ReadRequest{State: goneResp.State}, &goneResp)
	if !goneResp.State.Raw.IsNull() {
		t.Errorf("a missing template stays in state")
	}
}

// --- nalabo_workshop_session ---

func sessionModel(templateID, participant string) workshopSessionModel {
	return workshopSessionModel{
		ID: types.StringUnknown(), TemplateID: types.StringValue(templateID), Participant: types.StringValue(participant),
		Resources: types.MapNull(types.StringType), EffectiveResources: types.ObjectUnknown(resourcesAttrTypes),
		Duration: types.StringUnknown(), Timeouts: nullTimeouts(),
		InfrastructureType: types.StringUnknown(), TemplateName: types.StringUnknown(), Status: types.StringUnknown(),
		CreatedAt: types.StringUnknown(), ExpiresAt: types.StringUnknown(), WorkspaceName: types.StringUnknown(),
		NetworkName: types.StringUnknown(), Namespace: types.StringUnknown(), Volumes: types.ListUnknown(types.StringType),
		Containers: types.ListUnknown(types.StringType), Ports: types.ListUnknown(types.ObjectType{AttrTypes: portAttrTypes}),
		StorageEnforced: types.BoolUnknown(), Kubeconfig: types.StringUnknown(), VCluster: types.ObjectUnknown(vclusterStateAttrTypes),
		Persistence: types.ObjectNull(persistenceAttrTypes), State: types.StringValue(workshop.StateRunning),
	}
}

// createSession runs the session's Create with the fake backend (private state is
// not available outside the framework: the inherited settings come back instead).
func createSession(t *testing.T, f *fakeBackend, plan workshopSessionModel, now time.Time) workshopSessionModel {
	t.Helper()
	ctx := context.Background()
	r := &workshopSessionResource{data: fakeProviderData(f), now: func() time.Time { return now }}
	s := schemaOf(t, r)
	req := resource.CreateRequest{Plan: tfsdk.Plan{Schema: s.Schema, Raw: rawOf(t, s, &plan)}}
	resp := resource.CreateResponse{State: tfsdk.State{Schema: s.Schema, Raw: rawOf(t, s, nil)}}
	r.Create(ctx, req, &resp)
	// The only expected error is storing private state, which needs the framework.
	for _, d := range resp.Diagnostics {
		if d.Summary() != "Uninitialized ProviderData" {
			t.Fatalf("create: %s: %s", d.Summary(), d.Detail())
		}
	}
	var out workshopSessionModel
	if d := resp.State.Get(ctx, &out); d.HasError() {
		t.Fatal(d)
	}
	return out
}

func TestSessionCreateInheritsAndKeepsSpelling(t *testing.T) {
	ctx := context.Background()
	f := newFakeBackend()
	tmpl, _ := f.ApplyTemplate(ctx, &workshop.Template{
		Name: "intro", Infrastructure: workshop.InfraDocker, Workspace: workshop.Workspace{Image: "shell:1"},
		Resources: workshop.Resources{Memory: "64Mi"}, Duration: "90m",
	})
	plan := sessionModel(tmpl.ID, "ada")
	plan.Resources = resourcesMap(resourcesModel{CPU: types.StringValue("0.5"), Memory: types.StringNull(), Storage: types.StringNull()}, nd())
	now := time.Date(2030, 1, 2, 3, 4, 5, 600e6, time.UTC)
	state := createSession(t, f, plan, now)

	got := resourcesFrom(ctx, state.EffectiveResources, nd())
	if got.CPU.ValueString() != "0.5" || got.Memory.ValueString() != "64Mi" || got.Storage.ValueString() != "10Gi" {
		t.Errorf("resources = %+v", got)
	}
	if state.Duration.ValueString() != "90m" {
		t.Errorf("duration = %s, want the template's 90m", state.Duration)
	}
	if state.CreatedAt.ValueString() != "2030-01-02T03:04:05Z" || state.ExpiresAt.ValueString() != "2030-01-02T04:34:05Z" {
		t.Errorf("created_at %s expires_at %s", state.CreatedAt, state.ExpiresAt)
	}
	if !sessionIDRE.MatchString(state.ID.ValueString()) || state.WorkspaceName.ValueString() != workshop.SessionObjectName(state.ID.ValueString()) {
		t.Errorf("id %s workspace %s", state.ID, state.WorkspaceName)
	}
	if !state.Namespace.IsNull() || !state.Kubeconfig.IsNull() || state.Status.ValueString() != "running" {
		t.Errorf("namespace %s kubeconfig %s status %s", state.Namespace, state.Kubeconfig, state.Status)
	}

	// Read: the live "500m" equals "0.5": the user's spelling stays; drift shows.
	f.sessions[state.ID.ValueString()].Resources.Memory = "128Mi"
	refreshed := state
	live, _ := f.GetSession(ctx, state.ID.ValueString())
	refreshSession(ctx, &refreshed, live, nd())
	got = resourcesFrom(ctx, refreshed.EffectiveResources, nd())
	if !refreshed.Resources.Equal(state.Resources) {
		t.Errorf("refresh changed the configured resources: %s", refreshed.Resources)
	}
	if got.CPU.ValueString() != "0.5" || got.Memory.ValueString() != "128Mi" {
		t.Errorf("refreshed resources = %+v", got)
	}

	// Missing template: an error on template_id.
	r := &workshopSessionResource{data: fakeProviderData(f)}
	s := schemaOf(t, r)
	missing := sessionModel("docker.other.0123456789ab", "ada")
	resp := resource.CreateResponse{State: tfsdk.State{Schema: s.Schema, Raw: rawOf(t, s, nil)}}
	r.Create(ctx, resource.CreateRequest{Plan: tfsdk.Plan{Schema: s.Schema, Raw: rawOf(t, s, &missing)}}, &resp)
	if !resp.Diagnostics.HasError() || resp.Diagnostics[0].Summary() != "Template not found" {
		t.Errorf("missing template: %v", resp.Diagnostics)
	}
}

// cpuOnly is a session's resources map with cpu and, unless "", storage.
func cpuOnly(cpu, storage string) types.Map {
	r := resourcesModel{CPU: types.StringValue(cpu), Memory: types.StringNull(), Storage: types.StringNull()}
	if storage != "" {
		r.Storage = types.StringValue(storage)
	}
	return resourcesMap(r, nd())
}

func TestSessionPlanUpdate(t *testing.T) {
	ctx := context.Background()
	state := sessionModel("docker.intro.0123456789ab", "ada")
	state.ID = types.StringValue("0123456789")
	state.EffectiveResources = resourcesModel{CPU: types.StringValue("500m"), Memory: types.StringValue("96Mi"), Storage: types.StringValue("10Gi")}.object(nd())
	state.Duration = types.StringValue("3h")
	state.InfrastructureType = types.StringValue("docker")
	state.Status = types.StringValue("running")
	state.CreatedAt = types.StringValue("2030-01-02T03:04:05Z")
	state.ExpiresAt = types.StringValue("2030-01-02T06:04:05Z")
	inherited := &inheritedSettings{Resources: workshop.Resources{CPU: "250m", Memory: "64Mi", Storage: "10Gi"}, Duration: "4h"}

	config := sessionModel(state.TemplateID.ValueString(), "ada")
	config.Resources = cpuOnly("500m", "")
	config.Duration = types.StringValue("3h")

	run := func(config, state workshopSessionModel, inherited *inheritedSettings, reaped bool) (workshopSessionModel, fwpath.Paths) {
		plan := state // the proposed new state keeps prior values of unset attributes
		plan.Resources, plan.Duration = config.Resources, config.Duration
		state.Resources = config.Resources
		replace := planSessionUpdate(ctx, &plan, config, state, inherited, reaped, nd())
		return plan, replace
	}

	// Memory drifted (96Mi) but is inherited (64Mi): planned back, in place.
	plan, replace := run(config, state, inherited, false)
	if got := resourcesFrom(ctx, plan.EffectiveResources, nd()); got.CPU.ValueString() != "500m" || got.Memory.ValueString() != "64Mi" {
		t.Errorf("planned resources = %+v", got)
	}
	if len(replace) != 0 || plan.ExpiresAt.ValueString() != "2030-01-02T06:04:05Z" {
		t.Errorf("replace %v expires %s", replace, plan.ExpiresAt)
	}

	// Without inherited settings (imported, template gone): the state's values.
	plan, _ = run(config, state, nil, false)
	if got := resourcesFrom(ctx, plan.EffectiveResources, nd()); got.Memory.ValueString() != "96Mi" {
		t.Errorf("without inherited: %+v", got)
	}

	// Duration: expires_at follows, known at plan time.
	longer := config
	longer.Duration = types.StringValue("5h")
	plan, replace = run(longer, state, inherited, false)
	if plan.ExpiresAt.ValueString() != "2030-01-02T08:04:05Z" || len(replace) != 0 {
		t.Errorf("5h: expires %s replace %v", plan.ExpiresAt, replace)
	}
	unset := config
	unset.Duration = types.StringNull()
	if plan, _ = run(unset, state, inherited, false); plan.Duration.ValueString() != "4h" {
		t.Errorf("unset duration planned %s, want the inherited 4h", plan.Duration)
	}

	// Storage on docker: replace, unless only the spelling changes.
	bigger := config
	bigger.Resources = cpuOnly("500m", "20Gi")
	if _, replace = run(bigger, state, inherited, false); replace.String() != "[effective_resources.storage]" {
		t.Errorf("storage change: replace %v", replace)
	}
	respelled := config
	respelled.Resources = cpuOnly("500m", "10240Mi")
	if _, replace = run(respelled, state, inherited, false); len(replace) != 0 {
		t.Errorf("storage respelled: replace %v", replace)
	}

	// Degraded: replaced.
	degraded := state
	degraded.Status = types.StringValue(workshop.StatusDegraded)
	plan, replace = run(config, degraded, inherited, false)
	if replace.String() != "[status]" || !plan.Status.IsUnknown() {
		t.Errorf("degraded: replace %v status %s", replace, plan.Status)
	}

	// Expired and reaped: nothing planned while nothing changes, replaced when asked
	// for more time.
	expired := state
	expired.Status = types.StringValue(workshop.StatusExpired)
	expired.EffectiveResources = resourcesModel{CPU: types.StringValue("500m"), Memory: types.StringValue("64Mi"), Storage: types.StringValue("10Gi")}.object(nd())
	if _, replace = run(config, expired, inherited, true); len(replace) != 0 {
		t.Errorf("reaped, unchanged: replace %v", replace)
	}
	if _, replace = run(longer, expired, inherited, true); replace.String() != "[status]" {
		t.Errorf("reaped, longer: replace %v", replace)
	}
}

func TestSessionImportModel(t *testing.T) {
	created := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &workshop.Session{
		ID: "0123456789", Infrastructure: workshop.InfraDocker, TemplateID: "docker.intro.0123456789ab", TemplateName: "intro",
		Participant: "ada", Status: "running",
		CreatedAt: created.Add(1400 * time.Millisecond), // the container starts a moment later
		ExpiresAt: created.Add(3 * time.Hour),
		Resources: workshop.Resources{CPU: "500m", Memory: "128Mi", Storage: "10Gi"},
	}
	m := sessionModelFromImport(context.Background(), s, nd())
	if m.Duration.ValueString() != "3h" || m.CreatedAt.ValueString() != "2030-01-02T03:04:05Z" || m.ExpiresAt.ValueString() != "2030-01-02T06:04:05Z" {
		t.Errorf("duration %s created %s expires %s", m.Duration, m.CreatedAt, m.ExpiresAt)
	}
	if got := resourcesFrom(context.Background(), m.EffectiveResources, nd()); got.CPU.ValueString() != "500m" || got.Memory.ValueString() != "128Mi" {
		t.Errorf("imported effective_resources = %+v", got)
	}
	if !m.Resources.IsNull() {
		t.Errorf("imported resources = %s, want null (configuration only)", m.Resources)
	}
}

// --- nalabo_exec ---

func execPlan(t *testing.T, sessionIDValue string) execModel {
	t.Helper()
	return execModel{
		ID: types.StringUnknown(), SessionID: types.StringValue(sessionIDValue), Command: types.ListNull(types.StringType),
		Script: types.StringValue("echo hi"), Container: types.StringNull(), Env: types.MapNull(types.StringType), EnvWO: types.MapNull(types.StringType),
		WorkingDir: types.StringNull(), User: types.StringNull(), Timeout: types.StringValue("30s"),
		ExpectedExitCode: types.Int64Value(0), MaxOutputBytes: types.Int64Value(100), Triggers: types.MapNull(types.StringType),
		Stdout: types.StringUnknown(), Stderr: types.StringUnknown(), StdoutTruncated: types.BoolUnknown(),
		StderrTruncated: types.BoolUnknown(), ExitCode: types.Int64Unknown(), DurationMS: types.Int64Unknown(), TimedOut: types.BoolUnknown(),
	}
}

func TestExecCreate(t *testing.T) {
	ctx := context.Background()
	f := newFakeBackend()
	tmpl, _ := f.ApplyTemplate(ctx, &workshop.Template{Name: "intro", Infrastructure: workshop.InfraDocker, Workspace: workshop.Workspace{Image: "shell:1"}})
	sess, _ := f.CreateSession(ctx, &workshop.SessionSpec{ID: "0123456789", Template: tmpl, Participant: "ada",
		Resources: workshop.DefaultResources(workshop.InfraDocker)})
	r := &execResource{data: fakeProviderData(f)}
	s := schemaOf(t, r)
	run := func(plan execModel) (execModel, resource.CreateResponse) {
		resp := resource.CreateResponse{State: tfsdk.State{Schema: s.Schema, Raw: rawOf(t, s, nil)}}
		r.Create(ctx, resource.CreateRequest{Plan: tfsdk.Plan{Schema: s.Schema, Raw: rawOf(t, s, &plan)}}, &resp)
		var out execModel
		if !resp.State.Raw.IsNull() {
			resp.State.Get(ctx, &out)
		}
		return out, resp
	}

	state, resp := run(execPlan(t, sess.ID))
	if resp.Diagnostics.HasError() {
		t.Fatal(resp.Diagnostics)
	}
	if got := f.execs[0]; strings.Join(got.Command, "|") != "/bin/sh|-c|echo hi" || got.MaxOutputBytes != 100 || got.Timeout != 30*time.Second {
		t.Errorf("exec request = %+v", got)
	}
	if state.Stdout.ValueString() != "ok\n" || state.ExitCode.ValueInt64() != 0 || len(state.ID.ValueString()) != 16 {
		t.Errorf("state = %+v", state)
	}

	f.execFn = func(*workshop.ExecRequest) *workshop.ExecResult {
		return &workshop.ExecResult{ExitCode: 3, Stdout: "partial\n", Stderr: "broke\n", Duration: 12 * time.Millisecond}
	}
	_, resp = run(execPlan(t, sess.ID))
	if !resp.Diagnostics.HasError() || !resp.State.Raw.IsNull() {
		t.Fatalf("a failing command saved state or no error: %v", resp.Diagnostics)
	}
	d := resp.Diagnostics[0]
	for _, want := range []string{"code 3", "expected 0", "partial", "broke"} {
		if !strings.Contains(d.Summary()+d.Detail(), want) {
			t.Errorf("diagnostic lacks %q: %s / %s", want, d.Summary(), d.Detail())
		}
	}

	f.execFn = func(*workshop.ExecRequest) *workshop.ExecResult {
		return &workshop.ExecResult{ExitCode: 137, TimedOut: true}
	}
	if _, resp = run(execPlan(t, sess.ID)); !resp.Diagnostics.HasError() || !strings.Contains(resp.Diagnostics[0].Summary(), "timed out") {
		t.Errorf("timeout: %v", resp.Diagnostics)
	}

	if _, resp = run(execPlan(t, "ffffffffff")); !resp.Diagnostics.HasError() || resp.Diagnostics[0].Summary() != "Session not found" {
		t.Errorf("missing session: %v", resp.Diagnostics)
	}
	// env_wo comes from the configuration (the plan holds null) and joins env; the
	// state keeps it null.
	f.execFn = nil
	plan := execPlan(t, sess.ID)
	plan.Env = types.MapValueMust(types.StringType, map[string]attr.Value{"A": types.StringValue("1")})
	config := plan
	config.EnvWO = types.MapValueMust(types.StringType, map[string]attr.Value{"TOKEN": types.StringValue("s3cret")})
	resp = resource.CreateResponse{State: tfsdk.State{Schema: s.Schema, Raw: rawOf(t, s, nil)}}
	r.Create(ctx, resource.CreateRequest{Plan: tfsdk.Plan{Schema: s.Schema, Raw: rawOf(t, s, &plan)},
		Config: tfsdk.Config{Schema: s.Schema, Raw: rawOf(t, s, &config)}}, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatal(resp.Diagnostics)
	}
	if got := f.execs[len(f.execs)-1].Env; len(got) != 2 || got["A"] != "1" || got["TOKEN"] != "s3cret" {
		t.Errorf("env with env_wo = %v", got)
	}
	var out execModel
	resp.State.Get(ctx, &out)
	if !out.EnvWO.IsNull() {
		t.Errorf("env_wo in state: %s", out.EnvWO)
	}
}
