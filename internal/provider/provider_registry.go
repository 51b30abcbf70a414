package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/nalabo/terraform-provider-nalabo/internal/config"
	"github.com/nalabo/terraform-provider-nalabo/internal/envconfig"
)

// registryAuthBlock is the registry_auth list of the docker, swarm or kubernetes block
// (backend names it). A list of blocks keeps the one-block syntax of earlier versions.
// Docker and Swarm (Docker engines both) look logins up alike; only Docker's default
// login falls back to the environment.
func registryAuthBlock(backend, use string) schema.ListNestedBlock {
	userNote, passNote, addrNote := "", "", "Default Docker Hub."
	const engineDefault = "Without an address this is the default login: Docker Hub's, and the login of every registry that " +
		"has no block of its own."
	switch backend {
	case "docker":
		userNote = " " + envconfig.FallbackNote("docker.registry_auth.username") + " (the default login only)"
		passNote = " " + envconfig.FallbackNote("docker.registry_auth.password") + " (the default login only)"
		addrNote = engineDefault + " `DOCKER_USERNAME` and `DOCKER_PASSWORD` fill or add the default login, never another registry's."
	case "swarm":
		addrNote = engineDefault + " No environment fallback (`DOCKER_USERNAME` is the docker block's)."
	}
	return schema.ListNestedBlock{
		MarkdownDescription: "Registry logins, one block per registry, keyed by `address`: " + use + " Each image reference is " +
			"matched by its registry host (`docker.io`, `index.docker.io` and `registry-1.docker.io` are all Docker Hub); two " +
			"blocks for the same registry are a plan-time error. A block: a misspelt argument is an error.",
		NestedObject: schema.NestedBlockObject{
			Attributes: map[string]schema.Attribute{
				"address": schema.StringAttribute{
					MarkdownDescription: "Registry host and port, for example `registry.example.com` or `127.0.0.1:5000` (a scheme " +
						"or path is ignored). " + addrNote,
					Optional: true,
				},
				"username": schema.StringAttribute{
					MarkdownDescription: "Registry user name." + userNote,
					Required:            backend != "docker",
					Optional:            backend == "docker",
				},
				"password": schema.StringAttribute{
					MarkdownDescription: "Registry password or token." + passNote + " " + providerSecretNote,
					Required:            backend != "docker",
					Optional:            backend == "docker",
					Sensitive:           true,
				},
			},
		},
		Validators: []validator.List{uniqueRegistries{backend: backend}},
	}
}

// registryAuthsFrom reads a registry_auth list (objects of address, username and
// password); r.known turns false on an unknown value. A types.List, not a slice of
// models: a dynamic block's unknown list must not fail the decoding.
func registryAuthsFrom(r *blockReader, l types.List) config.RegistryAuths {
	if l.IsUnknown() {
		r.known = false
		return nil
	}
	var out config.RegistryAuths
	for _, e := range l.Elements() {
		o, ok := e.(types.Object)
		if !ok || o.IsUnknown() {
			r.known = false
			continue
		}
		attrs := o.Attributes()
		out = append(out, config.RegistryAuth{
			Address:  r.stringValue(stringAttr(attrs, "address")),
			Username: r.stringValue(stringAttr(attrs, "username")),
			Password: r.stringValue(stringAttr(attrs, "password")),
		})
	}
	return out
}

func stringAttr(attrs map[string]attr.Value, name string) types.String {
	if s, ok := attrs[name].(basetypes.StringValue); ok {
		return s
	}
	return types.StringNull()
}

// uniqueRegistries refuses two logins for one registry and, on Docker, a block without
// user name (only the default login takes DOCKER_USERNAME).
type uniqueRegistries struct{ backend string }

func (v uniqueRegistries) Description(context.Context) string {
	return "at most one registry_auth block per registry"
}

func (v uniqueRegistries) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v uniqueRegistries) ValidateList(_ context.Context, req validator.ListRequest, resp *validator.ListResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	seen := map[string]string{}
	for i, e := range req.ConfigValue.Elements() {
		o, ok := e.(types.Object)
		if !ok || o.IsNull() || o.IsUnknown() {
			continue
		}
		attrs := o.Attributes()
		addr := stringAttr(attrs, "address")
		if addr.IsUnknown() {
			continue
		}
		host := config.RegistryHost(addr.ValueString())
		shown := addr.ValueString()
		if shown == "" {
			shown = "(no address: Docker Hub)"
		}
		if prev, dup := seen[host]; dup {
			resp.Diagnostics.AddAttributeError(req.Path.AtListIndex(i).AtName("address"), "Duplicate registry_auth address",
				fmt.Sprintf("%s.registry_auth: %q and %q are the same registry (%s). Give each registry one registry_auth block.",
					v.backend, prev, shown, host))
			continue
		}
		seen[host] = shown
		if v.backend == "docker" && host != config.DockerHub {
			for _, name := range []string{"username", "password"} {
				if s := stringAttr(attrs, name); s.IsNull() {
					resp.Diagnostics.AddAttributeError(req.Path.AtListIndex(i).AtName(name), "Missing registry_auth "+name,
						fmt.Sprintf("docker.registry_auth %q needs a %s: only the default login (no address, or Docker Hub) "+
							"falls back to DOCKER_%s.", shown, name, strings.ToUpper(name)))
				}
			}
		}
	}
}
