package workshop

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// digestTemplates are templates of every kind, legacy and owned.
func digestTemplates() map[string]*Template {
	base := func() *Template {
		return &Template{Name: "t", Infrastructure: InfraDocker, Duration: "2h",
			Resources: DefaultResources(InfraDocker), Workspace: Workspace{Image: "shell:1", Env: map[string]string{"A": "<&>"}}}
	}
	out := map[string]*Template{}
	for _, owner := range []string{"", "0123abcd"} {
		t := base()
		t.Owner = owner
		out["image "+owner] = t

		t = base()
		t.Owner, t.Egress, t.DockerInDocker = owner, EgressOpen, true
		t.Workspace = Workspace{Build: &Build{Context: "/src/ctx", Dockerfile: "Dockerfile", ContextDigest: "abc"}, Ports: []int{8080}}
		t.Images = map[string]string{"b:1": "sha256:2", "a:1": "sha256:1"}
		out["build "+owner] = t

		t = base()
		t.Owner, t.Egress = owner, EgressRestricted
		t.Compose, t.ComposeDir = "services: {web: {image: nginx}}\n", "/src/compose"
		t.ComposeBuilds = map[string]string{"web": "d1", "api": "d2"}
		out["compose "+owner] = t

		t = base()
		t.Owner, t.Compose, t.ComposeBuilds = owner, "services: {}\n", map[string]string{}
		out["compose without builds "+owner] = t

		t = base()
		t.Owner, t.Infrastructure, t.Isolation, t.PodSecurity = owner, InfraKubernetes, IsolationVCluster, "baseline"
		t.Manifests, t.VClusterValues, t.Egress = "apiVersion: v1\nkind: ConfigMap\n", "sync: {}\n", EgressNone
		out["kubernetes "+owner] = t
	}
	return out
}

// TestSealTemplateDigestUnchanged: the table-driven digest is byte for byte the one
// templates were sealed with before (frozenDigest), so no stored template changes ID.
func TestSealTemplateDigestUnchanged(t *testing.T) {
	for name, tmpl := range digestTemplates() {
		want := frozenDigest(tmpl)
		SealTemplate(tmpl)
		if tmpl.Digest != want {
			t.Errorf("%s: digest %s, was %s", name, tmpl.Digest, want)
		}
	}
	// Positive control: the comparison sees a change.
	tmpl := digestTemplates()["image "]
	want := frozenDigest(tmpl)
	tmpl.Duration = "3h"
	if SealTemplate(tmpl); tmpl.Digest == want {
		t.Error("a changed duration kept the digest")
	}
}

// digestMutations changes one attribute of a template; every DigestFields attribute
// needs one (TestDigestFieldsShapeTheDigest).
var digestMutations = map[string]func(*Template){
	"name":                func(t *Template) { t.Name = "u" },
	"infrastructure_type": func(t *Template) { t.Infrastructure = InfraKubernetes },
	"isolation":           func(t *Template) { t.Isolation = IsolationNamespace },
	"workspace":           func(t *Template) { t.Workspace.Build.ContextDigest = "def" },
	"manifests":           func(t *Template) { t.Manifests = "x" },
	"compose":             func(t *Template) { t.Compose += "# more\n" },
	"effective_resources": func(t *Template) { t.Resources.CPU = "500m" },
	"duration":            func(t *Template) { t.Duration = "3h" },
	"pod_security":        func(t *Template) { t.PodSecurity = "restricted" },
	"docker_in_docker":    func(t *Template) { t.DockerInDocker = true },
	"compose_directory":   func(t *Template) { t.ComposeDir = "/elsewhere" }, // legacy rules: the path counts
	"compose_builds":      func(t *Template) { t.ComposeBuilds["web"] = "d9" },
	"vcluster_values":     func(t *Template) { t.VClusterValues = "x: 1\n" },
	"egress":              func(t *Template) { t.Egress = EgressNone },
	"placement_constraints": func(t *Template) {
		t.PlacementConstraints = []string{"node.role==worker"}
	},
	"node_selector":      func(t *Template) { t.NodeSelector = map[string]string{"gpu": "a100"} },
	"toleration":         func(t *Template) { t.Tolerations = []Toleration{{Key: "nvidia.com/gpu", Operator: "Exists"}} },
	"runtime_class_name": func(t *Template) { t.RuntimeClassName = "nvidia" },
	// A GPU is part of the template's resources (effective_resources).
	"effective_resources.gpu": func(t *Template) { t.Resources.GPU = "1" },
}

// TestDigestFieldsShapeTheDigest: each attribute the table names changes the digest,
// and the table names every attribute that does (a mutation without an entry fails).
func TestDigestFieldsShapeTheDigest(t *testing.T) {
	named := map[string]bool{}
	for _, f := range DigestFields() {
		if f.Attribute == "" {
			continue
		}
		named[f.Attribute] = true
		if digestMutations[f.Attribute] == nil {
			t.Errorf("no mutation for digest attribute %s", f.Attribute)
		}
	}
	for attr, mutate := range digestMutations {
		if !named[strings.Split(attr, ".")[0]] {
			t.Errorf("%s changes the digest but DigestFields does not name it", attr)
		}
		tmpl := &Template{Name: "t", Infrastructure: InfraDocker, Duration: "2h", Resources: DefaultResources(InfraDocker),
			Compose: "services: {}\n", ComposeDir: "/c", ComposeBuilds: map[string]string{"web": "d1"},
			Workspace: Workspace{Build: &Build{Context: "/ctx", ContextDigest: "abc"}}}
		SealTemplate(tmpl)
		before := tmpl.Digest
		mutate(tmpl)
		if SealTemplate(tmpl); tmpl.Digest == before {
			t.Errorf("changing %s kept the digest", attr)
		}
	}
	// What is not in the table does not shape the digest.
	tmpl := &Template{Name: "t", Infrastructure: InfraDocker, Workspace: Workspace{Image: "i"}}
	SealTemplate(tmpl)
	before := tmpl.Digest
	tmpl.Instructions, tmpl.Validations = "read me", []Validation{{Name: "v", Command: []string{"true"}}}
	if SealTemplate(tmpl); tmpl.Digest != before {
		t.Error("instructions or validations changed the digest")
	}
}

// frozenDigestInput is the digest input as a struct, before DigestFields: the oracle of
// TestSealTemplateDigestUnchanged.
type frozenDigestInput struct {
	Name           string             `json:"name"`
	Infrastructure InfrastructureType `json:"infrastructure_type"`
	Isolation      Isolation          `json:"isolation"`
	Workspace      Workspace          `json:"workspace"`
	Manifests      string             `json:"manifests"`
	Compose        string             `json:"compose"`
	Resources      Resources          `json:"resources"`
	Duration       string             `json:"duration"`
	PodSecurity    string             `json:"pod_security"`
	DockerInDocker bool               `json:"docker_in_docker"`
	Images         [][2]string        `json:"images"`
	// Omitted when empty, so templates without them keep their digests.
	ComposeDir     string      `json:"compose_directory,omitempty"`
	ComposeBuilds  [][2]string `json:"compose_builds,omitempty"`
	VClusterValues string      `json:"vcluster_values,omitempty"`
	// Only "open" and "none": restricted is the default of templates that predate the
	// attribute, which keep their digests (and their sessions).
	Egress Egress `json:"egress,omitempty"`
	// Rules is RulesContent when it changed what is hashed (a build or a Compose file),
	// so that no content digest can equal a legacy one by accident.
	Rules int `json:"rules,omitempty"`
}

// frozenDigest is SealTemplate as it was, for the comparison.
func frozenDigest(t *Template) string {
	in := frozenDigestInput{
		Name: t.Name, Infrastructure: t.Infrastructure, Isolation: t.Isolation,
		Workspace: t.Workspace, Manifests: t.Manifests, Compose: t.Compose,
		Resources: t.Resources, Duration: t.Duration, PodSecurity: t.PodSecurity,
		DockerInDocker: t.DockerInDocker, VClusterValues: t.VClusterValues,
	}
	content := RulesOf(t.Owner) == RulesContent
	if content && t.Workspace.Build != nil {
		b := *t.Workspace.Build
		b.Context = ""
		in.Workspace.Build = &b
		in.Rules = int(RulesContent)
	}
	if t.Egress != EgressRestricted {
		in.Egress = t.Egress
	}
	for ref, id := range t.Images {
		in.Images = append(in.Images, [2]string{ref, id})
	}
	sort.Slice(in.Images, func(i, j int) bool { return in.Images[i][0] < in.Images[j][0] })
	if t.Compose != "" {
		if content {
			in.Rules = int(RulesContent)
		} else {
			in.ComposeDir = t.ComposeDir
		}
		for svc, d := range t.ComposeBuilds {
			in.ComposeBuilds = append(in.ComposeBuilds, [2]string{svc, d})
		}
		sort.Slice(in.ComposeBuilds, func(i, j int) bool { return in.ComposeBuilds[i][0] < in.ComposeBuilds[j][0] })
	}
	b, _ := json.Marshal(in) // maps marshal with sorted keys
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
