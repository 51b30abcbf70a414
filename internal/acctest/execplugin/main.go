// Command execplugin is a client-go exec credential plugin for tests
// (client.authentication.k8s.io/v1): it prints an ExecCredential with the token read
// from $NALABO_EXEC_TOKEN_FILE, expiring $NALABO_EXEC_TTL seconds from now (client-go
// runs it again once that passes), and appends one line per run to $NALABO_EXEC_LOG.
// With NALABO_EXEC_FAIL=1 it fails like a plugin whose cloud login expired.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "execplugin:", err)
		os.Exit(1)
	}
}

func run() error {
	now := time.Now()
	if log := os.Getenv("NALABO_EXEC_LOG"); log != "" {
		f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(f, "%s\n", now.UTC().Format(time.RFC3339Nano))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if os.Getenv("NALABO_EXEC_FAIL") == "1" {
		return fmt.Errorf("the cloud login expired (test failure)")
	}
	// client-go says which version it wants in KUBERNETES_EXEC_INFO.
	var info clientauthv1.ExecCredential
	if raw := os.Getenv("KUBERNETES_EXEC_INFO"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &info); err != nil {
			return fmt.Errorf("KUBERNETES_EXEC_INFO: %w", err)
		}
		if info.APIVersion != clientauthv1.SchemeGroupVersion.String() {
			return fmt.Errorf("asked for %s, only %s is served", info.APIVersion, clientauthv1.SchemeGroupVersion)
		}
	}
	tok, err := os.ReadFile(os.Getenv("NALABO_EXEC_TOKEN_FILE"))
	if err != nil {
		return err
	}
	ttl, err := strconv.Atoi(os.Getenv("NALABO_EXEC_TTL"))
	if err != nil || ttl <= 0 {
		ttl = 3600
	}
	out := clientauthv1.ExecCredential{
		TypeMeta: metav1.TypeMeta{APIVersion: clientauthv1.SchemeGroupVersion.String(), Kind: "ExecCredential"},
		Status: &clientauthv1.ExecCredentialStatus{
			Token:               strings.TrimSpace(string(tok)),
			ExpirationTimestamp: &metav1.Time{Time: now.Add(time.Duration(ttl) * time.Second)},
		},
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
