package provider

import (
	"context"
	"fmt"
	"net"
	"regexp"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
)

var (
	dockerHostRE = regexp.MustCompile(`^(unix|tcp|http|https|npipe|ssh)://.+`)
	dockerNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
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
