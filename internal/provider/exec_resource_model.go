package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// execModel is the state and plan of nalabo_exec.
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

// execCommand is the argv to run: the command, or the script through /bin/sh -c.
func (m *execModel) execCommand(ctx context.Context, diags *diag.Diagnostics) []string {
	if knownString(m.Script) {
		return []string{"/bin/sh", "-c", m.Script.ValueString()}
	}
	return listStrings(ctx, m.Command, diags)
}

// execRequest is the backend's request for a plan; env_wo is read from config, where
// it is the only place it exists. false after a diagnostic.
func (m *execModel) execRequest(ctx context.Context, config tfsdk.Config, diags *diag.Diagnostics) (*workshop.ExecRequest, bool) {
	timeout, err := workshop.ParseDuration(m.Timeout.ValueString())
	if err != nil {
		diags.AddAttributeError(path.Root("timeout"), "Invalid duration", "timeout: "+err.Error())
		return nil, false
	}
	execReq := &workshop.ExecRequest{
		Command:        m.execCommand(ctx, diags),
		Container:      m.Container.ValueString(),
		Env:            execEnv(ctx, m.Env, config, diags),
		WorkingDir:     m.WorkingDir.ValueString(),
		User:           m.User.ValueString(),
		Timeout:        timeout,
		MaxOutputBytes: int(m.MaxOutputBytes.ValueInt64()),
	}
	if diags.HasError() {
		return nil, false
	}
	if len(execReq.Command) == 0 {
		diags.AddAttributeError(path.Root("command"), "Missing command", "Give command (an argv list) or script.")
		return nil, false
	}
	return execReq, true
}

// setResult records a successful run's computed attributes.
func (m *execModel) setResult(res *workshop.ExecResult) {
	m.Stdout = types.StringValue(res.Stdout)
	m.Stderr = types.StringValue(res.Stderr)
	m.StdoutTruncated = types.BoolValue(res.StdoutTruncated)
	m.StderrTruncated = types.BoolValue(res.StderrTruncated)
	m.ExitCode = types.Int64Value(int64(res.ExitCode))
	m.DurationMS = types.Int64Value(res.Duration.Milliseconds())
	m.TimedOut = types.BoolValue(res.TimedOut)
}
