package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Session operation timeouts.
const (
	sessionCreateTimeout = 10 * time.Minute
	sessionReadTimeout   = 2 * time.Minute
	sessionUpdateTimeout = 10 * time.Minute
	sessionDeleteTimeout = 10 * time.Minute
)

// keep is the plan modifier of computed attributes that do not change once the session
// exists (a replacement re-plans from scratch, so they become unknown then).
func keep() []planmodifier.String {
	return []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
}

func (r *workshopSessionResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	dockerDefaults := workshop.DefaultResources(workshop.InfraDocker)
	k8sDefaults := workshop.DefaultResources(workshop.InfraKubernetes)
	inherit := func(pick func(workshop.Resources) string) string {
		return "Unset: the template's value, else `" + pick(dockerDefaults) + "` on docker and `" + pick(k8sDefaults) + "` on kubernetes."
	}

	attrs := sessionPersistenceAttributes()
	resp.Schema = schema.Schema{
		Version: sessionSchemaVersion,
		MarkdownDescription: "One participant's isolated, resource-limited environment, built from a " +
			"`nalabo_workshop_template`. On Docker: its own network (a small subnet from the provider's " +
			"`docker.subnet_pool`), a workspace container named `nalabo-session-<id>` with CPU, memory and " +
			"process limits, not privileged, capabilities dropped to a small allow-list, `no-new-privileges`, " +
			"and the template's ports published on the provider's `docker.bind_address`.\n\n" +
			"Create waits until the workspace runs (and is healthy when its image has a healthcheck). " +
			"Refresh notices objects removed or limits changed outside Terraform. CPU, memory and `duration` " +
			"change in place, and so does `state` (stop and resume a session with `persistence`); a new template `id`, " +
			"participant, `persistence` or (on Docker) storage replaces the session." +
			adoptionRule,
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "Session ID: 10 lower-case hex characters. The workspace container is `nalabo-session-<id>`.",
				Computed:            true,
				PlanModifiers:       keep(),
			},
			"template_id": schema.StringAttribute{
				MarkdownDescription: "`id` of the `nalabo_workshop_template` the session is built from. A change replaces the session.",
				Required:            true,
				Validators:          []validator.String{templateID()},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"participant": schema.StringAttribute{
				MarkdownDescription: "Who the session is for: 1-63 letters, digits, `-`, `_` or `.`, starting and ending with " +
					"a letter or digit (it becomes the label `nalabo.io/participant`). A change replaces the session.",
				Required:      true,
				Validators:    []validator.String{participantName()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"resources": schema.MapAttribute{
				MarkdownDescription: "Resources of this session, Kubernetes quantity syntax, for example " +
					"`resources = { cpu = \"500m\", memory = \"512Mi\" }`. Keys: `cpu` (CPU limit, for example `500m` or `2`; " +
					inherit(func(r workshop.Resources) string { return r.CPU }) + "), `memory` (memory limit, no swap, for example " +
					"`512Mi` or `2Gi`; " + inherit(func(r workshop.Resources) string { return r.Memory }) + "), `storage` (storage " +
					"cap, for example `10Gi`; " + inherit(func(r workshop.Resources) string { return r.Storage }) + ")," + resourcesGPUDoc + " CPU and " +
					"memory change in place; on Docker a storage change replaces the session (a container's writable layer " +
					"cannot be resized) and the cap is enforced only where the storage driver supports it (see " +
					"`storage_enforced`). The values in force are in `effective_resources`." + resourcesShapeNote,
				ElementType: types.StringType,
				Optional:    true,
				Validators:  []validator.Map{resourcesKeys()},
			},
			"effective_resources": schema.SingleNestedAttribute{
				MarkdownDescription: "The resources in force: each key of `resources`, else the template's value, else the " +
					"backend default. Known at plan time for an existing session. A limit changed outside Terraform shows " +
					"here after a refresh and is put back by the next apply.",
				Computed:      true,
				PlanModifiers: []planmodifier.Object{objectplanmodifier.UseStateForUnknown()},
				Attributes: withAttributes(map[string]schema.Attribute{
					"cpu":     schema.StringAttribute{MarkdownDescription: "CPU limit.", Computed: true, PlanModifiers: keep()},
					"memory":  schema.StringAttribute{MarkdownDescription: "Memory limit (no swap).", Computed: true, PlanModifiers: keep()},
					"storage": schema.StringAttribute{MarkdownDescription: "Storage cap.", Computed: true, PlanModifiers: keep()},
				}, effectiveGPUAttributes(keep()...)),
			},
			"duration": schema.StringAttribute{
				MarkdownDescription: "Lifetime of the session, such as `90m`, `3h` or `2d` (1m to 90d); `expires_at` is " +
					"`created_at` plus `duration`. Unset: the template's `duration` (default `" + workshop.DefaultDuration + "`). " +
					"Changes in place.",
				Optional:      true,
				Computed:      true,
				Validators:    []validator.String{sessionDuration()},
				PlanModifiers: keep(),
			},
			"timeouts": timeoutsAttribute(ctx, sessionCreateTimeout, sessionReadTimeout, sessionUpdateTimeout, sessionDeleteTimeout),

			"infrastructure_type": schema.StringAttribute{
				MarkdownDescription: "`docker` or `kubernetes`, from the template.",
				Computed:            true,
				PlanModifiers:       keep(),
			},
			"template_name": schema.StringAttribute{
				MarkdownDescription: "Name of the template (the label `nalabo.io/template`).",
				Computed:            true,
				PlanModifiers:       keep(),
			},
			"status": schema.StringAttribute{
				MarkdownDescription: "Live status: `running`, `pending`, `unhealthy`, `stopped`, `failed`, `degraded` (part of the " +
					"session was removed outside Terraform: the next apply replaces it), `over_quota` (uses more disk than its " +
					"`storage` where the backend cannot cap it; marked, and stopped with `--stop-over-quota`, by the reconciler) or `expired` (past `expires_at`: reaped, " +
					"or, with `persistence`, stopped by the reconciler until `retain_days` are over; kept in state, not re-created, " +
					"until its configuration changes).",
				Computed:      true,
				PlanModifiers: keep(),
			},
			"created_at": schema.StringAttribute{
				MarkdownDescription: "When the session was created (RFC 3339, UTC).",
				Computed:            true,
				PlanModifiers:       keep(),
			},
			"expires_at": schema.StringAttribute{
				MarkdownDescription: "When the session expires (RFC 3339, UTC): `created_at` plus `duration`. Also the label " +
					"`nalabo.io/expires-at` (unix seconds) the reconciler reaps by.",
				Computed: true,
			},
			"workspace_name": schema.StringAttribute{
				MarkdownDescription: "Name of the workspace: the Docker container or Kubernetes pod (`nalabo-session-<id>` on Docker).",
				Computed:            true,
				PlanModifiers:       keep(),
			},
			"network_name": schema.StringAttribute{
				MarkdownDescription: "Docker only: the session's network, `<docker.network>-<id>`.",
				Computed:            true,
				PlanModifiers:       keep(),
			},
			"namespace": schema.StringAttribute{
				MarkdownDescription: "Kubernetes only: the session's namespace, `nalabo-session-<id>`. Null on Docker.",
				Computed:            true,
				PlanModifiers:       keep(),
			},
			"volumes": schema.ListAttribute{
				MarkdownDescription: "Docker volumes the session owns (removed with it).",
				ElementType:         types.StringType,
				Computed:            true,
				PlanModifiers:       []planmodifier.List{listplanmodifier.UseStateForUnknown()},
			},
			"containers": schema.ListAttribute{
				MarkdownDescription: "Every container of the session, the workspace first.",
				ElementType:         types.StringType,
				Computed:            true,
				PlanModifiers:       []planmodifier.List{listplanmodifier.UseStateForUnknown()},
			},
			"ports": schema.ListNestedAttribute{
				MarkdownDescription: "Published ports of the session (the template's `workspace.ports`).",
				Computed:            true,
				PlanModifiers:       []planmodifier.List{listplanmodifier.UseStateForUnknown()},
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"container": schema.StringAttribute{
							MarkdownDescription: "Container that listens.",
							Computed:            true,
						},
						"container_port": schema.Int64Attribute{
							MarkdownDescription: "Port inside the container.",
							Computed:            true,
						},
						"protocol": schema.StringAttribute{
							MarkdownDescription: "`tcp` or `udp`.",
							Computed:            true,
						},
						"host_ip": schema.StringAttribute{
							MarkdownDescription: "Host address the port is published on (the provider's `docker.bind_address`).",
							Computed:            true,
						},
						"host_port": schema.Int64Attribute{
							MarkdownDescription: "Host port Docker chose.",
							Computed:            true,
						},
					},
				},
			},
			"storage_enforced": schema.BoolAttribute{
				MarkdownDescription: "Whether `effective_resources.storage` is enforced. On Docker it is only where the storage driver " +
					"supports a per-container size (overlay2 on xfs with pquota, btrfs, zfs, devicemapper); on overlay2 " +
					"over ext4 it is `false` and the cap is not enforced.",
				Computed:      true,
				PlanModifiers: []planmodifier.Bool{boolplanmodifier.UseStateForUnknown()},
			},
			"kubeconfig": schema.StringAttribute{
				MarkdownDescription: "Kubernetes only: a kubeconfig for the session's cluster or namespace. Sensitive. Null on Docker.",
				Computed:            true,
				Sensitive:           true,
				PlanModifiers:       keep(),
			},
			"access_url": schema.StringAttribute{
				MarkdownDescription: "The participant's way in: `<gateway url>/s/<id>/?token=<token>`, a page of the provider's " +
					"`gateway` with a terminal in the workspace, the template's `instructions`, links to the session's declared web " +
					"ports (`/s/<id>/port/<n>/`) and a \"check my work\" button. The token is signed with " +
					"`gateway.signing_key` for this session only and expires with it (`expires_at`); the gateway also refuses it " +
					"once the session is destroyed. It changes when `expires_at` (or the gateway's URL or key) does, nothing else. " +
					"Null when no gateway is configured. Sensitive: whoever has it has a shell in the session.",
				Computed:  true,
				Sensitive: true,
			},
			"vcluster": schema.SingleNestedAttribute{
				MarkdownDescription: "Kubernetes with `isolation = \"vcluster\"` only (null otherwise): what the session's vCluster " +
					"release was installed with, from the provider's `kubernetes.vcluster` settings and the template's " +
					"`vcluster_values`. When these change, a plan compares: a new `chart` or `values_sha256` is a Helm " +
					"upgrade in place, which restarts the virtual cluster's control plane (without persistence the " +
					"participant's own objects in it are lost; the template's manifests are applied again); a new " +
					"`persistence` or `backing_store` cannot be applied in place and replaces the session. Both come with a " +
					"warning saying so.",
				Computed:      true,
				PlanModifiers: []planmodifier.Object{objectplanmodifier.UseStateForUnknown()},
				Attributes: map[string]schema.Attribute{
					"release": schema.StringAttribute{
						MarkdownDescription: "Helm release of the vCluster, `vcluster-<id>`, in the session's namespace.",
						Computed:            true,
					},
					"chart": schema.StringAttribute{
						MarkdownDescription: "The chart: `<repository>/<name>@<version>`, or the provider's `kubernetes.vcluster.chart_path`. " +
							"Null for a session created before the provider recorded it. A change upgrades the release in place.",
						Computed: true,
					},
					"values_sha256": schema.StringAttribute{
						MarkdownDescription: "SHA-256 of the chart values without the session's own labels: equal for every session of a " +
							"template under one provider configuration; it changes with the provider's `kubernetes.vcluster` values, " +
							"images, image pull policy and persistence settings and with the template's `vcluster_values`. Null for a " +
							"session created before the provider recorded it. A change upgrades the release in place.",
						Computed: true,
					},
					"persistence": schema.StringAttribute{
						MarkdownDescription: "Where the virtual cluster keeps its data: empty for an emptyDir (lost when the control " +
							"plane restarts), else the size of its PersistentVolumeClaim, with `/<storage class>` when one is named " +
							"(`1Gi`, `1Gi/local-path`). A change replaces the session.",
						Computed: true,
					},
					"backing_store": schema.StringAttribute{
						MarkdownDescription: "The virtual cluster's data store, from the chart's `controlPlane.backingStore`: `sqlite` (the " +
							"default), `etcd-embedded`, `etcd-deploy`, `etcd-external` or `database-external`. A change replaces the session.",
						Computed: true,
					},
				},
			},
		},
	}
	for k, v := range attrs {
		resp.Schema.Attributes[k] = v
	}
}
