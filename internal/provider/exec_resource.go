package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var (
	_ resource.Resource                   = (*execResource)(nil)
	_ resource.ResourceWithConfigure      = (*execResource)(nil)
	_ resource.ResourceWithValidateConfig = (*execResource)(nil)
)

const (
	defaultExecTimeout = "30s"
	maxExecOutputBytes = 1 << 20
	// diagOutputBytes bounds stdout and stderr quoted in a failure diagnostic.
	diagOutputBytes = 4096
)

// NewExecResource is the nalabo_exec resource.
func NewExecResource() resource.Resource { return &execResource{} }

type execResource struct {
	data *providerData
}

type execModel struct {
	ID               types.String `tfsdk:"id"`
	SessionID        types.String `tfsdk:"session_id"`
	Command          types.List   `tfsdk:"command"`
	Script           types.String `tfsdk:"script"`
	Container        types.String `tfsdk:"container"`
	Env              types.Map    `tfsdk:"env"`
	EnvWO            types.Map    `tfsdk:"env_wo"` // write-only: null in plan and state
	WorkingDir       types.String `tfsdk:"working_dir"`
	User             types.String `tfsdk:"user"`
	Timeout          types.String `tfsdk:"timeout"`
	ExpectedExitCode types.Int64  `tfsdk:"expected_exit_code"`
	MaxOutputBytes   types.Int64  `tfsdk:"max_output_bytes"`
	Triggers         types.Map    `tfsdk:"triggers"`

	Stdout          types.String `tfsdk:"stdout"`
	Stderr          types.String `tfsdk:"stderr"`
	StdoutTruncated types.Bool   `tfsdk:"stdout_truncated"`
	StderrTruncated types.Bool   `tfsdk:"stderr_truncated"`
	ExitCode        types.Int64  `tfsdk:"exit_code"`
	DurationMS      types.Int64  `tfsdk:"duration_ms"`
	TimedOut        types.Bool   `tfsdk:"timed_out"`
}

func (r *execResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_exec"
}

func (r *execResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *execResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replaceString := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	replaceMap := []planmodifier.Map{mapplanmodifier.RequiresReplace()}
	replaceInt := []planmodifier.Int64{int64planmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Runs a command in a session (an argv `command` or a shell `script`) when it is created, " +
			"and again whenever any of its arguments or `triggers` change. A different exit code than " +
			"`expected_exit_code`, or a timeout, fails the apply with the exit code, stdout and stderr in the " +
			"error, and nothing is saved, so the next apply runs it again. Destroying it undoes nothing in the session.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "Random ID of this run.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"session_id": schema.StringAttribute{
				MarkdownDescription: "`id` of the `nalabo_workshop_session` to run in.",
				Required:            true,
				Validators:          []validator.String{sessionID()},
				PlanModifiers:       replaceString,
			},
			"command": schema.ListAttribute{
				MarkdownDescription: "Command to run, as an argv list (no shell), for example `[\"cat\", \"/VERSION\"]`. Exactly one of `command` and `script`.",
				ElementType:         types.StringType,
				Optional:            true,
				Validators:          []validator.List{listvalidator.SizeAtLeast(1)},
				PlanModifiers:       []planmodifier.List{listplanmodifier.RequiresReplace()},
			},
			"script": schema.StringAttribute{
				MarkdownDescription: "Shell script to run with `/bin/sh -c`. Exactly one of `command` and `script`.",
				Optional:            true,
				Validators: []validator.String{
					stringvalidator.LengthAtLeast(1),
					stringvalidator.ExactlyOneOf(path.MatchRoot("command")),
				},
				PlanModifiers: replaceString,
			},
			"container": schema.StringAttribute{
				MarkdownDescription: "Container to run in. Default the session's workspace.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
				PlanModifiers:       replaceString,
			},
			"env": schema.MapAttribute{
				MarkdownDescription: "Extra environment variables of the command. A name that is empty or contains `=` is refused.",
				ElementType:         types.StringType,
				Optional:            true,
				Validators:          []validator.Map{envKeys()},
				PlanModifiers:       replaceMap,
			},
			"env_wo": schema.MapAttribute{
				MarkdownDescription: envWODescription,
				ElementType:         types.StringType,
				Optional:            true,
				WriteOnly:           true,
				Validators:          []validator.Map{envKeys()},
			},
			"working_dir": schema.StringAttribute{
				MarkdownDescription: "Working directory of the command. Default the container's.",
				Optional:            true,
				PlanModifiers:       replaceString,
			},
			"user": schema.StringAttribute{
				MarkdownDescription: "User (name or `uid[:gid]`) to run as. Default the container's.",
				Optional:            true,
				PlanModifiers:       replaceString,
			},
			"timeout": schema.StringAttribute{
				MarkdownDescription: "How long the command may run, such as `30s` or `5m`; then it is killed with every process it started " +
					"(children, daemons: all carry a `NALABO_EXEC_ID` marker in their environment; the image needs `/bin/sh` and `grep` for this) " +
					"and the apply fails, naming the killed processes. Default `" + defaultExecTimeout + "`.",
				Optional:      true,
				Computed:      true,
				Default:       stringdefault.StaticString(defaultExecTimeout),
				Validators:    []validator.String{timeoutDuration()},
				PlanModifiers: replaceString,
			},
			"expected_exit_code": schema.Int64Attribute{
				MarkdownDescription: "Exit code that means success. Default `0`.",
				Optional:            true,
				Computed:            true,
				Default:             int64default.StaticInt64(0),
				Validators:          []validator.Int64{int64validator.Between(0, 255)},
				PlanModifiers:       replaceInt,
			},
			"max_output_bytes": schema.Int64Attribute{
				MarkdownDescription: fmt.Sprintf("Bytes of stdout and of stderr kept (each, 1 to %d); the rest is dropped and "+
					"`stdout_truncated`/`stderr_truncated` say so. Default `%d`.", maxExecOutputBytes, workshop.DefaultMaxOutputBytes),
				Optional:      true,
				Computed:      true,
				Default:       int64default.StaticInt64(workshop.DefaultMaxOutputBytes),
				Validators:    []validator.Int64{int64validator.Between(1, maxExecOutputBytes)},
				PlanModifiers: replaceInt,
			},
			"triggers": schema.MapAttribute{
				MarkdownDescription: "Arbitrary values; any change runs the command again.",
				ElementType:         types.StringType,
				Optional:            true,
				PlanModifiers:       replaceMap,
			},
			"stdout": schema.StringAttribute{
				MarkdownDescription: "Standard output (at most `max_output_bytes`).",
				Computed:            true,
			},
			"stderr": schema.StringAttribute{
				MarkdownDescription: "Standard error (at most `max_output_bytes`).",
				Computed:            true,
			},
			"stdout_truncated": schema.BoolAttribute{
				MarkdownDescription: "Whether stdout was longer than `max_output_bytes`.",
				Computed:            true,
			},
			"stderr_truncated": schema.BoolAttribute{
				MarkdownDescription: "Whether stderr was longer than `max_output_bytes`.",
				Computed:            true,
			},
			"exit_code": schema.Int64Attribute{
				MarkdownDescription: "Exit code of the command.",
				Computed:            true,
			},
			"duration_ms": schema.Int64Attribute{
				MarkdownDescription: "How long the command ran, in milliseconds.",
				Computed:            true,
			},
			"timed_out": schema.BoolAttribute{
				MarkdownDescription: "Whether the command was killed at `timeout` (always false in state: a timeout fails the apply).",
				Computed:            true,
			},
		},
	}
}

// execCommand is the argv to run: the command, or the script through /bin/sh -c.
func (m *execModel) execCommand(ctx context.Context, diags *diag.Diagnostics) []string {
	if knownString(m.Script) {
		return []string{"/bin/sh", "-c", m.Script.ValueString()}
	}
	return listStrings(ctx, m.Command, diags)
}

func (r *execResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan execModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	sessionIDValue := plan.SessionID.ValueString()
	timeout, err := workshop.ParseDuration(plan.Timeout.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("timeout"), "Invalid duration", "timeout: "+err.Error())
		return
	}
	execReq := &workshop.ExecRequest{
		Command:        plan.execCommand(ctx, &resp.Diagnostics),
		Container:      plan.Container.ValueString(),
		Env:            execEnv(ctx, plan.Env, req.Config, &resp.Diagnostics),
		WorkingDir:     plan.WorkingDir.ValueString(),
		User:           plan.User.ValueString(),
		Timeout:        timeout,
		MaxOutputBytes: int(plan.MaxOutputBytes.ValueInt64()),
	}
	if resp.Diagnostics.HasError() {
		return
	}
	if len(execReq.Command) == 0 {
		resp.Diagnostics.AddAttributeError(path.Root("command"), "Missing command", "Give command (an argv list) or script.")
		return
	}

	// The backend enforces the command's timeout; the context only guards against a
	// backend that hangs.
	ctx, cancel := context.WithTimeout(ctx, timeout+2*time.Minute)
	defer cancel()

	b, s, diags := r.data.FindSession(ctx, sessionIDValue)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	if s == nil {
		resp.Diagnostics.AddAttributeError(path.Root("session_id"), "Session not found",
			fmt.Sprintf("session_id: no configured backend has a session %q.", sessionIDValue))
		return
	}
	target := execReq.Container
	if target == "" {
		target = s.WorkspaceName
	}
	logFields := map[string]any{"session_id": sessionIDValue, "container": target, "argv0": execReq.Command[0], "timeout": timeout.String()}
	tflog.Info(ctx, "running command in session", logFields)
	res, err := b.Exec(ctx, sessionIDValue, execReq)
	if err != nil {
		addBackendError(&resp.Diagnostics, fmt.Sprintf("run the command in session %s", sessionIDValue), err)
		return
	}
	logFields["exit_code"] = res.ExitCode
	logFields["duration_ms"] = res.Duration.Milliseconds()
	logFields["timed_out"] = res.TimedOut
	if res.KillAttempted {
		logFields["killed_processes"] = len(res.Killed)
		logFields["kill_error"] = res.KillError
	}
	tflog.Info(ctx, "command finished", logFields)

	expected := int(plan.ExpectedExitCode.ValueInt64())
	if res.TimedOut || res.ExitCode != expected {
		what := fmt.Sprintf("exited with code %d (expected %d)", res.ExitCode, expected)
		summary := fmt.Sprintf("Command exited with code %d", res.ExitCode)
		if res.TimedOut {
			what = fmt.Sprintf("timed out after %s; %s", timeout, res.KillSummary())
			summary = "Command timed out after " + timeout.String()
		}
		resp.Diagnostics.AddError(summary, fmt.Sprintf(
			"The command %s %s in session %s (container %s) after %d ms.\n\nstdout:\n%s\n\nstderr:\n%s\n\n"+
				"Nothing was saved: the next apply runs the command again.",
			quoteArgv(execReq.Command), what, sessionIDValue, target, res.Duration.Milliseconds(),
			truncateForDiag(res.Stdout, diagOutputBytes), truncateForDiag(res.Stderr, diagOutputBytes)))
		return
	}

	plan.ID = types.StringValue(randomHex(8))
	plan.Stdout = types.StringValue(res.Stdout)
	plan.Stderr = types.StringValue(res.Stderr)
	plan.StdoutTruncated = types.BoolValue(res.StdoutTruncated)
	plan.StderrTruncated = types.BoolValue(res.StderrTruncated)
	plan.ExitCode = types.Int64Value(int64(res.ExitCode))
	plan.DurationMS = types.Int64Value(res.Duration.Milliseconds())
	plan.TimedOut = types.BoolValue(res.TimedOut)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Read keeps the recorded run as it is. A command's effect cannot be read back, and
// a session that is gone is handled by the session resource: a re-created session has
// a new ID, which replaces this resource, and a reaped (expired) session stays in
// state, so its commands must not be planned to run again either.
func (r *execResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
}

// Update is never called: every configurable attribute requires replacement.
func (r *execResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan execModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Delete only forgets the run: there is nothing to undo.
func (r *execResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	tflog.Debug(ctx, "removing a command run from state; nothing to undo in the session")
}

// quoteArgv renders an argv for a message, the shell script shortened.
func quoteArgv(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if len(a) > 200 {
			a = a[:200] + "..."
		}
		parts[i] = fmt.Sprintf("%q", a)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
