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
