package provider

import (
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/gateway/token"
)

// Environment fallbacks of the gateway block (the gateway reads the same key).
const (
	envGatewayURL        = "NALABO_GATEWAY_URL"
	envGatewaySigningKey = "NALABO_GATEWAY_SIGNING_KEY"
)

type gatewayModel struct {
	URL        types.String `tfsdk:"url"`
	SigningKey types.String `tfsdk:"signing_key"`
}

func gatewayProviderSchema() schema.Block {
	return schema.SingleNestedBlock{
		MarkdownDescription: "The participants' gateway (`terraform-provider-nalabo gateway`): with it, every " +
			"`nalabo_workshop_session` has an `access_url` that opens a terminal in the participant's browser. " +
			"The provider only signs URLs; it never calls the gateway. Without this block (and without `" + envGatewayURL +
			"`), `access_url` is null. " + blockShapeNote,
		Attributes: map[string]schema.Attribute{
			"url": schema.StringAttribute{
				MarkdownDescription: "Public base URL of the gateway as participants' browsers reach it, for example " +
					"`https://lab.example.com` (a path prefix is kept). Falls back to `" + envGatewayURL + "`.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.RegexMatches(gatewayURLRE, "must be an http:// or https:// URL without query or fragment")},
			},
			"signing_key": schema.StringAttribute{
				MarkdownDescription: "Key the access tokens are signed with (HMAC-SHA256), at least 32 bytes: the same as the " +
					"gateway's `--signing-key-file` or `" + envGatewaySigningKey + "`. Falls back to `" + envGatewaySigningKey +
					"`. A new key changes every `access_url` at the next refresh and the old URLs stop working once the gateway " +
					"drops the old key (it accepts several during a rotation). " + providerSecretNote,
				Optional:   true,
				Sensitive:  true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(token.MinKeyLength)},
			},
		},
	}
}

var gatewayURLRE = regexp.MustCompile(`^https?://[^/?#\s]+(/[^?#\s]*)?$`)

// gatewaySigner signs sessions' access URLs.
type gatewaySigner struct {
	base string
	key  token.Key
}

// accessURL is the session's URL on the gateway, valid until exp.
func (g *gatewaySigner) accessURL(sessionID string, exp time.Time) string {
	return token.AccessURL(g.base, g.key, sessionID, exp)
}

// gatewayFrom reads the gateway block over its environment fallbacks. It returns nil
// when no gateway is configured; known is false when a value is unknown at plan time.
func gatewayFrom(m *gatewayModel, getenv func(string) string, diags *diag.Diagnostics) (g *gatewaySigner, known bool) {
	if m == nil {
		m = &gatewayModel{URL: types.StringNull(), SigningKey: types.StringNull()}
	}
	if m.URL.IsUnknown() || m.SigningKey.IsUnknown() {
		return nil, false
	}
	base, key := m.URL.ValueString(), m.SigningKey.ValueString()
	urlFromEnv, keyFromEnv := false, false
	if base == "" {
		base, urlFromEnv = getenv(envGatewayURL), true
	}
	if key == "" {
		key, keyFromEnv = getenv(envGatewaySigningKey), true
	}
	if base == "" && key == "" {
		return nil, true
	}
	urlPath, keyPath := path.Root("gateway").AtName("url"), path.Root("gateway").AtName("signing_key")
	if base == "" {
		diags.AddAttributeError(urlPath, "Missing gateway URL",
			"gateway.signing_key is set but the gateway's url is not: set gateway.url or "+envGatewayURL+".")
		return nil, true
	}
	if key == "" {
		diags.AddAttributeError(keyPath, "Missing gateway signing key",
			"gateway.url is set but no signing key is: set gateway.signing_key or "+envGatewaySigningKey+" (the key the gateway verifies with).")
		return nil, true
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		from := "gateway.url"
		if urlFromEnv {
			from = envGatewayURL
		}
		diags.AddAttributeError(urlPath, "Invalid gateway URL",
			from+" must be an http:// or https:// URL without query or fragment, such as https://lab.example.com, got "+quoteShort(base)+".")
		return nil, true
	}
	k, err := token.NewKey(key)
	if err != nil {
		from := "gateway.signing_key"
		if keyFromEnv {
			from = envGatewaySigningKey
		}
		diags.AddAttributeError(keyPath, "Invalid gateway signing key", from+": "+err.Error()+".")
		return nil, true
	}
	return &gatewaySigner{base: strings.TrimRight(base, "/"), key: k}, true
}

func quoteShort(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return `"` + s + `"`
}

// accessURL is a session's access_url: null without a gateway, unknown while the
// gateway settings, the session's id or its expiry are unknown. Deterministic (the
// token is), so an unchanged session plans no change.
func (d *providerData) accessURL(id, expiresAt types.String) types.String {
	if d == nil || (d.gateway == nil && !d.gatewayUnknown) {
		return types.StringNull()
	}
	exp, ok := parseTime(expiresAt)
	if d.gatewayUnknown || !knownString(id) || !ok {
		return types.StringUnknown()
	}
	return types.StringValue(d.gateway.accessURL(id.ValueString(), exp))
}
