package workshop

import (
	"context"
	"fmt"
	"regexp"
	"time"
)

// DefaultValidationTimeout applies to a validation check that names no timeout.
const DefaultValidationTimeout = 30 * time.Second

// ValidationResult is the outcome of one validation check run in a session.
type ValidationResult struct {
	Name             string
	Passed           bool
	ExitCode         int
	ExpectedExitCode int
	OutputPattern    string
	// Output is the command's stdout, Stderr its stderr (bounded).
	Output          string
	Stderr          string
	OutputTruncated bool
	Duration        time.Duration
	TimedOut        bool
	// Reason says why a check failed ("" when it passed).
	Reason string
	// ExecError is set when the command could not be run at all (the session is gone,
	// the backend failed): the check is failed, not graded.
	ExecError error
}

// RunValidation runs one check through the backend's Exec and grades it: the exit code
// must be ExpectedExitCode and, when OutputPattern is set, stdout must match it.
func RunValidation(ctx context.Context, b Backend, sessionID string, v Validation) ValidationResult {
	r := ValidationResult{Name: v.Name, ExpectedExitCode: v.ExpectedExitCode, OutputPattern: v.OutputPattern, ExitCode: -1}
	timeout := DefaultValidationTimeout
	if v.Timeout != "" {
		d, err := ParseDuration(v.Timeout)
		if err != nil {
			r.Reason = fmt.Sprintf("timeout %q: %v", v.Timeout, err)
			return r
		}
		timeout = d
	}
	var re *regexp.Regexp
	if v.OutputPattern != "" {
		var err error
		if re, err = regexp.Compile(v.OutputPattern); err != nil {
			r.Reason = fmt.Sprintf("output_pattern %q is not a valid regular expression: %v", v.OutputPattern, err)
			return r
		}
	}
	if len(v.Command) == 0 {
		r.Reason = "the check has no command"
		return r
	}
	start := time.Now()
	res, err := b.Exec(ctx, sessionID, &ExecRequest{Command: v.Command, Timeout: timeout})
	if err != nil {
		r.Duration = time.Since(start)
		r.ExecError = err
		r.Reason = "could not run the command: " + err.Error()
		return r
	}
	r.ExitCode = res.ExitCode
	r.Output, r.Stderr = res.Stdout, res.Stderr
	r.OutputTruncated = res.StdoutTruncated
	r.Duration = res.Duration
	if r.Duration == 0 {
		r.Duration = time.Since(start)
	}
	r.TimedOut = res.TimedOut
	switch {
	case res.TimedOut:
		r.Reason = fmt.Sprintf("timed out after %s; %s", timeout, res.KillSummary())
	case res.ExitCode != v.ExpectedExitCode:
		r.Reason = fmt.Sprintf("exit code %d, expected %d", res.ExitCode, v.ExpectedExitCode)
	case re != nil && !re.MatchString(res.Stdout):
		r.Reason = fmt.Sprintf("stdout does not match %q", v.OutputPattern)
	default:
		r.Passed = true
	}
	return r
}

// RunValidations runs checks one after the other (in the template's order) and returns
// a result for each. It stops early only when ctx ends; the remaining checks are then
// reported failed with ctx's error.
func RunValidations(ctx context.Context, b Backend, sessionID string, checks []Validation) []ValidationResult {
	out := make([]ValidationResult, 0, len(checks))
	for _, v := range checks {
		if err := ctx.Err(); err != nil {
			out = append(out, ValidationResult{Name: v.Name, ExpectedExitCode: v.ExpectedExitCode, OutputPattern: v.OutputPattern,
				ExitCode: -1, ExecError: err, Reason: "not run: " + err.Error()})
			continue
		}
		out = append(out, RunValidation(ctx, b, sessionID, v))
	}
	return out
}
