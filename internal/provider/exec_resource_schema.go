package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
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

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

const (
	defaultExecTimeout = "30s"
	maxExecOutputBytes = 1 << 20
)

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
