package testnet

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestStart: the host reaches each listener (Start checks it), and everything is gone
// after the cleanup.
func TestStart(t *testing.T) {
	if os.Getenv("NALABO_DOCKER_TESTS") != "1" {
		t.Skip("NALABO_DOCKER_TESTS=1 is not set (needs root: network namespaces and routes on this host)")
	}
	var name string
	t.Run("start", func(t *testing.T) {
		n := Start(t, "203.0.113.141", "203.0.113.142", "203.0.113.143")
		name = n.Name
		c, err := net.DialTimeout("tcp", "203.0.113.143:8080", 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	})
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), name) {
		t.Errorf("namespace %s left behind", name)
	}
	if out, _ := exec.Command("ip", "route", "show", "203.0.113.142/32").Output(); len(out) > 0 {
		t.Errorf("route left behind: %s", out)
	}
}
