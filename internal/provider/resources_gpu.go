package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// GPUs in `resources`: `gpu` (a count of whole GPUs, "0" for none) and `gpu_resource`
// (the extended resource name, default nvidia.com/gpu), inherited session > template
// like the other keys. In effective_resources both are null when there is no GPU, so
// that sessions created before the keys existed plan no change.

// resourcesGPUDoc is the part of a `resources` description about the GPU keys.
const resourcesGPUDoc = " `gpu` (a whole number of GPUs, for example `1`; `0` turns off the template's; none by default) " +
	"and `gpu_resource` (the GPU's extended resource name, default `" + workshop.DefaultGPUResource + "`; " +
	"Kubernetes: whatever the nodes' device plugin advertises, such as `amd.com/gpu`; Docker: NVIDIA only, through a device " +
	"request of the `nvidia` driver, so the host needs the NVIDIA Container Toolkit). On Kubernetes both isolations take GPUs: " +
	"the session's host namespace quota gets `requests.<gpu_resource>` (0 without a GPU), so that no pod of the participant's, " +
	"in a vCluster either, can take more; swarm templates cannot have one. Changing a session's GPU replaces it."

// gpuCount accepts a whole number of GPUs, 0 to workshop.MaxGPUs.
func gpuCount() validator.String {
	return checkValidator{"Invalid GPU count",
		"must be a whole number of GPUs such as `1`, `0` for none", discard(workshop.ParseGPUCount)}
}

// gpuResourceName accepts an extended resource name ("nvidia.com/gpu").
func gpuResourceName() validator.String {
	return checkValidator{"Invalid GPU resource name",
		"must be an extended resource name such as `nvidia.com/gpu`", func(s string) error { return workshop.ValidateGPUResource(s) }}
}

// effectiveGPUAttributes are the GPU attributes of an effective_resources object.
func effectiveGPUAttributes(mods ...planmodifier.String) map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"gpu": schema.StringAttribute{MarkdownDescription: "GPUs of the session (null: none).",
			Computed: true, PlanModifiers: mods},
		"gpu_resource": schema.StringAttribute{MarkdownDescription: "The GPUs' extended resource name (null without a GPU).",
			Computed: true, PlanModifiers: mods},
	}
}

func nullResources() resourcesModel {
	return resourcesModel{CPU: types.StringNull(), Memory: types.StringNull(), Storage: types.StringNull(),
		GPU: types.StringNull(), GPUResource: types.StringNull()}
}

func unknownResources() resourcesModel {
	return resourcesModel{CPU: types.StringUnknown(), Memory: types.StringUnknown(), Storage: types.StringUnknown(),
		GPU: types.StringUnknown(), GPUResource: types.StringUnknown()}
}

// resourcesModelOf is the effective_resources of resources in force (empty: null).
func resourcesModelOf(r workshop.Resources) resourcesModel {
	m := resourcesModel{
		CPU:     optString(r.CPU, types.StringNull()),
		Memory:  optString(r.Memory, types.StringNull()),
		Storage: optString(r.Storage, types.StringNull()),
	}
	m.GPU, m.GPUResource = effectiveGPU(optString(r.GPU, types.StringNull()), optString(r.GPUResource, types.StringNull()))
	return m
}

// effectiveGPU is the effective gpu and gpu_resource of a count and name that already
// hold what is inherited: no count (or "0") is no GPU, a count without a name takes
// workshop.DefaultGPUResource; an unknown count makes the name unknown.
func effectiveGPU(gpu, name types.String) (types.String, types.String) {
	if gpu.IsUnknown() {
		if name.IsNull() {
			name = types.StringUnknown()
		}
		return gpu, name
	}
	if gpu.IsNull() {
		return types.StringNull(), types.StringNull()
	}
	if n, err := workshop.ParseGPUCount(gpu.ValueString()); err == nil && n == 0 {
		return gpu, types.StringNull()
	}
	if name.IsNull() {
		name = types.StringValue(workshop.DefaultGPUResource)
	}
	return gpu, name
}

// orInheritedOpt is v when known, else the inherited value ("" is null).
func orInheritedOpt(v types.String, inherited string) types.String {
	if knownString(v) {
		return v
	}
	return optString(inherited, types.StringNull())
}

// nullIfUnknown is v, or null when v is unknown.
func nullIfUnknown(v types.String) types.String {
	if v.IsUnknown() {
		return types.StringNull()
	}
	return v
}

// withAttributes is a with the attributes of more added.
func withAttributes(a map[string]schema.Attribute, more ...map[string]schema.Attribute) map[string]schema.Attribute {
	for _, m := range more {
		for k, v := range m {
			a[k] = v
		}
	}
	return a
}
