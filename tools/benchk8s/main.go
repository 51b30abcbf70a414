// Command benchk8s does, straight through client-go, the Kubernetes work the Nalabo
// provider does for a class of namespace-isolated sessions: per participant a namespace
// (Pod Security labels), a ResourceQuota, a LimitRange, 2 NetworkPolicies, a
// ServiceAccount, a Role and RoleBinding, a TokenRequest, a Secret holding two
// kubeconfigs and the workspace pod; all participants at once, until every workspace
// pod is Ready. Then it deletes everything (pods with a 1 s grace period, then the
// namespaces) until every namespace is gone. It prints one line scripts/bench-k8s.sh
// parses:
//
//	direct-k8s n=30 up=5.123 down=6.789
//
// Every namespace carries nalabo.io/managed-by=nalabo-bench and a per-run label; the
// program removes what it created also when it fails or is interrupted, and removes
// leftovers of earlier interrupted runs before it starts. It waits with watches (the
// best a direct program can do), where the provider polls.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
)

const (
	labelManagedBy = "nalabo.io/managed-by"
	managedBy      = "nalabo-bench"
	labelRun       = "nalabo.io/bench-run"
	sa             = "participant"
	roleName       = "nalabo-participant"
	secretName     = "nalabo-kubeconfig"
	home           = "/home/nalabo"
)

type options struct {
	n          int
	kubeconfig string
	image      string
	milliCPU   int64
	memory     int64
	storage    int64
	timeout    time.Duration
	prefix     string
	qps        float64
	burst      int
}

func main() {
	var o options
	var cpu, mem, storage string
	flag.IntVar(&o.n, "n", 30, "participants (a namespace and its objects each), all at once")
	flag.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("NALABO_K8S_KUBECONFIG"), "kubeconfig of the cluster (default $NALABO_K8S_KUBECONFIG)")
	flag.StringVar(&o.image, "image", "nalabo-test/k8s-workspace:1", "workspace image (present on the node)")
	flag.StringVar(&cpu, "cpu", "200m", "session CPU (quota; the pod gets the provider's share of it)")
	flag.StringVar(&mem, "memory", "256Mi", "session memory")
	flag.StringVar(&storage, "storage", "1Gi", "session storage (quota)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up (and clean up) after this long")
	flag.StringVar(&o.prefix, "name-prefix", "nalabo-bench", "namespace name prefix")
	flag.Float64Var(&o.qps, "qps", 50, "client-side rate limit (requests per second), as the provider's backend")
	flag.IntVar(&o.burst, "burst", 100, "client-side burst, as the provider's backend")
	flag.Parse()
	if o.kubeconfig == "" {
		fatalf("no -kubeconfig and NALABO_K8S_KUBECONFIG is not set")
	}
	for _, q := range []struct {
		s   string
		dst *int64
		m   bool
	}{{cpu, &o.milliCPU, true}, {mem, &o.memory, false}, {storage, &o.storage, false}} {
		v, err := resource.ParseQuantity(q.s)
		if err != nil {
			fatalf("bad quantity %q: %v", q.s, err)
		}
		if q.m {
			*q.dst = v.MilliValue()
		} else {
			*q.dst = v.Value()
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchk8s: "+format+"\n", args...)
	os.Exit(1)
}

func run(ctx context.Context, o options) (err error) {
	rc, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", o.kubeconfig, err)
	}
	rc.QPS, rc.Burst = float32(o.qps), o.burst
	rc.UserAgent = "nalabo-bench"
	cs, err := k8s.NewForConfig(rc)
	if err != nil {
		return err
	}
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		return fmt.Errorf("cluster unreachable: %w", err)
	}
	if n, err := removeAll(context.Background(), cs, labelManagedBy+"="+managedBy); err != nil {
		return fmt.Errorf("removing leftovers of earlier runs: %w", err)
	} else if n > 0 {
		fmt.Fprintf(os.Stderr, "benchk8s: removed %d namespaces left by an earlier run\n", n)
	}
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	sel := labelRun + "=" + runID
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		n, cerr := removeAll(cctx, cs, sel)
		if err == nil && n > 0 {
			err = fmt.Errorf("%d namespaces were still present after down", n)
		}
		if cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
	}()

	// Read once what every participant's kubeconfig needs.
	inCluster := "https://kubernetes.default.svc"
	if svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{}); err == nil && svc.Spec.ClusterIP != "" {
		port := "443"
		if len(svc.Spec.Ports) > 0 {
			port = strconv.Itoa(int(svc.Spec.Ports[0].Port))
		}
		inCluster = "https://" + net.JoinHostPort(svc.Spec.ClusterIP, port)
	}
	ca := rc.CAData
	if len(ca) == 0 && rc.CAFile != "" {
		if ca, err = os.ReadFile(rc.CAFile); err != nil {
			return err
		}
	}

	names := make([]string, o.n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%s-%02d", o.prefix, runID, i)
	}

	start := time.Now()
	// Watch the run's pods from before the first is created.
	w, err := cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	ready := make(chan error, 1)
	go func() { ready <- waitPodsReady(ctx, w, o.n) }()
	if err := forAll(ctx, names, func(ctx context.Context, ns string) error {
		return up(ctx, cs, rc, o, runID, ns, inCluster, ca)
	}); err != nil {
		w.Stop()
		return fmt.Errorf("up: %w", err)
	}
	if err := <-ready; err != nil {
		return fmt.Errorf("up: %w", err)
	}
	upSecs := time.Since(start).Seconds()

	start = time.Now()
	if _, err := removeAll(ctx, cs, sel); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	downSecs := time.Since(start).Seconds()
	fmt.Printf("direct-k8s n=%d up=%.3f down=%.3f\n", o.n, upSecs, downSecs)
	return nil
}

// forAll runs f for every name at once and returns the first error.
func forAll(ctx context.Context, names []string, f func(context.Context, string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = f(ctx, n); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitPodsReady consumes pod events until n distinct pods are Ready.
func waitPodsReady(ctx context.Context, w watch.Interface, n int) error {
	defer w.Stop()
	readySet := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d workspace pods ready: %w", len(readySet), n, ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("pod watch closed with %d of %d ready", len(readySet), n)
			}
			pod, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				continue
			}
			for _, c := range pod.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					readySet[pod.Namespace] = true
				}
			}
			if len(readySet) >= n {
				return nil
			}
		}
	}
}

func milli(v int64) resource.Quantity { return *resource.NewMilliQuantity(v, resource.DecimalSI) }
func bytesQ(v int64) resource.Quantity {
	return *resource.NewQuantity(v, resource.BinarySI)
}

// up creates one participant's namespace and objects, as the provider's backend does.
func up(ctx context.Context, cs k8s.Interface, rc *rest.Config, o options, runID, ns, inCluster string, ca []byte) error {
	labels := map[string]string{labelManagedBy: managedBy, labelRun: runID}
	create := metav1.CreateOptions{FieldManager: "nalabo-bench"}
	core := cs.CoreV1()
	nsLabels := map[string]string{
		labelManagedBy: managedBy, labelRun: runID,
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest",
		"pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/audit": "restricted",
	}
	if _, err := core.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: nsLabels}}, create); err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	om := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}
	hard := corev1.ResourceList{
		corev1.ResourceRequestsCPU: milli(o.milliCPU), corev1.ResourceLimitsCPU: milli(o.milliCPU),
		corev1.ResourceRequestsMemory: bytesQ(o.memory), corev1.ResourceLimitsMemory: bytesQ(o.memory),
		corev1.ResourcePods: *resource.NewQuantity(20, resource.DecimalSI), corev1.ResourceRequestsStorage: bytesQ(o.storage),
	}
	if _, err := core.ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: om("nalabo-quota"), Spec: corev1.ResourceQuotaSpec{Hard: hard}}, create); err != nil {
		return fmt.Errorf("%s: quota: %w", ns, err)
	}
	lr := &corev1.LimitRange{ObjectMeta: om("nalabo-limits"), Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type:           corev1.LimitTypeContainer,
		Default:        corev1.ResourceList{corev1.ResourceCPU: milli(max(o.milliCPU/4, 10)), corev1.ResourceMemory: bytesQ(o.memory / 4)},
		DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: milli(max(o.milliCPU/16, 5)), corev1.ResourceMemory: bytesQ(o.memory / 16)},
	}}}}
	if _, err := core.LimitRanges(ns).Create(ctx, lr, create); err != nil {
		return fmt.Errorf("%s: limit range: %w", ns, err)
	}
	nps := []*networkingv1.NetworkPolicy{
		{ObjectMeta: om("nalabo-ingress-same-namespace"), Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}},
		}},
		{ObjectMeta: om("nalabo-egress-no-metadata"), Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{
				{NamespaceSelector: &metav1.LabelSelector{}},
				{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"169.254.169.254/32"}}},
				{IPBlock: &networkingv1.IPBlock{CIDR: "::/0"}},
			}}},
		}},
	}
	for _, np := range nps {
		if _, err := cs.NetworkingV1().NetworkPolicies(ns).Create(ctx, np, create); err != nil {
			return fmt.Errorf("%s: network policy: %w", ns, err)
		}
	}
	if _, err := core.ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: om(sa), AutomountServiceAccountToken: ptr.To(false)}, create); err != nil {
		return fmt.Errorf("%s: service account: %w", ns, err)
	}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: om(roleName), Rules: rules()}, create); err != nil {
		return fmt.Errorf("%s: role: %w", ns, err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: om(roleName),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: roleName},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}},
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, rb, create); err != nil {
		return fmt.Errorf("%s: role binding: %w", ns, err)
	}
	secs := int64(3600)
	tr, err := core.ServiceAccounts(ns).CreateToken(ctx, sa, &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("%s: token: %w", ns, err)
	}
	build := func(server string) ([]byte, error) {
		c := clientcmdapi.NewConfig()
		c.Clusters["nalabo"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
		c.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
		c.Contexts[ns] = &clientcmdapi.Context{Cluster: "nalabo", AuthInfo: sa, Namespace: ns}
		c.CurrentContext = ns
		return clientcmd.Write(*c)
	}
	inPod, err := build(inCluster)
	if err != nil {
		return err
	}
	partic, err := build(rc.Host)
	if err != nil {
		return err
	}
	secret := &corev1.Secret{ObjectMeta: om(secretName), Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"config": inPod, "participant": partic}}
	if _, err := core.Secrets(ns).Create(ctx, secret, create); err != nil {
		return fmt.Errorf("%s: secret: %w", ns, err)
	}
	uid := int64(1000)
	pod := &corev1.Pod{
		ObjectMeta: om("workspace"),
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false), ServiceAccountName: sa, TerminationGracePeriodSeconds: ptr.To(int64(5)),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(uid), RunAsGroup: ptr.To(uid), FSGroup: ptr.To(uid),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Volumes: []corev1.Volume{
				{Name: "home", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "kubeconfig", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName: secretName, DefaultMode: ptr.To(int32(0o440)),
					Items: []corev1.KeyToPath{{Key: "config", Path: "config"}},
				}}},
			},
			Containers: []corev1.Container{{
				Name: "workspace", Image: o.image, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sleep", "infinity"},
				Env:     []corev1.EnvVar{{Name: "HOME", Value: home}, {Name: "KUBECONFIG", Value: home + "/.kube/config"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: milli(max(o.milliCPU/8, 5)), corev1.ResourceMemory: bytesQ(o.memory / 8)},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: milli(max(o.milliCPU/2, 10)), corev1.ResourceMemory: bytesQ(o.memory / 2)},
				},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true),
					Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "home", MountPath: home},
					{Name: "kubeconfig", MountPath: home + "/.kube/config", SubPath: "config", ReadOnly: true},
				},
			}},
		},
	}
	if _, err := core.Pods(ns).Create(ctx, pod, create); err != nil {
		return fmt.Errorf("%s: pod: %w", ns, err)
	}
	return nil
}

// rules is the participant Role of the provider's namespace sessions.
func rules() []rbacv1.PolicyRule {
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	read := []string{"get", "list", "watch"}
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Verbs: all, Resources: []string{
			"pods", "pods/log", "pods/exec", "pods/attach", "pods/portforward", "services", "endpoints",
			"configmaps", "secrets", "persistentvolumeclaims",
		}},
		{APIGroups: []string{""}, Verbs: read, Resources: []string{"events", "serviceaccounts", "resourcequotas", "limitranges"}},
		{APIGroups: []string{"apps"}, Verbs: all, Resources: []string{
			"deployments", "deployments/scale", "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale", "daemonsets",
		}},
		{APIGroups: []string{"batch"}, Verbs: all, Resources: []string{"jobs", "cronjobs"}},
		{APIGroups: []string{"networking.k8s.io"}, Verbs: all, Resources: []string{"ingresses"}},
		{APIGroups: []string{"networking.k8s.io"}, Verbs: read, Resources: []string{"networkpolicies"}},
		{APIGroups: []string{"autoscaling"}, Verbs: all, Resources: []string{"horizontalpodautoscalers"}},
		{APIGroups: []string{"policy"}, Verbs: all, Resources: []string{"poddisruptionbudgets"}},
		{APIGroups: []string{"events.k8s.io"}, Verbs: read, Resources: []string{"events"}},
		{APIGroups: []string{"metrics.k8s.io"}, Verbs: read, Resources: []string{"pods"}},
	}
}

// removeAll deletes the namespaces matching selector (their pods first, with a 1 s
// grace period, as the provider does) and waits until they are gone. It returns how
// many there were.
func removeAll(ctx context.Context, cs k8s.Interface, selector string) (int, error) {
	list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return 0, err
	}
	if len(list.Items) == 0 {
		return 0, nil
	}
	w, err := cs.CoreV1().Namespaces().Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: list.ResourceVersion})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	names := make([]string, len(list.Items))
	for i, ns := range list.Items {
		names[i] = ns.Name
	}
	if err := forAll(ctx, names, func(ctx context.Context, ns string) error {
		_ = cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(1))}, metav1.ListOptions{})
		err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}); err != nil {
		return len(names), err
	}
	left := map[string]bool{}
	for _, n := range names {
		left[n] = true
	}
	for len(left) > 0 {
		select {
		case <-ctx.Done():
			return len(names), fmt.Errorf("%d namespaces still terminating: %w", len(left), ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				return len(names), errors.New("namespace watch closed")
			}
			if ns, isNS := ev.Object.(*corev1.Namespace); isNS && ev.Type == watch.Deleted {
				delete(left, ns.Name)
			}
		}
	}
	return len(names), nil
}
