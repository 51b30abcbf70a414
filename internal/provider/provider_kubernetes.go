package provider

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/objectvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/config"
	"github.com/nalabo/terraform-provider-nalabo/internal/envconfig"
	"github.com/nalabo/terraform-provider-nalabo/internal/vcluster"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

type kubernetesModel struct {
	ConfigPath           types.String   `tfsdk:"config_path"`
	Context              types.String   `tfsdk:"context"`
	Host                 types.String   `tfsdk:"host"`
	Token                types.String   `tfsdk:"token"`
	ClusterCACertificate types.String   `tfsdk:"cluster_ca_certificate"`
	Insecure             types.Bool     `tfsdk:"insecure"`
	Namespace            types.String   `tfsdk:"namespace"`
	ParticipantServer    types.String   `tfsdk:"participant_server"`
	Exec                 *k8sExecModel  `tfsdk:"exec"`
	VCluster             *vclusterModel `tfsdk:"vcluster"`
	EgressDeny           types.List     `tfsdk:"egress_deny"`
	Overcommit           types.Object   `tfsdk:"overcommit"`
	RegistryAuth         types.List     `tfsdk:"registry_auth"`
}

type k8sExecModel struct {
	APIVersion types.String `tfsdk:"api_version"`
	Command    types.String `tfsdk:"command"`
	Args       types.List   `tfsdk:"args"`
	Env        types.Map    `tfsdk:"env"`
}

type vclusterModel struct {
	ChartRepository    types.String `tfsdk:"chart_repository"`
	ChartPath          types.String `tfsdk:"chart_path"`
	ChartVersion       types.String `tfsdk:"chart_version"`
	Values             types.String `tfsdk:"values"`
	SyncerImage        types.String `tfsdk:"syncer_image"`
	ControlPlaneImage  types.String `tfsdk:"control_plane_image"`
	CoreDNSImage       types.String `tfsdk:"coredns_image"`
	ImagePullPolicy    types.String `tfsdk:"image_pull_policy"`
	ControlPlaneCPU    types.String `tfsdk:"control_plane_cpu"`
	ControlPlaneMemory types.String `tfsdk:"control_plane_memory"`
	Persistence        types.Bool   `tfsdk:"persistence"`
	PersistenceSize    types.String `tfsdk:"persistence_size"`
	StorageClass       types.String `tfsdk:"storage_class"`
	APIAccess          types.String `tfsdk:"api_access"`
}

func kubernetesProviderSchema() schema.SingleNestedBlock {
	return schema.SingleNestedBlock{
		MarkdownDescription: "The Kubernetes cluster sessions of `kubernetes` templates run on. " +
			"Configured when this block is present or when `KUBE_CONFIG_PATH`, `KUBECONFIG` or `K8S_ENDPOINT` is set; " +
			"otherwise a `kubernetes` template fails with a clear diagnostic (the provider never dials a default address). " +
			blockShapeNote,
		Attributes: map[string]schema.Attribute{
			"config_path": schema.StringAttribute{
				MarkdownDescription: "Path of a kubeconfig file (`~` is expanded; several files separated by `:` are merged like kubectl does). " +
					envconfig.FallbackNote("kubernetes.config_path"),
				Optional: true,
			},
			"context": schema.StringAttribute{
				MarkdownDescription: "Context of the kubeconfig to use. " + envconfig.FallbackNote("kubernetes.context") + " Default the kubeconfig's current context.",
				Optional:            true,
			},
			"host": schema.StringAttribute{
				MarkdownDescription: "API server address (`https://host:port`); overrides the kubeconfig's. " + envconfig.FallbackNote("kubernetes.host") +
					" With `K8S_ENDPOINT`, `K8S_TOKEN` and `K8S_CLUSTER_CA_CERTIFICATE` a remote runner (HCP Terraform) needs no kubeconfig file and no `kubernetes` block.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.RegexMatches(k8sHostRE, "must be an http:// or https:// address")},
			},
			"token": schema.StringAttribute{
				MarkdownDescription: "Bearer token; overrides the kubeconfig user's credentials. " + envconfig.FallbackNote("kubernetes.token") + " " + providerSecretNote,
				Optional:            true,
				Sensitive:           true,
			},
			"cluster_ca_certificate": schema.StringAttribute{
				MarkdownDescription: "PEM-encoded CA certificate of the API server; overrides the kubeconfig's. " + envconfig.FallbackNote("kubernetes.cluster_ca_certificate") +
					" The variable may hold the PEM text or its base64 encoding (a kubeconfig's `certificate-authority-data`); this argument takes PEM only (use `base64decode()`).",
				Optional:   true,
				Validators: []validator.String{stringvalidator.RegexMatches(pemRE, "must be a PEM-encoded certificate")},
			},
			"insecure": schema.BoolAttribute{
				MarkdownDescription: "Skip TLS verification of the API server (tests only). Conflicts with `cluster_ca_certificate`. " + envconfig.FallbackNote("kubernetes.insecure") +
					" (`true` or `false`; ignored when this argument is set).",
				Optional: true,
			},
			"namespace": schema.StringAttribute{
				MarkdownDescription: "Control namespace: where templates are stored (ConfigMaps) and the reconciler's lease lives. " +
					envconfig.FallbackNote("kubernetes.namespace") + " Default `" + config.DefaultKubernetesNamespace + "`.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.RegexMatches(dnsLabelRE, "must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)")},
			},
			"overcommit": overcommitAttribute(workshop.InfraKubernetes, "cluster", "the cluster's capacity (the allocatable CPU and memory of its nodes, "+
				"or the control namespace's ResourceQuota on requests when that is tighter)"),
			"egress_deny": schema.ListAttribute{
				MarkdownDescription: "CIDRs (IPv4 and IPv6) that no session pod reaches: the `ipBlock.except` list of the egress " +
					"NetworkPolicy every session namespace gets (namespace and vCluster isolation). Default: the cloud metadata " +
					"addresses `" + strings.Join(config.DefaultKubernetesEgressDeny, "`, `") + "`; setting it replaces that list " +
					"(keep them in it), `[]` denies nothing. Pod addresses stay governed by the namespaces' own policies. " +
					"Applies to sessions created afterwards. NetworkPolicies need a CNI that enforces them.",
				ElementType: types.StringType,
				Optional:    true,
				Validators: []validator.List{listvalidator.ValueStringsAre(checkValidator{"Invalid CIDR",
					"must be an IPv4 or IPv6 CIDR without host bits, such as `169.254.169.254/32`", config.ValidateKubernetesEgressCIDR})},
			},
			"participant_server": schema.StringAttribute{
				MarkdownDescription: "API server address written into participants' kubeconfigs, for participants who reach " +
					"the cluster by another address than Terraform does. Default: the address the provider uses.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.RegexMatches(k8sHostRE, "must be an http:// or https:// address")},
			},
		},
		Blocks: map[string]schema.Block{
			"registry_auth": registryAuthBlock("kubernetes", "every session namespace gets them as a "+
				"`kubernetes.io/dockerconfigjson` Secret (`"+config.RegistryPullSecretName+"`) that its workspace pod and its "+
				"`default` and `participant` service accounts reference (the pods of the template's manifests pull with it without "+
				"naming it), the template pre-pull DaemonSet uses one in the control namespace, and in `vcluster` isolation the "+
				"vCluster's synced pods do too. **The participant can read that Secret** (they may read their namespace's "+
				"Secrets): give sessions read-only pull tokens, never an account that can push."),
			"exec": schema.SingleNestedBlock{
				MarkdownDescription: "A client-go exec credential plugin (as `users[].user.exec` of a kubeconfig), for clusters " +
					"that hand out short-lived tokens (EKS, GKE, AKS, OIDC). Overrides the kubeconfig user's credentials. " +
					"A block: a misspelt argument is an error.",
				// Required inside the block through a validator: the framework would
				// otherwise require them even when the block is absent.
				Validators: []validator.Object{objectvalidator.AlsoRequires(
					path.MatchRelative().AtName("api_version"), path.MatchRelative().AtName("command"))},
				Attributes: map[string]schema.Attribute{
					"api_version": schema.StringAttribute{
						MarkdownDescription: "Required. API version of the ExecCredential, for example `client.authentication.k8s.io/v1`.",
						Optional:            true,
						Validators: []validator.String{stringvalidator.OneOf(
							"client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")},
					},
					"command": schema.StringAttribute{
						MarkdownDescription: "Required. Command to run (a path or a name on `PATH`).",
						Optional:            true,
						Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
					},
					"args": schema.ListAttribute{
						MarkdownDescription: "Arguments of the command.",
						ElementType:         types.StringType,
						Optional:            true,
						Validators:          []validator.List{listvalidator.SizeAtMost(64)},
					},
					"env": schema.MapAttribute{
						MarkdownDescription: "Environment variables set for the command.",
						ElementType:         types.StringType,
						Optional:            true,
					},
				},
			},
			"vcluster": schema.SingleNestedBlock{
				MarkdownDescription: "Where the vCluster Helm chart of `isolation = \"vcluster\"` templates comes from, and values merged over the provider's. " +
					"A block: a misspelt argument is an error.",
				Attributes: map[string]schema.Attribute{
					"chart_repository": schema.StringAttribute{
						MarkdownDescription: "Helm repository URL of the chart, for example `https://charts.loft.sh`. Conflicts with `chart_path`.",
						Optional:            true,
						Validators: []validator.String{
							stringvalidator.RegexMatches(k8sHostRE, "must be an http:// or https:// address"),
							stringvalidator.ConflictsWith(path.MatchRelative().AtParent().AtName("chart_path")),
						},
					},
					"chart_path": schema.StringAttribute{
						MarkdownDescription: "A local chart directory or archive (air-gapped clusters).",
						Optional:            true,
					},
					"chart_version": schema.StringAttribute{
						MarkdownDescription: "Chart version, for example `0.30.0`.",
						Optional:            true,
					},
					"values": schema.StringAttribute{
						MarkdownDescription: "YAML values merged over the provider's defaults for every vCluster, last.",
						Optional:            true,
					},
					"syncer_image": schema.StringAttribute{
						MarkdownDescription: "Image of the vCluster syncer (`[registry/]repository:tag`), for registries mirrored in air-gapped clusters. Default: the chart's.",
						Optional:            true,
					},
					"control_plane_image": schema.StringAttribute{
						MarkdownDescription: "Image of the virtual control plane (kube-apiserver and kube-controller-manager). Default: the chart's.",
						Optional:            true,
					},
					"coredns_image": schema.StringAttribute{
						MarkdownDescription: "Image of the virtual cluster's CoreDNS. Default: the chart's.",
						Optional:            true,
					},
					"image_pull_policy": schema.StringAttribute{
						MarkdownDescription: "Pull policy of those images: `Always`, `IfNotPresent` or `Never`. Default: the chart's.",
						Optional:            true,
						Validators:          []validator.String{stringvalidator.OneOf("Always", "IfNotPresent", "Never")},
					},
					"control_plane_cpu": schema.StringAttribute{
						MarkdownDescription: "CPU limit of each vCluster's control plane (kube-apiserver, controller-manager and syncer in one " +
							"container), default `2000m` (its request is a fortieth). Part of the session's quota on top of the participant's " +
							"resources, with CoreDNS's `100m`. Below about one CPU the control plane starts noticeably slower.",
						Optional:   true,
						Validators: []validator.String{cpuQuantity()},
					},
					"control_plane_memory": schema.StringAttribute{
						MarkdownDescription: "Memory limit of each vCluster's control plane, default `1Gi` (its request is a quarter). " +
							"Part of the session's quota on top of the participant's resources, with CoreDNS's `128Mi`.",
						Optional:   true,
						Validators: []validator.String{memoryQuantity()},
					},
					"persistence": schema.BoolAttribute{
						MarkdownDescription: "Keep each virtual cluster's data on a PersistentVolumeClaim (deleted with the session) instead of an emptyDir. Default `false`.",
						Optional:            true,
					},
					"persistence_size": schema.StringAttribute{
						MarkdownDescription: "Size of that claim, default `1Gi`; counted in the session's storage quota.",
						Optional:            true,
						Validators:          []validator.String{storageQuantity()},
					},
					"storage_class": schema.StringAttribute{
						MarkdownDescription: "StorageClass of that claim. Default: the cluster's default class.",
						Optional:            true,
					},
					"api_access": schema.StringAttribute{
						MarkdownDescription: "How the provider reaches each virtual API: `port-forward` (default: through the host API server) " +
							"or `service` (the vCluster Service's cluster IP, when Terraform runs inside the cluster's network).",
						Optional:   true,
						Validators: []validator.String{stringvalidator.OneOf("port-forward", "service")},
					},
				},
			},
		},
	}
}

// kubernetesConfigFrom takes the block's values, then the environment fallbacks
// (envconfig). configured is false when neither the block nor the environment says
// where a cluster is; known is false when a value is unknown at plan time; used names
// the variables applied.
func kubernetesConfigFrom(m *kubernetesModel, getenv func(string) string, diags *diag.Diagnostics) (cfg config.Kubernetes, configured, known bool, used []string) {
	r := newBlockReader()
	configured = m != nil || envconfig.KubernetesLocated(getenv)
	if m == nil {
		m = &kubernetesModel{}
	}
	cfg = config.Kubernetes{
		ConfigPath:           expandHome(r.stringValue(m.ConfigPath)),
		Context:              r.stringValue(m.Context),
		Host:                 r.stringValue(m.Host),
		Token:                r.stringValue(m.Token),
		ClusterCACertificate: r.stringValue(m.ClusterCACertificate),
		Namespace:            r.stringValue(m.Namespace),
		ParticipantServer:    r.stringValue(m.ParticipantServer),
		Insecure:             r.boolValue(m.Insecure),
	}
	if !m.Insecure.IsNull() {
		// insecure = false is an answer too: K8S_INSECURE must not override it.
		getenv = envconfig.Without(getenv, "K8S_INSECURE")
	}
	if v := m.VCluster; v != nil {
		cfg.VCluster = vcluster.Config{
			ChartPath:          expandHome(r.stringValue(v.ChartPath)),
			ChartRepository:    r.stringValue(v.ChartRepository),
			ChartVersion:       r.stringValue(v.ChartVersion),
			Values:             r.stringValue(v.Values),
			SyncerImage:        r.stringValue(v.SyncerImage),
			ControlPlaneImage:  r.stringValue(v.ControlPlaneImage),
			CoreDNSImage:       r.stringValue(v.CoreDNSImage),
			ImagePullPolicy:    r.stringValue(v.ImagePullPolicy),
			StorageClass:       r.stringValue(v.StorageClass),
			ControlPlaneCPU:    r.stringValue(v.ControlPlaneCPU),
			ControlPlaneMemory: r.stringValue(v.ControlPlaneMemory),
			PersistenceSize:    r.stringValue(v.PersistenceSize),
			APIAccess:          r.stringValue(v.APIAccess),
			Persistence:        r.boolValue(v.Persistence),
		}
	}
	cfg.EgressDeny = r.stringList(m.EgressDeny) // [] denies nothing, nil means the default
	cfg.RegistryAuth = registryAuthsFrom(r, m.RegistryAuth)
	if e := m.Exec; e != nil {
		cfg.Exec = &config.ExecPlugin{APIVersion: r.stringValue(e.APIVersion), Command: r.stringValue(e.Command),
			Args: r.stringList(e.Args), Env: r.stringMap(e.Env)}
	}
	used, err := envconfig.Kubernetes(&cfg, getenv)
	if err != nil && r.known && configured {
		diags.AddAttributeError(path.Root("kubernetes"), "Invalid Kubernetes settings from the environment", err.Error())
	}
	return cfg, configured, r.known, used
}

// expandHome expands a leading ~ in every element of a path list.
func expandHome(p string) string { return envconfig.ExpandHome(p) }

// validateKubernetesBlock checks what single-attribute validators cannot.
func validateKubernetesBlock(m *kubernetesModel, getenv func(string) string, diags *diag.Diagnostics) {
	if m == nil {
		return
	}
	k := path.Root("kubernetes")
	if !m.Insecure.IsNull() && !m.Insecure.IsUnknown() && m.Insecure.ValueBool() && !m.ClusterCACertificate.IsNull() {
		diags.AddAttributeError(k.AtName("insecure"), "Conflicting TLS settings",
			"Set either kubernetes.insecure = true or kubernetes.cluster_ca_certificate, not both.")
	}
	if m.ConfigPath.IsNull() && m.Host.IsNull() && !envconfig.KubernetesLocated(getenv) {
		diags.AddAttributeError(k, "Kubernetes cluster not specified",
			"The kubernetes block needs config_path or host (or the KUBE_CONFIG_PATH, KUBECONFIG or K8S_ENDPOINT environment variable) to know which cluster to use.")
	}
	if knownString(m.ConfigPath) {
		// One file must exist (kubectl ignores missing files only in a list).
		if f := expandHome(m.ConfigPath.ValueString()); len(filepath.SplitList(f)) == 1 {
			if _, err := os.Stat(f); err != nil {
				diags.AddAttributeError(k.AtName("config_path"), "Kubeconfig not readable",
					"kubernetes.config_path: "+err.Error())
			}
		}
	}
}
