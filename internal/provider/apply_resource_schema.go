package provider

import (
	"context"
	"regexp"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Apply operation timeouts (a dockerfile apply builds an image).
const (
	applyCreateTimeout = 20 * time.Minute
	applyReadTimeout   = 5 * time.Minute
	applyUpdateTimeout = 20 * time.Minute
	applyDeleteTimeout = 10 * time.Minute
)

var serviceNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (r *applyResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Applies a configuration to a live session (like the gateway's `POST /api/workshops/sessions/{id}/apply`) and tracks what it " +
			"created, so that an update prunes what the configuration no longer holds and destroy removes the rest " +
			"(and nothing else: never the template's services or the workspace). Every object carries the session's " +
			"labels plus `nalabo.io/apply=<id>`, and is removed with the session too.\n\n" +
			"- `compose` (Docker sessions): adds or changes services next to the workspace, with the same network, " +
			"labels, security defaults and limits as a template's services (the session's CPU and memory are shared " +
			"again between all its containers). A changed service's container is recreated.\n" +
			"- `dockerfile` (Docker sessions): builds an image tagged `nalabo-session-<session id>/<id>:latest` through " +
			"the Docker API; with `run = true` it also runs it as a service.\n" +
			"- `yaml` (Kubernetes sessions): server-side apply (field manager `nalabo`) of multi-document Kubernetes YAML " +
			"into the session's namespace, awaited the kstatus way. Validated at plan time; at apply a document that names " +
			"another namespace, a cluster-scoped kind (namespace isolation) or an object the apply does not own (the " +
			"workspace, the template's objects) is refused, naming the document. A Docker session refuses `yaml`.\n\n" +
			"An object removed outside Terraform shows in the plan as a re-apply. A failed apply removes what it " +
			"created in that run.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "Apply ID: the value of the `nalabo.io/apply` label of every object it manages.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"session_id": schema.StringAttribute{
				MarkdownDescription: "`id` of the `nalabo_workshop_session` to apply to. Changing it replaces the resource.",
				Required:            true,
				Validators:          []validator.String{sessionID()},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"type": schema.StringAttribute{
				MarkdownDescription: "What `configuration` is: `compose` (a Compose file), `dockerfile` (a Dockerfile) or " +
					"`yaml` (multi-document Kubernetes YAML). Changing it replaces the resource.",
				Required:      true,
				Validators:    []validator.String{stringvalidator.OneOf(workshop.ConfigTypes...)},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"configuration": schema.StringAttribute{
				MarkdownDescription: "The Compose file, the Dockerfile or the YAML, usually `file(\"...\")`. Validated at plan " +
					"time: unknown Compose keys, `depends_on` cycles, services without an image, YAML that does not parse, " +
					"documents without `apiVersion`/`kind`.",
				Required:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"context": schema.StringAttribute{
				MarkdownDescription: "A directory on the machine running Terraform: the build context of a `dockerfile` " +
					"(without it, the build sees only the Dockerfile), or the directory a `compose` file's relative paths " +
					"resolve against (build contexts, bind mounts; bind mounts from anywhere else are refused). " +
					"Its files count towards `context_sha256`." + hostDirDoc,
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1), hostDirectory()},
			},
			"context_sha256": schema.StringAttribute{
				MarkdownDescription: "SHA-256 of the files under `context`, computed at plan time: a changed file applies again.",
				Computed:            true,
			},
			"run": schema.BoolAttribute{
				MarkdownDescription: "`dockerfile` only: also run the built image as a service named `service_name`. Default `false`.",
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(false),
			},
			"service_name": schema.StringAttribute{
				MarkdownDescription: "`dockerfile` with `run` only: the service's name (its DNS name on the session network " +
					"and the `nalabo-session-<id>-<service_name>` container). Default `" + defaultApplyService + "`.",
				Optional: true,
				Validators: []validator.String{stringvalidator.RegexMatches(serviceNameRE,
					"must be 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit")},
			},
			"objects": schema.ListNestedAttribute{
				MarkdownDescription: "What the apply manages now, sorted by kind and name.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"kind": schema.StringAttribute{
						MarkdownDescription: "`container`, `volume` or `image` on Docker; on Kubernetes the object's kind, bare for the core group (`ConfigMap`) and `Kind.group` otherwise (`Deployment.apps`).",
						Computed:            true,
					},
					"name": schema.StringAttribute{
						MarkdownDescription: "The object's name (an image's tag).",
						Computed:            true,
					},
					"status": schema.StringAttribute{
						MarkdownDescription: "`running`, `healthy`, `exited`, `present`, ...; `missing` when it was removed outside Terraform (the next apply re-applies).",
						Computed:            true,
					},
				}},
			},
			"image": schema.StringAttribute{
				MarkdownDescription: "`dockerfile` only: the tag of the built image, `nalabo-session-<session id>/<id>:latest`.",
				Computed:            true,
			},
			"timeouts": timeoutsAttribute(ctx, applyCreateTimeout, applyReadTimeout, applyUpdateTimeout, applyDeleteTimeout),
		},
	}
}
