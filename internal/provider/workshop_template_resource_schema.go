package provider

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/objectvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Template operation timeouts (building a workspace image can take a while).
const (
	templateCreateTimeout = 20 * time.Minute
	templateReadTimeout   = 5 * time.Minute
	templateUpdateTimeout = 20 * time.Minute
	templateDeleteTimeout = 10 * time.Minute
)

// Default timeout of a validation check.
const defaultValidationTimeout = "30s"

// podSecurityLevels are the Pod Security Standards levels.
var podSecurityLevels = []string{"privileged", "baseline", "restricted"}

func (r *workshopTemplateResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	dockerDefaults := workshop.DefaultResources(workshop.InfraDocker)
	k8sDefaults := workshop.DefaultResources(workshop.InfraKubernetes)
	defaultsText := func(pick func(workshop.Resources) string) string {
		return "Default `" + pick(dockerDefaults) + "` on docker, `" + pick(k8sDefaults) + "` on kubernetes."
	}

	resp.Schema = schema.Schema{
		Version: templateSchemaVersion,
		MarkdownDescription: "A validated, content-addressed workshop definition that sessions are built from. " +
			"Creating or updating it makes every image it names present on the host (building the workspace " +
			"image when `workspace.build` is given) and stores the definition so sessions can find it by `id`.\n\n" +
			"The `id` and `digest` change whenever anything that shapes a session changes (everything but " +
			"`validations` and `instructions`), so sessions that reference the template by `id` are replaced. Changing only " +
			"`validations` or `instructions` updates the template in place and keeps its `id`.\n\n" +
			"The digest comes from content, never from where files sit: a build context or Compose directory " +
			"counts through its files (relative paths, contents, executable bits, symlink targets; what " +
			"`.dockerignore` excludes does not count), not through its path. A configuration moved to another " +
			"directory (as every HCP Terraform run is) keeps its template and sessions; with relative paths " +
			"(`\"${path.module}/...\"`) the plan is empty, with `abspath()` the template is updated in place.\n\n" +
			"Each resource instance owns its stored copy of the template: two states (two cohorts) or two " +
			"resources declaring the same template get the same `digest` but different `id`s, and destroying " +
			"one never touches the other's copy or sessions. Images built for the template are shared by the " +
			"copies and removed with the last one. Templates created by earlier builds of the provider (three-part " +
			"IDs) keep a shared copy and their earlier digest rules (paths included) until they are replaced.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "Template ID, `<infrastructure_type>.<name>.<first 12 hex digits of digest>.<owner>`, " +
					"where `<owner>` (8 hex digits) identifies this resource instance's stored copy. Changes whenever " +
					"`digest` does. To take over a copy whose state was lost, import it by this ID.",
				Computed: true,
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "Template name: 1-63 lower-case letters, digits or `-` (a DNS label). It is part of the " +
					"`id`, of object labels (`nalabo.io/template`) and of built image tags.",
				Required:   true,
				Validators: []validator.String{templateName()},
			},
			"infrastructure_type": schema.StringAttribute{
				MarkdownDescription: "Where sessions run: `docker`, `kubernetes` or `swarm` (a Docker Swarm: the provider's `swarm` block).",
				Required:            true,
				Validators:          []validator.String{stringvalidator.OneOf(workshop.InfrastructureTypes...)},
			},
			"isolation": schema.StringAttribute{
				MarkdownDescription: "Kubernetes only: `vcluster` (default; a vCluster per session) or `namespace` " +
					"(a locked-down namespace per session). Always null on docker templates; setting it there is an error.",
				Optional:   true,
				Computed:   true,
				Validators: []validator.String{stringvalidator.OneOf(workshop.Isolations...)},
			},
			"manifests": schema.StringAttribute{
				MarkdownDescription: "Kubernetes only: multi-document YAML applied into every session.",
				Optional:            true,
			},
			"vcluster_values": schema.StringAttribute{
				MarkdownDescription: "Kubernetes with `isolation = \"vcluster\"` only: Helm values of the vCluster chart, as YAML " +
					"whose top level is a mapping, merged over the values the provider builds and its `kubernetes.vcluster.values`, " +
					"last (maps merge key by key, anything else replaces). Part of the `digest`, so a change replaces the " +
					"template's sessions. Values that move the virtual cluster's data store (persistence, " +
					"`controlPlane.backingStore`) show in each session's `vcluster`.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1), chartValues()},
			},
			"compose": schema.StringAttribute{
				MarkdownDescription: "Docker only: a Compose file whose services run in every session next to the workspace, " +
					"on the session's own network (each reachable by its service name), as containers " +
					"`nalabo-session-<id>-<service>` with the session's labels and the workspace's security defaults " +
					"(capabilities dropped to the allow-list, no-new-privileges, pids limit, never privileged). " +
					"Validated at plan time (unknown keys, `depends_on` cycles, services without an image or build, " +
					"bind mounts outside `compose_directory`, services asking for more CPU or memory than `resources`). " +
					"Every service image is made present when the template is created (pulled once, or built from its " +
					"`build` section). Named volumes are per session (`nalabo-session-<id>-<volume>`, removed with it); " +
					"ports are published on the provider's `docker.bind_address` with a host port Docker picks, whatever " +
					"the file says. The session's `cpu` and `memory` are the budget of the workspace and all services " +
					"together: a service with its own limits (`deploy.resources.limits`, `cpus`, `mem_limit`) takes them, " +
					"the rest is shared equally. Not supported: `env_file`, `configs`, `secrets`, `network_mode`, devices, " +
					"`privileged`, `container_name`, `extends` from another file, external volumes.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"compose_directory": schema.StringAttribute{
				MarkdownDescription: "Docker only, with `compose`: the directory the Compose file's relative paths resolve " +
					"against (build contexts and bind-mount sources), on the machine running Terraform. Bind mounts " +
					"from anywhere else (after following symlinks) are refused; without it, every bind mount is. Named volumes need no directory." + hostDirDoc,
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1), stringvalidator.AlsoRequires(path.MatchRoot("compose")), hostDirectory()},
			},
			"compose_builds": schema.MapAttribute{
				MarkdownDescription: "SHA-256 of the build context of every Compose service with a `build` section (service " +
					"name to hash), computed at plan time: a changed file changes the template's `digest`.",
				ElementType: types.StringType,
				Computed:    true,
			},
			"resources": schema.MapAttribute{
				MarkdownDescription: "Default resources of the template's sessions (a session's own `resources` win), Kubernetes " +
					"quantity syntax: `cpu` (CPU limit, for example `500m` or `2`; " + defaultsText(func(r workshop.Resources) string { return r.CPU }) +
					"), `memory` (memory limit, for example `512Mi` or `2Gi`; " + defaultsText(func(r workshop.Resources) string { return r.Memory }) +
					"), `storage` (storage cap, for example `10Gi`; " + defaultsText(func(r workshop.Resources) string { return r.Storage }) +
					")," + resourcesGPUDoc + " Unset keys get the backend defaults; `effective_resources` shows the result." + resourcesShapeNote,
				ElementType: types.StringType,
				Optional:    true,
				Validators:  []validator.Map{resourcesKeys()},
			},
			"effective_resources": schema.SingleNestedAttribute{
				MarkdownDescription: "The template's `resources` over the backend defaults, known at plan time: what its " +
					"sessions inherit. Part of the `digest`.",
				Computed: true,
				Attributes: withAttributes(map[string]schema.Attribute{
					"cpu":     schema.StringAttribute{MarkdownDescription: "CPU limit.", Computed: true},
					"memory":  schema.StringAttribute{MarkdownDescription: "Memory limit.", Computed: true},
					"storage": schema.StringAttribute{MarkdownDescription: "Storage cap.", Computed: true},
				}, effectiveGPUAttributes()),
			},
			"duration": schema.StringAttribute{
				MarkdownDescription: "Default lifetime of the template's sessions, such as `90m`, `4h` or `2d` (1m to 90d). " +
					"Default `" + workshop.DefaultDuration + "`.",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(workshop.DefaultDuration),
				Validators: []validator.String{sessionDuration()},
			},
			"pod_security": schema.StringAttribute{
				MarkdownDescription: "Kubernetes only: Pod Security Standards level of session namespaces, one of `" +
					strings.Join(podSecurityLevels, "`, `") + "`.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.OneOf(podSecurityLevels...)},
			},
			"warm_pool": schema.Int64Attribute{
				MarkdownDescription: "Kubernetes only, default `0` (none). How many sessions of this template are kept " +
					"started and unassigned (0 to " + strconv.Itoa(workshop.MaxWarmPool) + "): a new session claims one (its " +
					"participant, expiry and resources, credentials minted at the claim, the template's objects labelled for " +
					"it) instead of starting cold, and falls back to a cold start when none is free. A pool entry reserves its " +
					"resources like a session. The provider fills the pool when the template is created or updated (this " +
					"apply waits for it) unless a leading reconciler refills the pools (its Lease in the control namespace is " +
					"fresh and records a recent refill), which then refills it on every pass; shrinking removes free entries; deleting the template removes them all. " +
					"Not part of the digest: resizing the pool changes no session.",
				Optional:   true,
				Computed:   true,
				Default:    int64default.StaticInt64(0),
				Validators: []validator.Int64{int64validator.Between(0, workshop.MaxWarmPool)},
			},
			"pre_pull": schema.BoolAttribute{
				MarkdownDescription: "Kubernetes only, default `true` (a Docker template ignores it). When the template is " +
					"created or updated, its images (the workspace image and every container image of `manifests`) are pulled " +
					"onto every node that can run sessions, by a short-lived DaemonSet in the provider's control namespace " +
					"(non-root, no capabilities, no service account token; removed once every node has the images, or on " +
					"failure), so that the first session on each node does not wait for a pull. Images are pulled with the " +
					"policy the sessions use (`IfNotPresent`, or `Never` when a manifest says so, which then only checks that " +
					"the image is on every node). An image that cannot be pulled fails the template with its name. " +
					"A DaemonSet whose creator was killed (a `terraform apply` stopped by SIGKILL) is removed by the next " +
					"template create or delete, or by the reconciler (its heartbeat stops). " +
					"The provider's credentials need `create`, `list`, `patch` and `delete` on `daemonsets` and `watch` on " +
					"`daemonsets` and `pods` in the control namespace.",
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(true),
			},
			"docker_in_docker": schema.BoolAttribute{
				MarkdownDescription: "Docker only, default `false`. Runs the workspace **privileged** so that it can run its own " +
					"Docker engine. A privileged container can take over the host (and every other session on it): " +
					"enable it only for trusted participants on a dedicated host.",
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(false),
			},
			"egress": schema.StringAttribute{
				MarkdownDescription: "Docker only: what the template's sessions may reach outside themselves. " +
					"`restricted` (default): DNS and the internet, but not the provider's `docker.egress_deny` ranges (the " +
					"cloud metadata endpoints by default), not the Docker host itself (its services, other sessions' published " +
					"ports) and not other sessions, whatever `docker.bind_address` is. `open`: no egress rule at all (Docker's " +
					"own bridge behaviour: metadata, host and, through a host address, other sessions' published ports are " +
					"reachable). `none`: an internal network with no route out at all (exams); the session's own services stay " +
					"reachable, but no port can be published, so `workspace.ports` and Compose `ports` are refused. " +
					"`restricted` and `none` need the engine's host to accept the provider's egress helper container " +
					"(network mode host, `NET_ADMIN`), installed once per engine. Part of the `digest`. Always null on " +
					"kubernetes templates.",
				Optional:   true,
				Computed:   true,
				Validators: []validator.String{stringvalidator.OneOf(workshop.Egresses...)},
			},
			"placement_constraints": placementConstraintsAttribute(),
			"node_selector":         nodeSelectorAttribute(),
			"runtime_class_name":    runtimeClassNameAttribute(),
			"instructions": schema.StringAttribute{
				MarkdownDescription: "Markdown shown to participants next to their terminal on the gateway's page " +
					"(`access_url`): the exercise's steps. Rendered by the gateway (CommonMark with tables and " +
					"strikethrough; raw HTML is dropped, links get `rel=\"noopener noreferrer\"`). Stored with the " +
					"template and not part of the `digest`, so editing it updates the template in place and keeps the " +
					"`id` and the sessions; an open page shows the new text when reloaded. At most 65536 characters.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthBetween(1, workshop.MaxInstructionsBytes)},
			},
			"validations": schema.ListNestedAttribute{
				MarkdownDescription: "Checks that grade a session (stored with the template; not part of the digest, so " +
					"changing them keeps the `id` and the sessions).",
				Optional: true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"name": schema.StringAttribute{
							MarkdownDescription: "Name of the check, unique within the template.",
							Required:            true,
							Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
						},
						"command": schema.ListAttribute{
							MarkdownDescription: "Command (argv) run in the session's workspace.",
							ElementType:         types.StringType,
							Required:            true,
							Validators:          []validator.List{listvalidator.SizeAtLeast(1)},
						},
						"expected_exit_code": schema.Int64Attribute{
							MarkdownDescription: "Exit code that means success. Default `0`.",
							Optional:            true,
							Computed:            true,
							Default:             int64default.StaticInt64(0),
							Validators:          []validator.Int64{int64validator.Between(0, 255)},
						},
						"output_pattern": schema.StringAttribute{
							MarkdownDescription: "Go regular expression (RE2) that stdout must also match.",
							Optional:            true,
							Validators:          []validator.String{goRegexp()},
						},
						"timeout": schema.StringAttribute{
							MarkdownDescription: "How long the check may run. Default `" + defaultValidationTimeout + "`.",
							Optional:            true,
							Computed:            true,
							Default:             stringdefault.StaticString(defaultValidationTimeout),
							Validators:          []validator.String{timeoutDuration()},
						},
					},
				},
			},
			"digest": schema.StringAttribute{
				MarkdownDescription: "`sha256:` digest of everything that shapes a session (all attributes but `validations`, `instructions`, " +
					"plus the resolved image IDs).",
				Computed: true,
			},
			"images": schema.MapAttribute{
				MarkdownDescription: "Every image the template uses, image reference to the image ID present on the host.",
				ElementType:         types.StringType,
				Computed:            true,
			},
			"timeouts": timeoutsAttribute(ctx, templateCreateTimeout, templateReadTimeout, templateUpdateTimeout, templateDeleteTimeout),
		},
		Blocks: map[string]schema.Block{
			"toleration": tolerationBlock(),
			"workspace": schema.SingleNestedBlock{
				MarkdownDescription: "Required. The participant's main container. Give exactly one of `image` and `build`. " +
					"A block (`workspace { ... }`, no `=`) so that a misspelt argument (`portz`, `imgae`) is an error " +
					"instead of being dropped silently.",
				Validators: []validator.Object{objectvalidator.IsRequired()},
				Attributes: map[string]schema.Attribute{
					"image": schema.StringAttribute{
						MarkdownDescription: "Image reference of the workspace, for example `registry.example.com/workshop/shell:1`. " +
							"Pulled once for the whole class (with the provider's registry_auth) when not present on the host.",
						Optional: true,
						Validators: []validator.String{
							stringvalidator.LengthAtLeast(1),
							stringvalidator.ExactlyOneOf(path.MatchRoot("workspace").AtName("build")),
						},
					},
					"command": schema.ListAttribute{
						MarkdownDescription: "Command (argv) the workspace runs instead of the image's default, for example `[\"sleep\", \"infinity\"]`.",
						ElementType:         types.StringType,
						Optional:            true,
					},
					"env": schema.MapAttribute{
						MarkdownDescription: "Environment variables of the workspace. A name that is empty or contains `=` is refused.",
						ElementType:         types.StringType,
						Optional:            true,
						Validators:          []validator.Map{envKeys()},
					},
					"user": schema.StringAttribute{
						MarkdownDescription: "User (name or `uid[:gid]`) the workspace runs as. Default the image's.",
						Optional:            true,
					},
					"working_dir": schema.StringAttribute{
						MarkdownDescription: "Working directory of the workspace. Default the image's.",
						Optional:            true,
					},
					"ports": schema.ListAttribute{
						MarkdownDescription: "Container ports (1-65535, TCP) published for every session. On Docker they listen on the " +
							"provider's `docker.bind_address` (default `127.0.0.1`) with a host port Docker picks; the " +
							"session's `ports` attribute tells which.",
						ElementType: types.Int64Type,
						Optional:    true,
						Validators: []validator.List{
							listvalidator.ValueInt64sAre(int64validator.Between(1, 65535)),
							listvalidator.UniqueValues(),
						},
					},
				},
				Blocks: map[string]schema.Block{
					"build": schema.SingleNestedBlock{
						MarkdownDescription: "Builds the workspace image from a Dockerfile on the machine running Terraform " +
							"(docker templates only). The image is tagged `nalabo/<name>:<first 12 hex of context_sha256>`. " +
							"A block (`build { ... }`): a misspelt argument is an error.",
						// context is required through a validator: the framework would
						// otherwise require it even when the block is absent.
						Validators: []validator.Object{objectvalidator.AlsoRequires(path.MatchRelative().AtName("context"))},
						Attributes: map[string]schema.Attribute{
							"context": schema.StringAttribute{
								MarkdownDescription: "Required. Path of the build context directory (relative paths are relative to the " +
									"directory Terraform runs in; prefer `\"${path.module}/...\"`). Every file the builder gets " +
									"(`.dockerignore` honoured) counts towards `context_sha256`; the path itself does not." + hostDirDoc,
								Optional:   true,
								Validators: []validator.String{stringvalidator.LengthAtLeast(1), hostDirectory()},
							},
							"dockerfile": schema.StringAttribute{
								MarkdownDescription: "Path of the Dockerfile, relative to `context`. Default `" + workshop.DefaultDockerfile + "`.",
								Optional:            true,
								Computed:            true,
								Default:             stringdefault.StaticString(workshop.DefaultDockerfile),
								Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
							},
							"args": schema.MapAttribute{
								MarkdownDescription: "Build arguments (`ARG` values).",
								ElementType:         types.StringType,
								Optional:            true,
							},
							"context_sha256": schema.StringAttribute{
								MarkdownDescription: "SHA-256 of the build context's files, computed at plan time: a changed, added or " +
									"removed file changes it, hence the template's `digest`, and replaces the sessions.",
								Computed: true,
							},
						},
					},
				},
			},
		},
	}
}
