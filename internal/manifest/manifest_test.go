package manifest

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	objs, err := Parse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: x}\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[1].Kind != "Deployment" || objs[1].Namespace != "x" {
		t.Fatalf("objects: %+v", objs)
	}
	for _, tc := range []struct{ in, want string }{
		{"apiVersion: v1\nkind: [\n", "document 1: not valid YAML"},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nmetadata: {name: b}\n", "document 2 (line 5): has no apiVersion and kind"},
		{"- a\n- b\n", "document 1 (line 1): is not a mapping"},
		{"apiVersion: v1\nkind: ConfigMap\n", "ConfigMap has no metadata.name"},
		{"---\n", "no Kubernetes object"},
	} {
		_, err := Parse(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}
