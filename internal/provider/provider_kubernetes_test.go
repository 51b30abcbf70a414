package provider

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// providerConfig builds a provider configuration whose kubernetes block sets
// config_path to v (or omits the block when v is nil).
func providerConfig(t *testing.T, p provider.Provider, k8s map[string]tftypes.Value) tfsdk.Config {
	t.Helper()
	var sr provider.SchemaResponse
	p.Schema(context.Background(), provider.SchemaRequest{}, &sr)
	typ := acctest.As[tftypes.Object](t, sr.Schema.Type().TerraformType(context.Background()))
	vals := map[string]tftypes.Value{}
	for name, at := range typ.AttributeTypes {
		vals[name] = tftypes.NewValue(at, nil)
	}
	if k8s != nil {
		kt := acctest.As[tftypes.Object](t, typ.AttributeTypes["kubernetes"])
		kv := map[string]tftypes.Value{}
		for name, at := range kt.AttributeTypes {
			if v, ok := k8s[name]; ok {
				kv[name] = v
			} else {
				kv[name] = tftypes.NewValue(at, nil)
			}
		}
		vals["kubernetes"] = tftypes.NewValue(kt, kv)
	}
	return tfsdk.Config{Schema: sr.Schema, Raw: tftypes.NewValue(typ, vals)}
}

func TestProviderConfigureKubernetes(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("K8S_ENDPOINT", "")
	t.Setenv("K8S_NAMESPACE", "")
	ctx := context.Background()
	unknownPath := map[string]tftypes.Value{"config_path": tftypes.NewValue(tftypes.String, tftypes.UnknownValue)}
	knownHost := map[string]tftypes.Value{
		"host":     tftypes.NewValue(tftypes.String, "https://127.0.0.1:1"),
		"insecure": tftypes.NewValue(tftypes.Bool, true),
	}

	configure := func(k8s map[string]tftypes.Value, deferralAllowed bool) (*provider.ConfigureResponse, *providerData) {
		p := newTestProvider()
		req := provider.ConfigureRequest{Config: providerConfig(t, p, k8s)}
		req.ClientCapabilities.DeferralAllowed = deferralAllowed
		resp := &provider.ConfigureResponse{}
		p.Configure(ctx, req, resp)
		if resp.Diagnostics.HasError() {
			t.Fatalf("configure: %v", resp.Diagnostics)
		}
		d, _ := resp.ResourceData.(*providerData)
		return resp, d
	}

	// Unknown configuration, client supports deferral: the provider defers.
	resp, _ := configure(unknownPath, true)
	if resp.Deferred == nil || resp.Deferred.Reason != provider.DeferredReasonProviderConfigUnknown {
		t.Fatalf("unknown config with deferral allowed: Deferred = %+v, want ProviderConfigUnknown", resp.Deferred)
	}

	// Unknown configuration, no deferral: a clear diagnostic on use, no dial.
	resp, d := configure(unknownPath, false)
	if resp.Deferred != nil || d == nil {
		t.Fatalf("no deferral expected, got %+v", resp.Deferred)
	}
	_, diags := d.Backend(ctx, workshop.InfraKubernetes)
	wantSummary(t, diags, "Kubernetes backend not configured yet")

	// No block, no environment: not configured, with a diagnostic that says how.
	_, d = configure(nil, false)
	if got := d.configuredBackends(); len(got) != 1 || got[0] != workshop.InfraDocker {
		t.Fatalf("configured backends without kubernetes: %v", got)
	}
	_, diags = d.Backend(ctx, workshop.InfraKubernetes)
	wantSummary(t, diags, "Kubernetes backend not configured")

	// KUBECONFIG alone configures the backend.
	t.Setenv("KUBECONFIG", "/nonexistent/kubeconfig")
	_, d = configure(nil, false)
	if got := d.configuredBackends(); len(got) != 2 || got[1] != workshop.InfraKubernetes {
		t.Fatalf("configured backends with KUBECONFIG: %v", got)
	}
	t.Setenv("KUBECONFIG", "")

	// A known block: configured; the cluster is dialled only on use, and an unreachable
	// one is named.
	_, d = configure(knownHost, false)
	_, diags = d.Backend(ctx, workshop.InfraKubernetes)
	wantSummary(t, diags, "Cannot reach the Kubernetes cluster")
}

func wantSummary(t *testing.T, diags diag.Diagnostics, summary string) {
	t.Helper()
	for _, d := range diags {
		if d.Summary() == summary {
			return
		}
	}
	t.Fatalf("want a diagnostic %q, got %v", summary, diags)
}

func TestExpandHome(t *testing.T) {
	t.Setenv("HOME", "/home/ada")
	for in, want := range map[string]string{
		"~/.kube/config":        "/home/ada/.kube/config",
		"/etc/k:~/.kube/config": "/etc/k:/home/ada/.kube/config",
		"/etc/kubeconfig":       "/etc/kubeconfig",
		"~":                     "/home/ada",
	} {
		if got := expandHome(in); got != want {
			t.Errorf("expandHome(%q) = %q, want %q", in, got, want)
		}
	}
}

// The kubernetes.vcluster block reaches the backend's VClusterConfig field by field.
func TestProviderConfigureVCluster(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("K8S_ENDPOINT", "")
	ctx := context.Background()
	p := newTestProvider()
	var sr provider.SchemaResponse
	p.Schema(ctx, provider.SchemaRequest{}, &sr)
	root := acctest.As[tftypes.Object](t, sr.Schema.Type().TerraformType(ctx))
	vt := acctest.As[tftypes.Object](t, acctest.As[tftypes.Object](t, root.AttributeTypes["kubernetes"]).AttributeTypes["vcluster"])
	set := map[string]tftypes.Value{
		"chart_path":           tftypes.NewValue(tftypes.String, "/charts/vcluster"),
		"values":               tftypes.NewValue(tftypes.String, "telemetry: {enabled: false}\n"),
		"image_pull_policy":    tftypes.NewValue(tftypes.String, "Never"),
		"control_plane_cpu":    tftypes.NewValue(tftypes.String, "1500m"),
		"control_plane_memory": tftypes.NewValue(tftypes.String, "2Gi"),
		"persistence":          tftypes.NewValue(tftypes.Bool, true),
		"persistence_size":     tftypes.NewValue(tftypes.String, "3Gi"),
		"storage_class":        tftypes.NewValue(tftypes.String, "local-path"),
	}
	vals := map[string]tftypes.Value{}
	for name, at := range vt.AttributeTypes {
		if v, ok := set[name]; ok {
			vals[name] = v
		} else {
			vals[name] = tftypes.NewValue(at, nil)
		}
	}
	req := provider.ConfigureRequest{Config: providerConfig(t, p, map[string]tftypes.Value{
		"host":     tftypes.NewValue(tftypes.String, "https://127.0.0.1:1"),
		"insecure": tftypes.NewValue(tftypes.Bool, true),
		"vcluster": tftypes.NewValue(vt, vals),
	})}
	resp := &provider.ConfigureResponse{}
	p.Configure(ctx, req, resp)
	if resp.Diagnostics.HasError() {
		t.Fatalf("configure: %v", resp.Diagnostics)
	}
	cfg, ok := acctest.As[*providerData](t, resp.ResourceData).vclusterConfig()
	if !ok {
		t.Fatal("vcluster configuration not known")
	}
	if cfg.ChartPath != "/charts/vcluster" || cfg.ImagePullPolicy != "Never" || cfg.ControlPlaneCPU != "1500m" ||
		cfg.ControlPlaneMemory != "2Gi" || !cfg.Persistence || cfg.PersistenceSize != "3Gi" || cfg.StorageClass != "local-path" ||
		cfg.Values != "telemetry: {enabled: false}\n" {
		t.Errorf("vcluster config: %+v", cfg)
	}
}
