package provider

import (
	"context"
	"fmt"
	"net"
	"regexp"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/nalabo/terraform-provider-nalabo/internal/netguard"
	"github.com/nalabo/terraform-provider-nalabo/internal/vcluster"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var (
	dockerHostRE = regexp.MustCompile(`^(unix|tcp|http|https|npipe|ssh)://.+`)
	dockerNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	k8sHostRE    = regexp.MustCompile(`^https?://[^\s/]+`)
	pemRE        = regexp.MustCompile(`-----BEGIN [A-Z ]+-----`)
	dnsLabelRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// ipAddressValidator accepts an IPv4 or IPv6 address.
type ipAddressValidator struct{}

var _ validator.String = ipAddressValidator{}

func (ipAddressValidator) Description(context.Context) string { return "must be an IP address" }
func (v ipAddressValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (ipAddressValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if net.ParseIP(req.ConfigValue.ValueString()) == nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid IP address",
			fmt.Sprintf("%q is not an IP address (for example 127.0.0.1).", req.ConfigValue.ValueString()))
	}
}

// cidrValidator accepts an IPv4 CIDR.
type cidrValidator struct{}

var _ validator.String = cidrValidator{}

func (cidrValidator) Description(context.Context) string               { return "must be an IPv4 CIDR" }
func (v cidrValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }
func (cidrValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	ip, _, err := net.ParseCIDR(req.ConfigValue.ValueString())
	if err != nil || ip.To4() == nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid CIDR",
			fmt.Sprintf("%q is not an IPv4 CIDR (for example 10.213.0.0/16).", req.ConfigValue.ValueString()))
	}
}

// egressCIDRValidator accepts an IPv4 or IPv6 CIDR, or a single address.
type egressCIDRValidator struct{}

var _ validator.String = egressCIDRValidator{}

func (egressCIDRValidator) Description(context.Context) string {
	return "must be an IPv4 or IPv6 CIDR"
}
func (v egressCIDRValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (egressCIDRValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := netguard.ParseDeny([]string{req.ConfigValue.ValueString()}); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid CIDR", fmt.Sprintf("%s: %v.", req.Path, err))
	}
}

// checkValidator adapts a workshop check (ParseCPU, ValidateParticipant, ...) to a
// string validator: a null or unknown value passes, a bad value gets a diagnostic on
// the attribute's own path with the check's message.
type checkValidator struct {
	summary     string
	description string
	check       func(string) error
}

var _ validator.String = checkValidator{}

func (v checkValidator) Description(context.Context) string { return v.description }
func (v checkValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (v checkValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, v.summary, fmt.Sprintf("%s: %v", req.Path, err))
	}
}

func discard[T any](f func(string) (T, error)) func(string) error {
	return func(s string) error { _, err := f(s); return err }
}

// cpuQuantity accepts a Kubernetes CPU quantity ("500m", "1.5", "2"), at least 10m.
func cpuQuantity() validator.String {
	return checkValidator{"Invalid CPU quantity",
		"must be a Kubernetes CPU quantity such as `500m` or `2`, at least `10m`", discard(workshop.ParseCPU)}
}

// memoryQuantity accepts a Kubernetes memory quantity ("512Mi", "2Gi"), at least 6Mi.
func memoryQuantity() validator.String {
	return checkValidator{"Invalid memory quantity",
		"must be a Kubernetes memory quantity such as `512Mi` or `2Gi`, at least `6Mi`", discard(workshop.ParseMemory)}
}

// storageQuantity accepts a Kubernetes storage quantity ("10Gi"), at least 64Mi.
func storageQuantity() validator.String {
	return checkValidator{"Invalid storage quantity",
		"must be a Kubernetes storage quantity such as `10Gi`, at least `64Mi`", discard(workshop.ParseStorage)}
}

// sessionDuration accepts a session lifetime ("90m", "4h", "2d"), 1m to 90d.
func sessionDuration() validator.String {
	return checkValidator{"Invalid duration",
		"must be a duration such as `90m`, `4h`, `1h30m` or `2d`, between 1m and 90d", discard(workshop.ParseSessionDuration)}
}

// timeoutDuration accepts a positive duration ("30s", "5m").
func timeoutDuration() validator.String {
	return checkValidator{"Invalid duration",
		"must be a positive duration such as `30s`, `5m` or `1h`", discard(workshop.ParseDuration)}
}

// templateName accepts a DNS label.
func templateName() validator.String {
	return checkValidator{"Invalid template name",
		"must be 1-63 lower-case letters, digits or `-`, starting and ending with a letter or digit", workshop.ValidateTemplateName}
}

// participantName accepts a label value.
func participantName() validator.String {
	return checkValidator{"Invalid participant",
		"must be 1-63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit", workshop.ValidateParticipant}
}

// sessionID accepts a session ID as nalabo_workshop_session.<name>.id gives it.
func sessionID() validator.String {
	return checkValidator{"Invalid session ID",
		"must be a session ID as in `nalabo_workshop_session.<name>.id`", workshop.ValidateSessionID}
}

// templateID accepts a template ID as nalabo_workshop_template.<name>.id gives it.
func templateID() validator.String {
	return checkValidator{"Invalid template ID",
		"must be a template ID (`<infrastructure>.<name>.<digest>`) as in `nalabo_workshop_template.<name>.id`",
		func(s string) error { _, _, _, err := workshop.ParseTemplateID(s); return err }}
}

// goRegexp accepts a Go (RE2) regular expression.
func goRegexp() validator.String {
	return checkValidator{"Invalid regular expression",
		"must be a Go regular expression (RE2 syntax)",
		func(s string) error {
			if _, err := regexp.Compile(s); err != nil {
				return fmt.Errorf("%q does not compile: %v", s, err)
			}
			return nil
		}}
}

// chartValues accepts Helm chart values: YAML whose top level is a mapping.
func chartValues() validator.String {
	return checkValidator{"Invalid chart values",
		"must be YAML whose top level is a mapping of chart values", vcluster.ValidateValues}
}
