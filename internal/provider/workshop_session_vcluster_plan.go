package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/vcluster"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// vclusterChange is what a plan does about a vcluster session whose recorded release
// differs from what the configuration would install now.
type vclusterChange struct {
	// Replace names the attributes under vcluster whose change needs a new session:
	// the virtual cluster's data store cannot be moved by a Helm upgrade.
	Replace []string
	// InPlace is a chart or values change: a Helm upgrade that restarts the control
	// plane.
	InPlace bool
	// Reason says so in words, for the plan's warning.
	Reason string
}

// compareVCluster decides between nothing, an upgrade in place and a replacement. A
// chart or values hash that was never recorded (a session created before the provider
// recorded them) is not compared: upgrading every such session at once would restart
// their control planes in the middle of a class.
func compareVCluster(recorded, desired workshop.VClusterState) vclusterChange {
	var c vclusterChange
	var moves []string
	for _, f := range []struct{ name, from, to string }{
		{"persistence", recorded.Persistence, desired.Persistence},
		{"backing_store", recorded.BackingStore, desired.BackingStore},
	} {
		if f.from != f.to {
			c.Replace = append(c.Replace, f.name)
			moves = append(moves, fmt.Sprintf("vcluster %s changes from %q to %q", f.name, f.from, f.to))
		}
	}
	if len(c.Replace) > 0 {
		c.Reason = "nalabo_workshop_session: " + strings.Join(moves, " and ") +
			": the virtual cluster's data store cannot be moved in place, so the session will be replaced " +
			"(the participant's work in it is lost)"
		return c
	}
	var changes []string
	if recorded.Chart != "" && recorded.Chart != desired.Chart {
		changes = append(changes, fmt.Sprintf("chart changes from %q to %q", recorded.Chart, desired.Chart))
	}
	if recorded.ValuesSHA256 != "" && recorded.ValuesSHA256 != desired.ValuesSHA256 {
		changes = append(changes, fmt.Sprintf("chart values change (values_sha256 %s to %s)", short(recorded.ValuesSHA256), short(desired.ValuesSHA256)))
	}
	if len(changes) == 0 {
		return c
	}
	c.InPlace = true
	lost := "without persistence the participant's own objects in the virtual cluster are lost"
	if desired.Persistence != "" {
		lost = "the virtual cluster's data is kept on its volume"
	}
	c.Reason = "nalabo_workshop_session: vcluster " + strings.Join(changes, " and ") +
		": the vCluster release is upgraded in place, which restarts its control plane; " + lost +
		" (the template's manifests are applied again)"
	return c
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// planVCluster plans the vcluster attribute of an existing session and returns the
// paths that require replacing it. The attribute keeps the state's value unless the
// desired release can be computed (Kubernetes configured and known, template readable)
// and differs.
func (r *workshopSessionResource) planVCluster(ctx context.Context, plan *workshopSessionModel, state workshopSessionModel, diags *diag.Diagnostics) path.Paths {
	recorded := vclusterStateFrom(ctx, state.VCluster, diags)
	if recorded == nil || !valuesEqual(plan.TemplateID, state.TemplateID) {
		return nil // not a vcluster session, or a new template replaces it anyway
	}
	plan.VCluster = state.VCluster
	desired, ok := r.desiredVCluster(ctx, state)
	if !ok {
		return nil
	}
	desired.Release = recorded.Release
	c := compareVCluster(*recorded, desired)
	if len(c.Replace) == 0 && !c.InPlace {
		return nil
	}
	tflog.Info(ctx, "vcluster release differs from the configuration", map[string]any{
		"session_id": state.ID.ValueString(), "replace": c.Replace, "in_place": c.InPlace,
		"recorded_values_sha256": recorded.ValuesSHA256, "desired_values_sha256": desired.ValuesSHA256,
		"recorded_chart": recorded.Chart, "desired_chart": desired.Chart,
	})
	plan.VCluster = vclusterStateValue(&desired, diags)
	diags.AddAttributeWarning(path.Root("vcluster"), vclusterWarningSummary(c), c.Reason)
	if c.InPlace {
		// A new control plane may come with new credentials.
		plan.Kubeconfig = types.StringUnknown()
		return nil
	}
	var replace path.Paths
	for _, name := range c.Replace {
		replace = append(replace, path.Root("vcluster").AtName(name))
	}
	return replace
}

func vclusterWarningSummary(c vclusterChange) string {
	if c.InPlace {
		return "vCluster control plane restarts"
	}
	return "vCluster session will be replaced"
}

// desiredVCluster is what the session's release would be installed with now; ok is
// false when that cannot be known at plan time (the plan then keeps the state's value
// and never fails for it).
func (r *workshopSessionResource) desiredVCluster(ctx context.Context, state workshopSessionModel) (workshop.VClusterState, bool) {
	fields := map[string]any{"session_id": state.ID.ValueString(), "template_id": state.TemplateID.ValueString()}
	cfg, ok := r.data.vclusterConfig()
	if !ok {
		tflog.Debug(ctx, "kubernetes configuration unknown or absent; the session's vcluster is kept as it is", fields)
		return workshop.VClusterState{}, false
	}
	b, d := r.data.Backend(ctx, workshop.InfraKubernetes)
	if d.HasError() {
		tflog.Debug(ctx, "kubernetes backend unreachable at plan time; the session's vcluster is kept as it is", fields)
		return workshop.VClusterState{}, false
	}
	tmpl, err := b.GetTemplate(ctx, state.TemplateID.ValueString())
	if err != nil {
		fields["error"] = err.Error()
		tflog.Debug(ctx, "template not readable at plan time; the session's vcluster is kept as it is", fields)
		return workshop.VClusterState{}, false
	}
	fp, err := vcluster.Fingerprint(cfg, tmpl, state.ID.ValueString())
	if err != nil {
		fields["error"] = err.Error()
		tflog.Warn(ctx, "the vcluster settings do not build chart values; the session's vcluster is kept as it is", fields)
		return workshop.VClusterState{}, false
	}
	return fp, true
}
