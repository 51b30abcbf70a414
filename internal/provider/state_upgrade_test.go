package provider

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Version 0 states as the provider wrote them before `resources` became a map.
const (
	templateStateV0 = `{
  "id": "docker.intro.0123456789ab", "name": "intro", "infrastructure_type": "docker", "isolation": null,
  "workspace": {"image": "nalabo-test/shell:1", "build": null, "command": ["sleep", "infinity"], "env": {"LANG": "C.UTF-8"},
                "user": null, "working_dir": null, "ports": [8080]},
  "manifests": null, "vcluster_values": null, "compose": null, "compose_directory": null, "compose_builds": null,
  "resources": {"cpu": "250m", "memory": "2Gi", "storage": "10Gi"},
  "duration": "4h", "pod_security": null, "docker_in_docker": false,
  "validations": [{"name": "v", "command": ["true"], "expected_exit_code": 0, "output_pattern": null, "timeout": "30s"}],
  "digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
  "images": {"nalabo-test/shell:1": "sha256:aaaa"},
  "timeouts": null
}`
	sessionStateV0 = `{
  "id": "0123456789", "template_id": "docker.intro.0123456789ab", "participant": "ada",
  "resources": {"cpu": "500m", "memory": "64Mi", "storage": "10Gi"},
  "duration": "4h", "timeouts": {"create": "20m", "read": null, "update": null, "delete": null},
  "infrastructure_type": "docker", "template_name": "intro", "status": "running",
  "created_at": "2030-01-02T03:04:05Z", "expires_at": "2030-01-02T07:04:05Z",
  "workspace_name": "nalabo-session-0123456789", "network_name": "nalabo-network-0123456789", "namespace": null,
  "volumes": [], "containers": ["nalabo-session-0123456789"],
  "ports": [{"container": "nalabo-session-0123456789", "container_port": 8080, "protocol": "tcp", "host_ip": "127.0.0.1", "host_port": 32768}],
  "storage_enforced": false, "kubeconfig": null, "vcluster": null
}`
)

// upgradeThroughServer runs the framework's UpgradeResourceState RPC, as Terraform does
// when a state has an older schema version, and reads the result into model.
func upgradeThroughServer(t *testing.T, typeName, stateJSON string, r resource.Resource, model any) {
	t.Helper()
	ctx := context.Background()
	srv := providerserver.NewProtocol6(newTestProvider())()
	resp, err := srv.UpgradeResourceState(ctx, &tfprotov6.UpgradeResourceStateRequest{
		TypeName: typeName, Version: 0, RawState: &tfprotov6.RawState{JSON: []byte(stateJSON)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range resp.Diagnostics {
		t.Fatalf("upgrade %s: %s: %s", typeName, d.Summary, d.Detail)
	}
	s := schemaOf(t, r)
	raw, err := resp.UpgradedState.Unmarshal(s.Schema.Type().TerraformType(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if d := (tfsdk.State{Schema: s.Schema, Raw: raw}).Get(ctx, model); d.HasError() {
		t.Fatal(d)
	}
}

func TestTemplateStateUpgradeV0(t *testing.T) {
	ctx := context.Background()
	r := &workshopTemplateResource{}
	if v := schemaOf(t, r).Schema.Version; v != 1 {
		t.Fatalf("template schema version %d, want 1", v)
	}
	var m workshopTemplateModel
	upgradeThroughServer(t, "nalabo_workshop_template", templateStateV0, r, &m)

	// resources keeps what differs from the Docker defaults (1000m, 2Gi, 10Gi).
	if got := mapStrings(ctx, m.Resources, nd()); len(got) != 1 || got["cpu"] != "250m" {
		t.Errorf("resources = %v, want {cpu = 250m}", got)
	}
	eff := resourcesFrom(ctx, m.EffectiveResources, nd())
	if eff.CPU.ValueString() != "250m" || eff.Memory.ValueString() != "2Gi" || eff.Storage.ValueString() != "10Gi" {
		t.Errorf("effective_resources = %+v", eff)
	}
	// What the digest covers is unchanged, so no session is replaced.
	tmpl := m.toTemplate(ctx, nd())
	if tmpl.Resources != (workshop.Resources{CPU: "250m", Memory: "2Gi", Storage: "10Gi"}) {
		t.Errorf("template resources after upgrade = %+v", tmpl.Resources)
	}
	if m.ID.ValueString() != "docker.intro.0123456789ab" || !strings.HasPrefix(m.Digest.ValueString(), "sha256:0123") ||
		tmpl.Workspace.Image != "nalabo-test/shell:1" || len(tmpl.Workspace.Ports) != 1 || tmpl.Workspace.Env["LANG"] != "C.UTF-8" ||
		len(tmpl.Validations) != 1 || m.Duration.ValueString() != "4h" {
		t.Errorf("other attributes changed: id %s digest %s template %+v", m.ID, m.Digest, tmpl)
	}

	// All defaults: resources null.
	var d workshopTemplateModel
	upgradeThroughServer(t, "nalabo_workshop_template",
		strings.Replace(templateStateV0, `"cpu": "250m"`, `"cpu": "1000m"`, 1), r, &d)
	if !d.Resources.IsNull() || resourcesFrom(ctx, d.EffectiveResources, nd()).CPU.ValueString() != "1000m" {
		t.Errorf("defaults only: resources %s effective %s", d.Resources, d.EffectiveResources)
	}
	// Null resources (never written by version 0, but harmless).
	var n workshopTemplateModel
	upgradeThroughServer(t, "nalabo_workshop_template",
		strings.Replace(templateStateV0, `{"cpu": "250m", "memory": "2Gi", "storage": "10Gi"}`, `null`, 1), r, &n)
	if !n.Resources.IsNull() || !n.EffectiveResources.IsNull() {
		t.Errorf("null resources: resources %s effective %s", n.Resources, n.EffectiveResources)
	}
}

func TestSessionStateUpgradeV0(t *testing.T) {
	ctx := context.Background()
	r := &workshopSessionResource{}
	if v := schemaOf(t, r).Schema.Version; v != 1 {
		t.Fatalf("session schema version %d, want 1", v)
	}
	var m workshopSessionModel
	upgradeThroughServer(t, "nalabo_workshop_session", sessionStateV0, r, &m)
	if !m.Resources.IsNull() {
		t.Errorf("resources = %s, want null", m.Resources)
	}
	eff := resourcesFrom(ctx, m.EffectiveResources, nd())
	if eff.CPU.ValueString() != "500m" || eff.Memory.ValueString() != "64Mi" || eff.Storage.ValueString() != "10Gi" {
		t.Errorf("effective_resources = %+v", eff)
	}
	if m.ID.ValueString() != "0123456789" || m.ExpiresAt.ValueString() != "2030-01-02T07:04:05Z" ||
		len(m.Ports.Elements()) != 1 || m.NetworkName.ValueString() != "nalabo-network-0123456789" || !m.VCluster.IsNull() {
		t.Errorf("other attributes changed: %+v", m)
	}
	create, _ := m.Timeouts.Create(ctx, 0)
	if create.String() != "20m0s" {
		t.Errorf("timeouts.create = %s", create)
	}

	// A state that is not JSON cannot be upgraded: a clear error, not a panic.
	srv := providerserver.NewProtocol6(newTestProvider())()
	resp, err := srv.UpgradeResourceState(ctx, &tfprotov6.UpgradeResourceStateRequest{
		TypeName: "nalabo_workshop_session", Version: 0, RawState: &tfprotov6.RawState{JSON: []byte(`{"resources": "x"}`)},
	})
	if err != nil || len(resp.Diagnostics) == 0 || !strings.Contains(resp.Diagnostics[0].Detail, "resources is not an object") {
		t.Errorf("bad state: err %v diags %+v", err, resp.Diagnostics)
	}
}

// After a state upgrade (resources null in state) the configured resources show as a
// one-time in-place update: it writes the state and leaves the backend alone, while
// a real change still reaches it.
func TestSessionUpdateConfigurationOnly(t *testing.T) {
	ctx := context.Background()
	f := newFakeBackend()
	tmpl, _ := f.ApplyTemplate(ctx, &workshop.Template{
		Name: "intro", Infrastructure: workshop.InfraDocker, Workspace: workshop.Workspace{Image: "shell:1"}, Duration: "4h",
	})
	plan := sessionModel(tmpl.ID, "ada")
	plan.Resources = cpuOnly("500m", "")
	state := createSession(t, f, plan, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	upgraded := state
	upgraded.Resources = types.MapNull(types.StringType)

	r := &workshopSessionResource{data: fakeProviderData(f)}
	s := schemaOf(t, r)
	update := func(plan, state workshopSessionModel) workshopSessionModel {
		t.Helper()
		req := resource.UpdateRequest{
			Plan:  tfsdk.Plan{Schema: s.Schema, Raw: rawOf(t, s, &plan)},
			State: tfsdk.State{Schema: s.Schema, Raw: rawOf(t, s, &state)},
		}
		resp := resource.UpdateResponse{State: tfsdk.State{Schema: s.Schema, Raw: rawOf(t, s, &state)}}
		r.Update(ctx, req, &resp)
		if resp.Diagnostics.HasError() {
			t.Fatalf("update: %v", resp.Diagnostics)
		}
		var out workshopSessionModel
		if d := resp.State.Get(ctx, &out); d.HasError() {
			t.Fatal(d)
		}
		return out
	}

	out := update(state, upgraded)
	if f.updates != 0 {
		t.Errorf("a configuration-only change called UpdateSession %d times", f.updates)
	}
	if !out.Resources.Equal(state.Resources) || !out.EffectiveResources.Equal(state.EffectiveResources) {
		t.Errorf("state after the update: resources %s effective %s", out.Resources, out.EffectiveResources)
	}

	// Positive control: a new cpu reaches the backend.
	bigger := state
	bigger.Resources = cpuOnly("700m", "")
	bigger.EffectiveResources = resourcesModel{CPU: types.StringValue("700m"), Memory: types.StringValue("2Gi"), Storage: types.StringValue("10Gi")}.object(nd())
	update(bigger, state)
	if f.updates != 1 || f.sessions[state.ID.ValueString()].Resources.CPU != "700m" {
		t.Errorf("a cpu change: %d updates, live cpu %s", f.updates, f.sessions[state.ID.ValueString()].Resources.CPU)
	}
}
