package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// digestAttribute is one attribute whose change changes a template's digest (so its
// ID: a plan must show id, digest and images unknown), with the value the comparison
// sees under the template's digest rules.
type digestAttribute struct {
	name  string
	value func(ctx context.Context, m workshopTemplateModel, rules workshop.DigestRules) attr.Value
}

// digestAttributes is the provider's side of the digest contract: every field of
// workshop.SealTemplate's input that comes from the configuration, by attribute name
// (workshop.DigestFields; a test keeps the two in step). Validations, timeouts and the
// computed id, digest and images do not shape the digest.
var digestAttributes = []digestAttribute{
	{"name", func(_ context.Context, m workshopTemplateModel, _ workshop.DigestRules) attr.Value { return m.Name }},
	{"infrastructure_type", func(_ context.Context, m workshopTemplateModel, _ workshop.DigestRules) attr.Value {
		return m.InfrastructureType
	}},
	{"isolation", func(_ context.Context, m workshopTemplateModel, _ workshop.DigestRules) attr.Value {
		return m.Isolation
	}},
	// Under RulesContent the build context's path is not hashed (its files are, through
	// context_sha256): a moved configuration keeps the template's ID.
	{"workspace", func(ctx context.Context, m workshopTemplateModel, rules workshop.DigestRules) attr.Value {
		if rules == workshop.RulesContent {
			return workspaceWithoutContext(ctx, m)
		}
		return m.Workspace
	}},
	{"manifests", func(_ context.Context, m workshopTemplateModel, _ workshop.DigestRules) attr.Value {
		return m.Manifests
	}},
	{"compose", func(_ context.Context, m workshopTemplateModel, _ workshop.DigestRules) attr.Value { return m.Compose }},
	{"effective_resources", func(_ context.Context, m workshopTemplateModel, _ workshop.DigestRules) attr.Value {
		return m.EffectiveResources
	}},
	{"duration", func(_ context.Context, m workshopTemplateModel, _ workshop.DigestRules) attr.Value { return m.Duration }},
	{"pod_security", func(_ context.Context, m workshopTemplateModel, _ workshop.DigestRules) attr.Value {
		return m.PodSecurity
	}},
	{"docker_in_docker", func(_ context.Context, m workshopTemplateModel, _ workshop.DigestRules) attr.Value {
		return m.DockerInDocker
	}},
	// Likewise the Compose directory's path (its files are hashed in compose_builds).
	{"compose_directory", func(_ context.Context, m workshopTemplateModel, rules workshop.DigestRules) attr.Value {
		if rules == workshop.RulesContent {
			return types.StringNull()
		}
		return m.ComposeDirectory
	}},
	{"compose_builds", func(_ context.Context, m workshopTemplateModel, _ workshop.DigestRules) attr.Value {
		return m.ComposeBuilds
	}},
	{"vcluster_values", func(_ context.Context, m workshopTemplateModel, _ workshop.DigestRules) attr.Value {
		return m.VClusterValues
	}},
	{"egress", func(_ context.Context, m workshopTemplateModel, _ workshop.DigestRules) attr.Value {
		return egressDigestValue(m.Egress)
	}},
}

// changedDigestAttributes names the digest-shaping attributes that differ between plan
// and state.
func changedDigestAttributes(ctx context.Context, plan, state workshopTemplateModel, rules workshop.DigestRules) []string {
	var changed []string
	for _, a := range digestAttributes {
		if !valuesEqual(a.value(ctx, plan, rules), a.value(ctx, state, rules)) {
			changed = append(changed, a.name)
		}
	}
	return changed
}
