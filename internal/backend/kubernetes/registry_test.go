package kubernetes

import (
	"context"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/nalabo/terraform-provider-nalabo/internal/config"
)

func TestWorkloadPullSecrets(t *testing.T) {
	b := &Backend{cfg: Config{RegistryAuth: config.RegistryAuths{{Address: "r.example", Username: "u", Password: "p"}}}}
	vals := map[string]any{"controlPlane": map[string]any{"advanced": map[string]any{
		"workloadServiceAccount": map[string]any{"imagePullSecrets": []any{map[string]any{"name": "theirs"}}},
	}}}
	b.workloadPullSecrets(vals)
	b.workloadPullSecrets(vals) // once only
	m := func(v any) map[string]any { x, _ := v.(map[string]any); return x }
	got := m(m(m(vals["controlPlane"])["advanced"])["workloadServiceAccount"])["imagePullSecrets"]
	want := []any{map[string]any{"name": "theirs"}, map[string]any{"name": pullSecretName}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("imagePullSecrets = %v, want %v", got, want)
	}
	empty := map[string]any{}
	(&Backend{}).workloadPullSecrets(empty)
	if len(empty) != 0 {
		t.Fatalf("values changed without registry_auth: %v", empty)
	}
}

// TestSetupPullSecret: the Secret is written (created, then updated with new logins)
// and the default service account references it, whether it existed or not.
func TestSetupPullSecret(t *testing.T) {
	ctx := context.Background()
	for _, existing := range []bool{false, true} {
		cs := fake.NewClientset()
		if existing {
			_, _ = cs.CoreV1().ServiceAccounts("s").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: defaultSA, Namespace: "s"}}, metav1.CreateOptions{})
		}
		b := &Backend{cs: cs, cfg: Config{RegistryAuth: config.RegistryAuths{{Address: "127.0.0.1:5443", Username: "ada", Password: "p1"}}}}
		om := metav1.ObjectMeta{Namespace: "s"}
		if err := b.setupPullSecret(ctx, om); err != nil {
			t.Fatal(err)
		}
		b.cfg.RegistryAuth[0].Password = "p2"
		if err := b.setupPullSecret(ctx, om); err != nil {
			t.Fatal(err)
		}
		sec, err := cs.CoreV1().Secrets("s").Get(ctx, pullSecretName, metav1.GetOptions{})
		if err != nil || sec.Type != corev1.SecretTypeDockerConfigJson || !strings.Contains(string(sec.Data[corev1.DockerConfigJsonKey]), `"password":"p2"`) {
			t.Fatalf("secret: %+v %v", sec, err)
		}
		sa, err := cs.CoreV1().ServiceAccounts("s").Get(ctx, defaultSA, metav1.GetOptions{})
		if err != nil || len(sa.ImagePullSecrets) != 1 || sa.ImagePullSecrets[0].Name != pullSecretName {
			t.Fatalf("existing=%v: default service account %+v %v", existing, sa, err)
		}
	}
	// Without registry_auth nothing is written.
	cs := fake.NewClientset()
	if err := (&Backend{cs: cs}).setupPullSecret(ctx, metav1.ObjectMeta{Namespace: "s"}); err != nil {
		t.Fatal(err)
	}
	if l, _ := cs.CoreV1().Secrets("s").List(ctx, metav1.ListOptions{}); len(l.Items) != 0 {
		t.Fatalf("secrets without registry_auth: %v", l.Items)
	}
}

func TestPullRefusedHint(t *testing.T) {
	msg := `failed to pull and unpack image "127.0.0.1:5443/x:1": pulling from host 127.0.0.1:5443 failed with status code [manifests 1]: 401 Unauthorized`
	if !pullRefused("ErrImagePull", msg) || pullRefused("ErrImagePull", "manifest unknown") || pullRefused("CrashLoopBackOff", msg) {
		t.Fatal("pullRefused")
	}
	if h := registryAuthHint("127.0.0.1:5443/x:1"); !strings.Contains(h, `address = "127.0.0.1:5443"`) {
		t.Fatalf("hint: %s", h)
	}
}
