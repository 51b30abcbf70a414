package manifest

import (
	"strings"
	"testing"
)

const webManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec: {}
---
apiVersion: v1
kind: Service
metadata:
  name: web
`

func TestValidateNamespaced(t *testing.T) {
	if err := ValidateNamespaced(webManifest); err != nil {
		t.Fatal(err)
	}
	if err := ValidateNamespaced("  \n"); err != nil {
		t.Fatalf("blank manifests: %v", err)
	}
	for in, want := range map[string]string{
		webManifest + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: boom\n": "document 3 (ClusterRole boom): ClusterRole is cluster-scoped",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: other}\n":                                  "metadata.namespace must not be set",
		"apiVersion: v1\nkind: ConfigMapList\nitems: []\n":                                                          "lists are not supported",
		"apiVersion: v1\nkind: ConfigMap\n":                                                                         "ConfigMap has no metadata.name",
	} {
		if err := ValidateNamespaced(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateNamespaced(%q) = %v, want %q", in, err, want)
		}
	}
	if !ClusterScoped("Namespace") || ClusterScoped("ConfigMap") {
		t.Error("ClusterScoped")
	}
}
