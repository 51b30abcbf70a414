package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var (
	_ resource.Resource                   = (*execResource)(nil)
	_ resource.ResourceWithConfigure      = (*execResource)(nil)
	_ resource.ResourceWithValidateConfig = (*execResource)(nil)
)

// diagOutputBytes bounds stdout and stderr quoted in a failure diagnostic.
const diagOutputBytes = 4096

// NewExecResource is the nalabo_exec resource.
func NewExecResource() resource.Resource { return &execResource{} }

type execResource struct {
	data *providerData
}

func (r *execResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_exec"
}

func (r *execResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *execResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan execModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	sessionIDValue := plan.SessionID.ValueString()
	execReq, ok := plan.execRequest(ctx, req.Config, &resp.Diagnostics)
	if !ok {
		return
	}

	// The backend enforces the command's timeout; the context only guards against a
	// backend that hangs.
	ctx, cancel := context.WithTimeout(ctx, execReq.Timeout+2*time.Minute)
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
	logFields := map[string]any{"session_id": sessionIDValue, "container": target, "argv0": execReq.Command[0], "timeout": execReq.Timeout.String()}
	tflog.Info(ctx, "running command in session", logFields)
	res, err := b.Exec(ctx, sessionIDValue, execReq)
	if err != nil {
		addBackendError(&resp.Diagnostics, fmt.Sprintf("run the command in session %s", sessionIDValue), err)
		return
	}
	addExecResultFields(logFields, res)
	tflog.Info(ctx, "command finished", logFields)

	expected := int(plan.ExpectedExitCode.ValueInt64())
	if res.TimedOut || res.ExitCode != expected {
		resp.Diagnostics.AddError(execFailure(execReq, res, expected, sessionIDValue, target))
		return
	}
	plan.ID = types.StringValue(randomHex(8))
	plan.setResult(res)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// addExecResultFields adds how the command ended to its log fields.
func addExecResultFields(fields map[string]any, res *workshop.ExecResult) {
	fields["exit_code"] = res.ExitCode
	fields["duration_ms"] = res.Duration.Milliseconds()
	fields["timed_out"] = res.TimedOut
	if res.KillAttempted {
		fields["killed_processes"] = len(res.Killed)
		fields["kill_error"] = res.KillError
	}
}

// execFailure is the summary and detail of a run that timed out or exited with another
// code than expected, with its (bounded) output.
func execFailure(execReq *workshop.ExecRequest, res *workshop.ExecResult, expected int, sessionID, target string) (string, string) {
	what := fmt.Sprintf("exited with code %d (expected %d)", res.ExitCode, expected)
	summary := fmt.Sprintf("Command exited with code %d", res.ExitCode)
	if res.TimedOut {
		what = fmt.Sprintf("timed out after %s; %s", execReq.Timeout, res.KillSummary())
		summary = "Command timed out after " + execReq.Timeout.String()
	}
	return summary, fmt.Sprintf(
		"The command %s %s in session %s (container %s) after %d ms.\n\nstdout:\n%s\n\nstderr:\n%s\n\n"+
			"Nothing was saved: the next apply runs the command again.",
		quoteArgv(execReq.Command), what, sessionID, target, res.Duration.Milliseconds(),
		truncateForDiag(res.Stdout, diagOutputBytes), truncateForDiag(res.Stderr, diagOutputBytes))
}

// Read keeps the recorded run: a command's effect cannot be read back, and a reaped
// session's commands must not be planned again (a re-created session replaces them).
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
