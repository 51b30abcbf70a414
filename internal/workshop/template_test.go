package workshop

import (
	"strings"
	"testing"
)

func TestTemplateVClusterValues(t *testing.T) {
	k8s := func(iso Isolation, values string) *Template {
		return &Template{Name: "vc", Infrastructure: InfraKubernetes, Isolation: iso, VClusterValues: values,
			Workspace: Workspace{Image: "shell:1"}}
	}
	values := "controlPlane:\n  statefulSet:\n    annotations: {x: y}\n"
	for _, ok := range []*Template{k8s(IsolationVCluster, values), k8s("", values), k8s(IsolationNamespace, "")} {
		if err := ok.Validate(); err != nil {
			t.Errorf("isolation %q: %v", ok.Isolation, err)
		}
	}
	bad := map[string]*Template{
		"namespace isolation": k8s(IsolationNamespace, values),
		"docker": {Name: "vc", Infrastructure: InfraDocker, VClusterValues: values,
			Workspace: Workspace{Image: "shell:1"}},
	}
	for name, tmpl := range bad {
		err := tmpl.Validate()
		if err == nil || !strings.Contains(err.Error(), "vcluster_values: ") {
			t.Errorf("%s: %v, want an error naming vcluster_values", name, err)
		}
	}

	// Part of the digest; a template without values keeps its digest.
	a, b := k8s(IsolationVCluster, ""), k8s(IsolationVCluster, values)
	SealTemplate(a)
	SealTemplate(b)
	if a.Digest == b.Digest {
		t.Error("vcluster_values does not change the digest")
	}
	// The digest this template had before vcluster_values existed.
	const before = "sha256:351f5538ca22745217533604c421b78e4a5d62813f148802bcc9ddcfbc152603"
	if a.Digest != before {
		t.Errorf("a template without vcluster_values changed its digest: %s, was %s", a.Digest, before)
	}
}

// TestOwnedTemplateDigest: an owned template's digest does not depend on where its
// build context and Compose directory sit; the owner is part of the ID, not of the
// digest. Legacy templates (no owner) keep their rules, paths included.
func TestOwnedTemplateDigest(t *testing.T) {
	at := func(owner, dir string) *Template {
		tmpl := &Template{Name: "course", Infrastructure: InfraDocker, Owner: owner,
			Workspace: Workspace{Build: &Build{Context: dir + "/ctx", ContextDigest: "abc"}},
			Compose:   "services: {}\n", ComposeDir: dir, ComposeBuilds: map[string]string{"app": "def"},
			Images: map[string]string{"nalabo/course:abc": "sha256:1"}}
		SealTemplate(tmpl)
		return tmpl
	}
	a, b := at("0123abcd", "/runs/run-1/config"), at("0123abcd", "/runs/run-2/config")
	if a.Digest != b.Digest || a.ID != b.ID {
		t.Fatalf("a moved directory changed the owned template: %s / %s", a.ID, b.ID)
	}
	if !strings.HasSuffix(a.ID, ".0123abcd") || strings.Count(a.ID, ".") != 3 {
		t.Fatalf("owned ID %q does not end with its owner", a.ID)
	}
	other := at("ffff0000", "/runs/run-1/config")
	if other.Digest != a.Digest || other.ID == a.ID {
		t.Fatalf("two owners: digests %s / %s must be equal, IDs %s / %s different", other.Digest, a.Digest, other.ID, a.ID)
	}
	la, lb := at("", "/runs/run-1/config"), at("", "/runs/run-2/config")
	if la.Digest == lb.Digest {
		t.Fatal("legacy rules no longer include the paths: templates stored before ownership would change IDs")
	}
	if la.Digest == a.Digest {
		t.Fatal("legacy and owned digests coincide")
	}
	// Positive control: content still counts.
	c := at("0123abcd", "/runs/run-1/config")
	c.Workspace.Build.ContextDigest = "abd"
	SealTemplate(c)
	if c.Digest == a.Digest {
		t.Fatal("a changed context digest kept the template digest")
	}
}

func TestParseTemplateID(t *testing.T) {
	good := map[string]string{
		"docker.course.0123456789ab":              "0123456789ab",
		"kubernetes.course.0123456789ab.0a1b2c3d": "0123456789ab-0a1b2c3d",
	}
	for id, key := range good {
		if _, name, k, err := ParseTemplateID(id); err != nil || name != "course" || k != key {
			t.Errorf("%s: %s %s %v", id, name, k, err)
		}
	}
	for _, id := range []string{"docker.course.0123456789ab.0A1B2C3D", "docker.course.0123456789ab.abc",
		"docker.course.0123456789ab.0a1b2c3d.x", "nomad.course.0123456789ab", "docker.course.0123456789ag"} {
		if _, _, _, err := ParseTemplateID(id); err == nil {
			t.Errorf("%s: accepted", id)
		}
	}
	if o := TemplateOwnerOf("docker.course.0123456789ab.0a1b2c3d"); o != "0a1b2c3d" {
		t.Errorf("owner %q", o)
	}
	if o := NewTemplateOwner(); ValidateTemplateOwner(o) != nil {
		t.Errorf("new owner %q invalid", o)
	}
}
