package testregistry

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestRegistryLoginAndTLS: the registry answers /v2/ only with its login and only over
// TLS verified by its CA; the CA is where dockerd and containerd look for it.
func TestRegistryLoginAndTLS(t *testing.T) {
	r := Start(t, "ada", "right-password")
	get := func(c *http.Client, user, pass string) (int, error) {
		req, err := http.NewRequest(http.MethodGet, "https://"+r.Host+"/v2/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	trusted := &http.Client{Transport: r.Transport()}
	if code, err := get(trusted, "ada", "right-password"); err != nil || code != http.StatusOK {
		t.Fatalf("right login: %d %v", code, err)
	}
	for _, pass := range []string{"", "wrong-password"} {
		if code, err := get(trusted, "ada", pass); err != nil || code != http.StatusUnauthorized {
			t.Fatalf("password %q: %d %v", pass, code, err)
		}
	}
	if _, err := get(&http.Client{}, "ada", "right-password"); err == nil {
		t.Fatal("the system roots trust the test CA")
	}
	// Plain HTTP on the same port (what a containerd without config_path speaks).
	if code, err := getURL(t, "http://"+r.Host+"/v2/", "ada", "right-password"); err != nil || code != http.StatusOK {
		t.Fatalf("plain HTTP: %d %v", code, err)
	}
	if r.Accepted() != 2 || r.Refused() != 2 || r.Plain() != 1 {
		t.Fatalf("accepted %d refused %d plain %d", r.Accepted(), r.Refused(), r.Plain())
	}
	for _, p := range []string{filepath.Join(DockerCertsDir, r.Host, "ca.crt"), filepath.Join(CertsDir, r.Host, "hosts.toml")} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
}

func getURL(t *testing.T, url, user, pass string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
