// Package k8shome makes the volumes persistent homes bind to on the Kubernetes test
// cluster (it has no storage class), for the tests of every package that stops and
// resumes namespace sessions. Test support only.
package k8shome

import (
	"context"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Volume makes a 300Mi hostPath PersistentVolume nalabo-test-<name> for a home's claim
// to bind to, removed when the test ends, and returns its name. With claimNamespace (the
// session's namespace, when its ID is known before the create), the volume is reserved
// for that session's claim "home".
func Volume(t testing.TB, cs kubernetes.Interface, name string, claimNamespace ...string) string {
	t.Helper()
	pvName, dir := "nalabo-test-"+name, "/tmp/nalabo-test-pv-"+name
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil { //nolint:gosec // the workspace runs as a non-root user
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("300Mi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}},
		},
	}
	if len(claimNamespace) > 0 {
		pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: claimNamespace[0], Name: "home"}
	}
	if _, err := cs.CoreV1().PersistentVolumes().Create(context.Background(), pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().PersistentVolumes().Delete(context.Background(), pvName, metav1.DeleteOptions{})
		_ = os.RemoveAll(dir)
	})
	return pvName
}
