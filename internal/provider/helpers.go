package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Shared helpers of the resources: timeouts, diagnostics, value conversions.

// timeoutsAttribute is the `timeouts = { create = "10m", ... }` nested attribute with
// each operation's default in its description.
func timeoutsAttribute(ctx context.Context, create, read, update, del time.Duration) schema.Attribute {
	desc := func(op string, d time.Duration) string {
		return fmt.Sprintf("How long %s may take, as a duration such as `30s` or `2h45m`. Default `%s`.", op, shortDuration(d))
	}
	a := timeouts.Attributes(ctx, timeouts.Opts{
		Create: true, Read: true, Update: true, Delete: true,
		CreateDescription: desc("create", create),
		ReadDescription:   desc("a refresh", read),
		UpdateDescription: desc("an in-place update", update),
		DeleteDescription: desc("delete", del),
	})
	if sna, ok := a.(schema.SingleNestedAttribute); ok {
		sna.MarkdownDescription = "Operation timeouts (nested attribute, not a block): `timeouts = { create = \"10m\" }`."
		for name, inner := range sna.Attributes {
			if s, ok := inner.(schema.StringAttribute); ok {
				s.MarkdownDescription = s.Description
				sna.Attributes[name] = s
			}
		}
		return sna
	}
	return a
}

// addBackendError turns a backend error into diagnostics: errors about one attribute
// (*workshop.FieldError, possibly joined) land on that attribute's path; a deadline
// points at the timeouts attribute; anything else is a plain error naming the operation.
func addBackendError(diags *diag.Diagnostics, op string, err error) {
	if err == nil {
		return
	}
	if fes := fieldErrors(err); len(fes) > 0 {
		for _, fe := range fes {
			diags.AddAttributeError(hclPath(fe.Path), "Invalid "+fe.Path, fmt.Sprintf("Cannot %s: %s", op, fe.Error()))
		}
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		diags.AddError("Timed out: cannot "+op,
			fmt.Sprintf("%v\n\nThe operation did not finish in time; raise the resource's timeouts attribute if it needs longer.", err))
		return
	}
	diags.AddError("Cannot "+op, err.Error())
}

// fieldErrors returns every *workshop.FieldError inside err (errors.Join trees included).
func fieldErrors(err error) []*workshop.FieldError {
	var out []*workshop.FieldError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if fe, ok := e.(*workshop.FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

var hclStepRE = regexp.MustCompile(`^([A-Za-z0-9_-]+)(?:\[(\d+)\])?$`)

// hclPath maps an HCL path as workshop.FieldError spells it ("workspace.image",
// "validations[0].timeout") to an attribute path.
func hclPath(s string) path.Path {
	var p path.Path
	first := true
	for _, step := range strings.Split(s, ".") {
		m := hclStepRE.FindStringSubmatch(step)
		if m == nil {
			break
		}
		if first {
			p = path.Root(m[1])
			first = false
		} else {
			p = p.AtName(m[1])
		}
		if m[2] != "" {
			i, _ := strconv.Atoi(m[2])
			p = p.AtListIndex(i)
		}
	}
	if first {
		return path.Empty()
	}
	return p
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// shortDuration spells a duration the way users write it: "4h", "90m", "30s", "1h30m".
func shortDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return d.String()
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	default:
		return d.String()
	}
}

// knownString reports whether v has a usable value.
func knownString(v types.String) bool { return !v.IsNull() && !v.IsUnknown() }

// optString is a string attribute from a Go value: "" becomes null unless the prior
// value was a known "" (keeps `user = ""` in configuration stable).
func optString(v string, prior types.String) types.String {
	if v == "" && !(knownString(prior) && prior.ValueString() == "") {
		return types.StringNull()
	}
	return types.StringValue(v)
}

// stringList converts a list of strings; an empty list becomes null unless the prior
// value was a known empty list.
func stringList(ctx context.Context, v []string, prior types.List, diags *diag.Diagnostics) types.List {
	if len(v) == 0 && !(!prior.IsNull() && !prior.IsUnknown() && len(prior.Elements()) == 0) {
		return types.ListNull(types.StringType)
	}
	l, d := types.ListValueFrom(ctx, types.StringType, v)
	diags.Append(d...)
	return l
}

// stringMap converts a map of strings with the same null/empty rule as stringList.
func stringMap(ctx context.Context, v map[string]string, prior types.Map, diags *diag.Diagnostics) types.Map {
	if len(v) == 0 && !(!prior.IsNull() && !prior.IsUnknown() && len(prior.Elements()) == 0) {
		return types.MapNull(types.StringType)
	}
	m, d := types.MapValueFrom(ctx, types.StringType, v)
	diags.Append(d...)
	return m
}

// listStrings reads a list of strings (null or unknown gives nil).
func listStrings(ctx context.Context, l types.List, diags *diag.Diagnostics) []string {
	if l.IsNull() || l.IsUnknown() {
		return nil
	}
	var out []string
	diags.Append(l.ElementsAs(ctx, &out, false)...)
	return out
}

// mapStrings reads a map of strings (null or unknown gives nil).
func mapStrings(ctx context.Context, m types.Map, diags *diag.Diagnostics) map[string]string {
	if m.IsNull() || m.IsUnknown() {
		return nil
	}
	out := map[string]string{}
	diags.Append(m.ElementsAs(ctx, &out, false)...)
	return out
}

// valuesEqual compares two attribute values; an unknown value equals nothing.
func valuesEqual(a, b attr.Value) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.IsUnknown() || b.IsUnknown() {
		return false
	}
	return a.Equal(b)
}

// formatTime renders a timestamp as RFC 3339 in UTC, to the second.
func formatTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// truncateForDiag bounds command output quoted in a diagnostic.
func truncateForDiag(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	return s[:limit] + fmt.Sprintf("\n[... %d more bytes not shown]", len(s)-limit)
}

// splitJoined returns the errors of an errors.Join, or err itself.
func splitJoined(err error) []error {
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		return u.Unwrap()
	}
	return []error{err}
}
