package provider

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// State upgrades. Schema version 1 of nalabo_workshop_template and
// nalabo_workshop_session turned `resources` from a nested object (whose misspelt keys
// Terraform drops silently) into a map(string) holding only the configured keys, and
// moved the values in force to the computed `effective_resources`. The upgrades work
// on the raw JSON, so that attributes they do not touch pass through as they are.

const (
	templateSchemaVersion = 1
	sessionSchemaVersion  = 1
)

var (
	_ resource.ResourceWithUpgradeState = (*workshopTemplateResource)(nil)
	_ resource.ResourceWithUpgradeState = (*workshopSessionResource)(nil)
)

func (r *workshopTemplateResource) UpgradeState(context.Context) map[int64]resource.StateUpgrader {
	return map[int64]resource.StateUpgrader{
		0: {StateUpgrader: func(_ context.Context, req resource.UpgradeStateRequest, resp *resource.UpgradeStateResponse) {
			upgradeRawState(req, resp, upgradeTemplateV0)
		}},
	}
}

func (r *workshopSessionResource) UpgradeState(context.Context) map[int64]resource.StateUpgrader {
	return map[int64]resource.StateUpgrader{
		0: {StateUpgrader: func(_ context.Context, req resource.UpgradeStateRequest, resp *resource.UpgradeStateResponse) {
			upgradeRawState(req, resp, upgradeSessionV0)
		}},
	}
}

// upgradeTemplateV0: the old `resources` object (the configured values over the
// defaults, as the digest has them) becomes `effective_resources`; `resources` keeps
// the values that differ from the defaults, the best guess of what the configuration
// wrote. The digest and id do not change, so no session is replaced; a configuration
// that spells out a default value sees a one-time in-place update of `resources`.
func upgradeTemplateV0(attrs map[string]json.RawMessage) error {
	old, err := rawResources(attrs["resources"])
	if err != nil {
		return err
	}
	var infra string
	if raw, ok := attrs["infrastructure_type"]; ok {
		_ = json.Unmarshal(raw, &infra)
	}
	attrs["effective_resources"] = attrs["resources"]
	if old == nil {
		attrs["effective_resources"] = json.RawMessage("null")
		attrs["resources"] = json.RawMessage("null")
		return nil
	}
	nd := nonDefaultResources(*old, workshop.InfrastructureType(infra))
	keep := map[string]string{}
	for k, v := range map[string]string{"cpu": nd.CPU.ValueString(), "memory": nd.Memory.ValueString(), "storage": nd.Storage.ValueString()} {
		if v != "" {
			keep[k] = v
		}
	}
	return setRaw(attrs, "resources", keep)
}

// upgradeSessionV0: the old `resources` object (the values in force, configured or
// inherited) becomes `effective_resources`; `resources` starts null, since the state
// does not tell which values were configured. A session whose configuration sets
// resources sees a one-time in-place update that changes no limit.
func upgradeSessionV0(attrs map[string]json.RawMessage) error {
	if _, err := rawResources(attrs["resources"]); err != nil {
		return err
	}
	attrs["effective_resources"] = attrs["resources"]
	if attrs["effective_resources"] == nil {
		attrs["effective_resources"] = json.RawMessage("null")
	}
	attrs["resources"] = json.RawMessage("null")
	return nil
}

// rawResources reads a version 0 `resources` object (nil when null or absent).
func rawResources(raw json.RawMessage) (*workshop.Resources, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var o struct {
		CPU     *string `json:"cpu"`
		Memory  *string `json:"memory"`
		Storage *string `json:"storage"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("resources is not an object of cpu, memory and storage: %w", err)
	}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return &workshop.Resources{CPU: deref(o.CPU), Memory: deref(o.Memory), Storage: deref(o.Storage)}, nil
}

// setRaw sets an attribute to the JSON of v; an empty map is null.
func setRaw(attrs map[string]json.RawMessage, name string, v map[string]string) error {
	if len(v) == 0 {
		attrs[name] = json.RawMessage("null")
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	attrs[name] = b
	return nil
}

// upgradeRawState applies a JSON transformation to a prior state.
func upgradeRawState(req resource.UpgradeStateRequest, resp *resource.UpgradeStateResponse, transform func(map[string]json.RawMessage) error) {
	fail := func(err error) {
		resp.Diagnostics.Append(diag.NewErrorDiagnostic("Cannot upgrade the state",
			fmt.Sprintf("The stored state could not be upgraded to this provider version's schema: %v. "+
				"Remove the resource from the state (terraform state rm) and import it again.", err)))
	}
	if req.RawState == nil || len(req.RawState.JSON) == 0 {
		fail(fmt.Errorf("no JSON state (written by a Terraform version older than 0.12?)"))
		return
	}
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(req.RawState.JSON, &attrs); err != nil {
		fail(err)
		return
	}
	if err := transform(attrs); err != nil {
		fail(err)
		return
	}
	out, err := json.Marshal(attrs)
	if err != nil {
		fail(err)
		return
	}
	resp.DynamicValue = &tfprotov6.DynamicValue{JSON: out}
}
