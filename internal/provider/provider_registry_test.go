package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

var registryAuthType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"address": types.StringType, "username": types.StringType, "password": types.StringType,
}}

// registryAuthList builds a registry_auth list; "" is null, "?" unknown.
func registryAuthList(t *testing.T, rows ...[3]string) types.List {
	t.Helper()
	str := func(s string) attr.Value {
		switch s {
		case "":
			return types.StringNull()
		case "?":
			return types.StringUnknown()
		}
		return types.StringValue(s)
	}
	var elems []attr.Value
	for _, r := range rows {
		o, d := types.ObjectValue(registryAuthType.AttrTypes, map[string]attr.Value{"address": str(r[0]), "username": str(r[1]), "password": str(r[2])})
		if d.HasError() {
			t.Fatal(d)
		}
		elems = append(elems, o)
	}
	l, d := types.ListValue(registryAuthType, elems)
	if d.HasError() {
		t.Fatal(d)
	}
	return l
}

func TestRegistryAuthValidator(t *testing.T) {
	validate := func(backend string, l types.List) string {
		req := validator.ListRequest{Path: path.Root(backend).AtName("registry_auth"), ConfigValue: l}
		resp := &validator.ListResponse{}
		uniqueRegistries{backend: backend}.ValidateList(context.Background(), req, resp)
		var msgs []string
		for _, d := range resp.Diagnostics.Errors() {
			msgs = append(msgs, d.Summary()+": "+d.Detail())
		}
		return strings.Join(msgs, "\n")
	}
	good := registryAuthList(t, [3]string{"", "hub", "p"}, [3]string{"registry.example.com", "u", "p"}, [3]string{"?", "u", "p"})
	if msg := validate("docker", good); msg != "" {
		t.Fatalf("valid logins refused: %s", msg)
	}
	for _, tc := range []struct {
		backend string
		list    types.List
		want    string
	}{
		{"docker", registryAuthList(t, [3]string{"registry.example.com", "a", "p"}, [3]string{"https://REGISTRY.example.com/v2/", "b", "s3cr3t"}),
			`docker.registry_auth: "registry.example.com" and "https://REGISTRY.example.com/v2/" are the same registry (registry.example.com)`},
		{"kubernetes", registryAuthList(t, [3]string{"", "a", "p"}, [3]string{"index.docker.io", "b", "p"}),
			`kubernetes.registry_auth: "(no address: Docker Hub)" and "index.docker.io" are the same registry (docker.io)`},
		{"docker", registryAuthList(t, [3]string{"registry.example.com", "a", ""}), `needs a password: only the default login`},
	} {
		msg := validate(tc.backend, tc.list)
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "s3cr3t") {
			t.Errorf("got %q, want %q and no password", msg, tc.want)
		}
	}
	// The default login may take its user name and password from the environment.
	if msg := validate("docker", registryAuthList(t, [3]string{"docker.io", "", ""})); msg != "" {
		t.Errorf("default login without credentials: %s", msg)
	}
}

func TestRegistryAuthsFrom(t *testing.T) {
	r := newBlockReader()
	got := registryAuthsFrom(r, registryAuthList(t, [3]string{"", "hub", "p1"}, [3]string{"127.0.0.1:5443", "ada", "p2"}))
	if !r.known || len(got) != 2 || got[0].Username != "hub" || got[1].Address != "127.0.0.1:5443" || got[1].Password != "p2" {
		t.Fatalf("%+v known=%v", got, r.known)
	}
	r = newBlockReader()
	registryAuthsFrom(r, registryAuthList(t, [3]string{"x", "u", "?"}))
	if r.known {
		t.Error("an unknown password reads as known")
	}
	r = newBlockReader()
	if got := registryAuthsFrom(r, types.ListUnknown(registryAuthType)); got != nil || r.known {
		t.Errorf("unknown list: %+v %v", got, r.known)
	}
	if got := registryAuthsFrom(newBlockReader(), types.ListNull(registryAuthType)); got != nil {
		t.Errorf("null list: %+v", got)
	}
}
