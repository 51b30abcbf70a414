package provider

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var (
	_ datasource.DataSource              = (*sessionValidationDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*sessionValidationDataSource)(nil)
)

// NewSessionValidationDataSource is the nalabo_session_validation data source.
func NewSessionValidationDataSource() datasource.DataSource { return &sessionValidationDataSource{} }

type sessionValidationDataSource struct {
	data *providerData
}

type sessionValidationModel struct {
	SessionID    types.String `tfsdk:"session_id"`
	Checks       types.List   `tfsdk:"checks"`
	ID           types.String `tfsdk:"id"`
	TemplateID   types.String `tfsdk:"template_id"`
	TemplateName types.String `tfsdk:"template_name"`
	Participant  types.String `tfsdk:"participant"`
	Results      types.List   `tfsdk:"results"`
	Passed       types.Int64  `tfsdk:"passed"`
	Failed       types.Int64  `tfsdk:"failed"`
	Total        types.Int64  `tfsdk:"total"`
	AllPassed    types.Bool   `tfsdk:"all_passed"`
	PassedChecks types.List   `tfsdk:"passed_checks"`
	FailedChecks types.List   `tfsdk:"failed_checks"`
}

var validationResultAttrTypes = map[string]attr.Type{
	"name":               types.StringType,
	"passed":             types.BoolType,
	"reason":             types.StringType,
	"exit_code":          types.Int64Type,
	"expected_exit_code": types.Int64Type,
	"output_pattern":     types.StringType,
	"output":             types.StringType,
	"stderr":             types.StringType,
	"output_truncated":   types.BoolType,
	"timed_out":          types.BoolType,
	"duration":           types.StringType,
	"duration_ms":        types.Int64Type,
}

func (d *sessionValidationDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_session_validation"
}

func (d *sessionValidationDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *sessionValidationDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computedString := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	computedInt64 := func(desc string) schema.Int64Attribute {
		return schema.Int64Attribute{MarkdownDescription: desc, Computed: true}
	}
	computedBool := func(desc string) schema.BoolAttribute {
		return schema.BoolAttribute{MarkdownDescription: desc, Computed: true}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Runs the validation checks of a session's template in the session (in the workspace, one " +
			"after the other, each with its own timeout) and grades them: a check passes when its command exits with " +
			"`expected_exit_code` and, when it has an `output_pattern`, its stdout matches it. A failing check is a " +
			"result, not an error, so a class is graded with `terraform apply -refresh-only` (the checks run again on " +
			"every refresh) or with `check` blocks that assert `all_passed`. A check whose command cannot be run at all " +
			"(the session is stopped) fails with its `reason` and a warning.",
		Attributes: map[string]schema.Attribute{
			"session_id": schema.StringAttribute{
				MarkdownDescription: "ID of the session to grade (`nalabo_workshop_session.<name>.id`).",
				Required:            true,
				Validators:          []validator.String{sessionID()},
			},
			"checks": schema.ListAttribute{
				MarkdownDescription: "Names of the template's checks to run, in this order. Unset: every check, in the template's order.",
				Optional:            true,
				ElementType:         types.StringType,
			},
			"id":            computedString("The session ID."),
			"template_id":   computedString("`id` of the session's template, whose checks ran."),
			"template_name": computedString("Name of the session's template."),
			"participant":   computedString("Who the session is for."),
			"results": schema.ListNestedAttribute{
				MarkdownDescription: "One result per check, in the order they ran.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"name":               computedString("The check's name."),
					"passed":             computedBool("Whether the check passed."),
					"reason":             computedString("Why it failed (`exit code 1, expected 0`, `stdout does not match ...`, `timed out after 30s; killed 2 processes (sh, sleep)`); null when it passed."),
					"exit_code":          computedInt64("The command's exit code (-1 when it did not run or timed out)."),
					"expected_exit_code": computedInt64("The exit code the check expects."),
					"output_pattern":     computedString("The regular expression stdout must match; null when the check has none."),
					"output":             computedString("The command's stdout (at most 64 KiB)."),
					"stderr":             computedString("The command's stderr (at most 64 KiB)."),
					"output_truncated":   computedBool("Whether stdout was longer than what `output` holds."),
					"timed_out":          computedBool("Whether the command was stopped at the check's timeout."),
					"duration":           computedString("How long the command ran, for example `12ms`."),
					"duration_ms":        computedInt64("How long the command ran, in milliseconds."),
				}},
			},
			"passed":     computedInt64("How many checks passed."),
			"failed":     computedInt64("How many checks failed."),
			"total":      computedInt64("How many checks ran."),
			"all_passed": computedBool("Whether every check passed (true when the template has no checks)."),
			"passed_checks": schema.ListAttribute{
				MarkdownDescription: "Names of the checks that passed.",
				Computed:            true,
				ElementType:         types.StringType,
			},
			"failed_checks": schema.ListAttribute{
				MarkdownDescription: "Names of the checks that failed.",
				Computed:            true,
				ElementType:         types.StringType,
			},
		},
	}
}

func (d *sessionValidationDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m sessionValidationModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	id := m.SessionID.ValueString()
	b, s := findSessionForDataSource(ctx, d.data, "session_id", id, &resp.Diagnostics)
	if s == nil {
		return
	}
	if s.TemplateID == "" {
		resp.Diagnostics.AddAttributeError(path.Root("session_id"), "Session has no template",
			fmt.Sprintf("Session %s does not record the template it was built from, so its checks are unknown.", id))
		return
	}
	tmpl, err := b.GetTemplate(ctx, s.TemplateID)
	if errors.Is(err, workshop.ErrNotFound) {
		resp.Diagnostics.AddAttributeError(path.Root("session_id"), "Template not found",
			fmt.Sprintf("The template %s of session %s is no longer stored on the %s backend (its nalabo_workshop_template was destroyed?), "+
				"so its validation checks are unknown.", s.TemplateID, id, b.Type()))
		return
	}
	if err != nil {
		addBackendError(&resp.Diagnostics, "read the template "+s.TemplateID, err)
		return
	}
	checks, ok := selectChecks(ctx, tmpl, m.Checks, &resp.Diagnostics)
	if !ok {
		return
	}
	if len(tmpl.Validations) == 0 {
		resp.Diagnostics.AddWarning("Template has no validation checks",
			fmt.Sprintf("The template %s of session %s defines no validations; nothing was run.", tmpl.Name, id))
	}

	results := workshop.RunValidations(ctx, b, id, checks)
	values := make([]attr.Value, 0, len(results))
	passed, failed := []string{}, []string{}
	for _, r := range results {
		if r.Passed {
			passed = append(passed, r.Name)
		} else {
			failed = append(failed, r.Name)
		}
		if r.ExecError != nil {
			resp.Diagnostics.AddWarning("Validation check could not run",
				fmt.Sprintf("Check %q in session %s: %v\n\nIt is reported as failed.", r.Name, id, r.ExecError))
		}
		tflog.Info(ctx, "validation check", map[string]any{
			"session_id": id, "check": r.Name, "passed": r.Passed, "exit_code": r.ExitCode, "duration_ms": r.Duration.Milliseconds(),
		})
		values = append(values, validationResultValue(r, &resp.Diagnostics))
	}
	list, diags := types.ListValue(types.ObjectType{AttrTypes: validationResultAttrTypes}, values)
	resp.Diagnostics.Append(diags...)
	strList := func(v []string) types.List {
		l, d := types.ListValueFrom(ctx, types.StringType, v)
		resp.Diagnostics.Append(d...)
		return l
	}
	m.ID = types.StringValue(id)
	m.TemplateID = types.StringValue(tmpl.ID)
	m.TemplateName = types.StringValue(tmpl.Name)
	m.Participant = optString(s.Participant, types.StringNull())
	m.Results = list
	m.Passed = types.Int64Value(int64(len(passed)))
	m.Failed = types.Int64Value(int64(len(failed)))
	m.Total = types.Int64Value(int64(len(results)))
	m.AllPassed = types.BoolValue(len(failed) == 0)
	m.PassedChecks = strList(passed)
	m.FailedChecks = strList(failed)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// selectChecks returns the template's checks named in the configuration (all when
// unset), or an error on the checks attribute naming the unknown ones.
func selectChecks(ctx context.Context, tmpl *workshop.Template, names types.List, diags *diag.Diagnostics) ([]workshop.Validation, bool) {
	if names.IsNull() || names.IsUnknown() {
		return tmpl.Validations, true
	}
	var want []string
	if d := names.ElementsAs(ctx, &want, false); d.HasError() {
		diags.AddAttributeError(path.Root("checks"), "Invalid checks", "checks must be a list of check names.")
		return nil, false
	}
	byName := map[string]workshop.Validation{}
	var known []string
	for _, v := range tmpl.Validations {
		byName[v.Name] = v
		known = append(known, v.Name)
	}
	sort.Strings(known)
	var out []workshop.Validation
	var missing []string
	for _, n := range want {
		v, ok := byName[n]
		if !ok {
			missing = append(missing, fmt.Sprintf("%q", n))
			continue
		}
		out = append(out, v)
	}
	if len(missing) > 0 {
		diags.AddAttributeError(path.Root("checks"), "Unknown validation check",
			fmt.Sprintf("The template %s has no check %s. Its checks: %s.", tmpl.Name, strings.Join(missing, ", "), strings.Join(known, ", ")))
		return nil, false
	}
	return out, true
}

func validationResultValue(r workshop.ValidationResult, diags *diag.Diagnostics) attr.Value {
	reason := types.StringNull()
	if !r.Passed && r.Reason != "" {
		reason = types.StringValue(r.Reason)
	}
	o, d := types.ObjectValue(validationResultAttrTypes, map[string]attr.Value{
		"name":               types.StringValue(r.Name),
		"passed":             types.BoolValue(r.Passed),
		"reason":             reason,
		"exit_code":          types.Int64Value(int64(r.ExitCode)),
		"expected_exit_code": types.Int64Value(int64(r.ExpectedExitCode)),
		"output_pattern":     optString(r.OutputPattern, types.StringNull()),
		"output":             types.StringValue(r.Output),
		"stderr":             types.StringValue(r.Stderr),
		"output_truncated":   types.BoolValue(r.OutputTruncated),
		"timed_out":          types.BoolValue(r.TimedOut),
		"duration":           types.StringValue(r.Duration.Round(time.Millisecond).String()),
		"duration_ms":        types.Int64Value(r.Duration.Milliseconds()),
	})
	diags.Append(d...)
	return o
}
