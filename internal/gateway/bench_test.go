package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/gateway/token"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Benchmarks print figures (make bench-gateway); they are not timed tests.
//
//	make bench-gateway
//
// BenchmarkGatewayKeystrokeEcho: one key to its echo, through the gateway's WebSocket
// (in-process gateway on loopback) and straight through the Docker API's TTY exec
// attach (what `docker exec -it` does), in the same workspace; medians and p90 reported.
func BenchmarkGatewayKeystrokeEcho(b *testing.B) {
	if os.Getenv("NALABO_DOCKER_TESTS") != "1" && os.Getenv("TF_ACC") != "1" {
		b.Skip("set NALABO_DOCKER_TESTS=1")
	}
	env := benchSetup(b)
	b.Run("gateway", func(b *testing.B) {
		u := "ws" + strings.TrimPrefix(env.g.http.URL, "http") + "/s/" + env.s.ID + "/terminal?cols=100&rows=30"
		ws, _, err := (&websocket.Dialer{}).Dial(u, http.Header{"Cookie": {cookieName + "=" + env.tok}, "Origin": {env.g.http.URL}})
		if err != nil {
			b.Fatal(err)
		}
		defer ws.Close()
		echo := func(key, want byte) error {
			if err := ws.WriteMessage(websocket.BinaryMessage, []byte{key}); err != nil {
				return err
			}
			return wsReadUntilByte(ws, want)
		}
		measureEcho(b, echo)
	})
	b.Run("docker-exec", func(b *testing.B) {
		term, err := acctest.As[workshop.TerminalOpener](b, env.b).OpenTerminal(context.Background(), env.s.ID, &workshop.TerminalRequest{Cols: 100, Rows: 30})
		if err != nil {
			b.Fatal(err)
		}
		defer term.Close()
		buf := make([]byte, 4096)
		echo := func(key, want byte) error {
			if _, err := term.Write([]byte{key}); err != nil {
				return err
			}
			for {
				n, err := term.Read(buf)
				if bytes.IndexByte(buf[:n], want) >= 0 {
					return nil
				}
				if err != nil {
					return err
				}
			}
		}
		measureEcho(b, echo)
	})
}

// measureEcho types b.N letters, each erased (DEL, awaiting its backspace) before the
// next so that the line stays empty, and reports the median and p90 key-to-echo
// latency of the letters.
func measureEcho(b *testing.B, echo func(key, want byte) error) {
	// Warm up: the prompt, and the shell ready to read.
	for i := 0; i < 5; i++ {
		if err := echo('x', 'x'); err != nil {
			b.Fatal(err)
		}
		if err := echo(0x7f, '\b'); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		key := byte('a' + i%26)
		start := time.Now()
		if err := echo(key, key); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		if err := echo(0x7f, '\b'); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "µs-median")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds()), "µs-p90")
}

func wsReadUntilByte(ws *websocket.Conn, key byte) error {
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		if bytes.IndexByte(msg, key) >= 0 {
			return nil
		}
	}
}

type benchEnv struct {
	b   workshop.Backend
	s   *workshop.Session
	g   *testGateway
	tok string
}

// benchSetup: one Docker session and an in-process gateway (cleaned up with b).
func benchSetup(b *testing.B) *benchEnv {
	b.Helper()
	be, err := docker.New(docker.Config{Host: os.Getenv("DOCKER_HOST"), SubnetPool: testPool, NetworkPrefix: testNetworkPrefix})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	tpl, err := be.ApplyTemplate(context.Background(), &workshop.Template{
		Name: "gwbench-" + workshop.NewSessionID()[:6], Infrastructure: workshop.InfraDocker,
		Workspace: workshop.Workspace{Image: "nalabo-test/shell:1", Command: []string{"sleep", "infinity"}},
		Resources: workshop.Resources{CPU: "1", Memory: "512Mi"},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = be.DeleteTemplate(context.Background(), tpl.ID) })
	now := time.Now().UTC().Truncate(time.Second)
	spec := &workshop.SessionSpec{ID: workshop.NewSessionID(), Template: tpl, Participant: "bench",
		Resources: workshop.Resources{CPU: "1", Memory: "512Mi", Storage: "1Gi"}, CreatedAt: now, Duration: time.Hour, ExpiresAt: now.Add(time.Hour)}
	b.Cleanup(func() { _ = be.DeleteSession(context.Background(), spec.ID) })
	s, err := be.CreateSession(context.Background(), spec)
	if err != nil {
		b.Fatal(err)
	}
	s.ID, s.ExpiresAt = spec.ID, spec.ExpiresAt
	key, _ := token.NewKey(testSigningKey)
	cfg := &Config{Keys: []token.Key{key}}
	srv := New(cfg, []workshop.Backend{be}, nil, nil)
	hs := httptest.NewServer(srv.Handler())
	b.Cleanup(hs.Close)
	return &benchEnv{b: be, s: s, g: &testGateway{srv: srv, http: hs, key: key}, tok: key.Sign(s.ID, s.ExpiresAt)}
}

// BenchmarkGatewayConcurrentTerminals opens NALABO_BENCH_TERMINALS (default 100)
// terminals on one gateway, run as its own process (this test binary re-executed as
// `gateway`), each typing a command; it reports the gateway's resident memory per
// open terminal and its CPU time per terminal for the whole run.
func BenchmarkGatewayConcurrentTerminals(b *testing.B) {
	if os.Getenv("NALABO_DOCKER_TESTS") != "1" && os.Getenv("TF_ACC") != "1" {
		b.Skip("set NALABO_DOCKER_TESTS=1")
	}
	n := 100
	if v, err := strconv.Atoi(os.Getenv("NALABO_BENCH_TERMINALS")); err == nil && v > 0 {
		n = v
	}
	env := benchSetup(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], "--listen="+addr, "--backend=docker", "--log-level=warn")
	cmd.Env = append(os.Environ(), childEnv+"=1", EnvSigningKey+"="+testSigningKey, "DOCKER_NETWORK="+testNetworkPrefix)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() })
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the gateway process did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	pid := cmd.Process.Pid
	rss0, cpu0 := procRSS(b, pid), procCPU(b, pid)
	u := "ws" + strings.TrimPrefix(base, "http") + "/s/" + env.s.ID + "/terminal?cols=100&rows=30"
	h := http.Header{"Cookie": {cookieName + "=" + env.tok}, "Origin": {base}}
	conns := make([]*websocket.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < n; i++ {
		ws, _, err := (&websocket.Dialer{HandshakeTimeout: time.Minute}).Dial(u, h)
		if err != nil {
			b.Fatalf("terminal %d: %v", i, err)
		}
		conns = append(conns, ws)
	}
	opened := time.Since(start)
	for i, ws := range conns {
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte(fmt.Sprintf("echo t%d-$((6*7))\r", i))); err != nil {
			b.Fatal(err)
		}
	}
	for i, ws := range conns {
		want := []byte(fmt.Sprintf("t%d-42", i))
		_ = ws.SetReadDeadline(time.Now().Add(time.Minute))
		var got []byte
		for !bytes.Contains(got, want) {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				b.Fatalf("terminal %d: %v (got %q)", i, err, got)
			}
			got = append(got, msg...)
		}
	}
	b.StopTimer()
	rss1, cpu1 := procRSS(b, pid), procCPU(b, pid)
	b.ReportMetric(float64(n), "terminals")
	b.ReportMetric(float64(rss1-rss0)/float64(n)/1024, "KiB-RSS/terminal")
	b.ReportMetric(float64(rss1)/1024/1024, "MiB-RSS-total")
	b.ReportMetric(float64((cpu1-cpu0).Milliseconds())/float64(n), "ms-CPU/terminal")
	b.ReportMetric(float64(opened.Milliseconds()), "ms-to-open-all")
}

// procRSS is a process's resident memory in bytes.
func procRSS(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// procCPU is a process's user+system CPU time (clock ticks of 10 ms).
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
