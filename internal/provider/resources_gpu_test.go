package provider

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestSessionPlanUpdateGPU: a session's GPUs come from its template unless configured,
// are null without one (a state from before the keys plans no change), and a change
// replaces the session.
func TestSessionPlanUpdateGPU(t *testing.T) {
	ctx := context.Background()
	state := sessionModel("kubernetes.cuda.0123456789ab", "ada")
	state.ID = types.StringValue("0123456789")
	state.Duration = types.StringValue("4h")
	state.InfrastructureType = types.StringValue("kubernetes")
	state.Status = types.StringValue("running")
	state.CreatedAt = types.StringValue("2030-01-02T03:04:05Z")
	state.ExpiresAt = types.StringValue("2030-01-02T07:04:05Z")
	base := resourcesModel{CPU: types.StringValue("2000m"), Memory: types.StringValue("4Gi"), Storage: types.StringValue("20Gi")}
	withGPU := base
	withGPU.GPU, withGPU.GPUResource = types.StringValue("1"), types.StringValue(workshop.DefaultGPUResource)
	noGPU := base
	noGPU.GPU, noGPU.GPUResource = types.StringNull(), types.StringNull()
	inherit := func(gpu string) *inheritedSettings {
		return &inheritedSettings{Resources: workshop.Resources{CPU: "2000m", Memory: "4Gi", Storage: "20Gi", GPU: gpu}, Duration: "4h"}
	}
	run := func(cfg map[string]string, prior resourcesModel, inherited *inheritedSettings) (resourcesModel, string) {
		config := sessionModel(state.TemplateID.ValueString(), "ada")
		config.Duration = types.StringNull()
		config.Resources = types.MapNull(types.StringType)
		if len(cfg) > 0 {
			elems := map[string]attr.Value{}
			for k, v := range cfg {
				elems[k] = types.StringValue(v)
			}
			config.Resources = types.MapValueMust(types.StringType, elems)
		}
		st := state
		st.EffectiveResources = prior.object(nd())
		plan := st
		plan.Resources, plan.Duration = config.Resources, config.Duration
		replace := planSessionUpdate(ctx, &plan, config, st, inherited, false, nd())
		return resourcesFrom(ctx, plan.EffectiveResources, nd()), replace.String()
	}
	// Inherited, unchanged: in place.
	if got, replace := run(nil, withGPU, inherit("1")); got.GPU.ValueString() != "1" || got.GPUResource.ValueString() != workshop.DefaultGPUResource || replace != "[]" {
		t.Errorf("inherited gpu: %+v replace %s", got, replace)
	}
	// A state from before the GPU keys (null) and a template without GPU: no change.
	if got, replace := run(nil, noGPU, inherit("")); !got.GPU.IsNull() || !got.GPUResource.IsNull() || replace != "[]" {
		t.Errorf("no gpu: %+v replace %s", got, replace)
	}
	// Turned off in the session: replaced.
	if got, replace := run(map[string]string{"gpu": "0"}, withGPU, inherit("1")); got.GPU.ValueString() != "0" || !got.GPUResource.IsNull() || replace != "[effective_resources.gpu]" {
		t.Errorf("gpu 0: %+v replace %s", got, replace)
	}
	// Another resource name: replaced.
	if got, replace := run(map[string]string{"gpu_resource": "amd.com/gpu"}, withGPU, inherit("1")); got.GPUResource.ValueString() != "amd.com/gpu" || replace != "[effective_resources.gpu]" {
		t.Errorf("amd: %+v replace %s", got, replace)
	}
}
