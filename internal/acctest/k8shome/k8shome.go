// Package k8shome makes the volumes persistent homes bind to on the Kubernetes test
// cluster (it has no storage class), for the tests of every package that stops and
// resumes namespace sessions. Test support only.
package k8shome

import (
	"context"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Volume makes a 300Mi hostPath PersistentVolume nalabo-test-<name> for a home's claim
// to bind to, removed when the test ends, and returns its name. With claimNamespace (the
// session's namespace, when its ID is known before the create), the volume is reserved
// for that session's claim "home".
//
// A volume reserved for no claim binds whichever claim without a storage class comes
// first, another package's test's included (tests of several packages run at once): such
// volumes are made under a lock across the test processes (exclusiveHomes), held until
// the test ends.
func Volume(t testing.TB, cs kubernetes.Interface, name string, claimNamespace ...string) string {
	t.Helper()
	if len(claimNamespace) == 0 {
		exclusiveHomes(t)
	}
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

// homesLock is this process's hold of lockPath, by one test at a time (tests of a
// package may run in parallel); that test may make several volumes.
var homesLock struct {
	sync.Mutex
	freed *sync.Cond
	owner testing.TB
	held  int
	f     *os.File
}

// lockPath is locked (flock) by the test process that has unreserved home volumes.
const lockPath = "/tmp/nalabo-k8shome.lock"

// exclusiveHomes waits until no other test, of this process or another, has unreserved
// home volumes and holds that until the test ends (after its volumes are deleted:
// cleanups run last in, first out, and this one is registered before theirs).
func exclusiveHomes(t testing.TB) {
	t.Helper()
	homesLock.Lock()
	defer homesLock.Unlock()
	if homesLock.freed == nil {
		homesLock.freed = sync.NewCond(&homesLock.Mutex)
	}
	start := time.Now()
	for homesLock.owner != nil && homesLock.owner != t {
		homesLock.freed.Wait()
	}
	if homesLock.owner == nil {
		f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			_ = f.Close()
			t.Fatalf("lock %s: %v", lockPath, err)
		}
		homesLock.f, homesLock.owner = f, t
	}
	if d := time.Since(start); d > time.Second {
		t.Logf("waited %s for other tests to release their home volumes", d.Round(time.Second))
	}
	homesLock.held++
	t.Cleanup(func() {
		homesLock.Lock()
		defer homesLock.Unlock()
		if homesLock.held--; homesLock.held == 0 {
			_ = homesLock.f.Close() // releases the lock
			homesLock.f, homesLock.owner = nil, nil
			homesLock.freed.Broadcast()
		}
	})
}
