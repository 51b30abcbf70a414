// Command dockercount is a counting proxy for the Docker Engine API, for benchmarks:
// it listens on a Unix socket, forwards every request to the engine's socket, and
// counts the requests by method and route (IDs and names replaced by {}).
//
//	dockercount -listen /tmp/x/docker.sock [-engine /var/run/docker.sock]
//
// GET /_counts on the proxy's socket answers the counts since the last reset
// ("total N" first, then "COUNT METHOD ROUTE" lines) and resets them. Nothing else is
// served; it runs until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
)

var (
	versionRE = regexp.MustCompile(`^/v[0-9.]+`)
	// The segment after a collection is an ID or a name.
	objectRE = regexp.MustCompile(`^/(containers|networks|volumes|images|exec|plugins|services|tasks|nodes|secrets|configs|distribution)/([^/]+)`)
)

func route(path string) string {
	p := versionRE.ReplaceAllString(path, "")
	m := objectRE.FindStringSubmatch(p)
	if m != nil && m[2] != "json" && m[2] != "create" && m[2] != "prune" {
		p = "/" + m[1] + "/{}" + strings.TrimPrefix(p, m[0])
	}
	return p
}

func main() {
	listen := flag.String("listen", "", "Unix socket to listen on")
	engine := flag.String("engine", "/var/run/docker.sock", "the engine's Unix socket")
	flag.Parse()
	if *listen == "" {
		log.Fatal("dockercount: -listen is required")
	}
	_ = os.Remove(*listen)
	ln, err := net.Listen("unix", *listen)
	if err != nil {
		log.Fatalf("dockercount: %v", err)
	}
	var mu sync.Mutex
	counts := map[string]int{}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker"
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", *engine)
			},
			MaxIdleConnsPerHost: 256,
		},
		FlushInterval: -1,
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_counts" {
			mu.Lock()
			total := 0
			var lines []string
			for k, n := range counts {
				total += n
				lines = append(lines, fmt.Sprintf("%6d %s", n, k))
			}
			counts = map[string]int{}
			mu.Unlock()
			sort.Sort(sort.Reverse(sort.StringSlice(lines)))
			fmt.Fprintf(w, "total %d\n%s\n", total, strings.Join(lines, "\n"))
			return
		}
		mu.Lock()
		counts[r.Method+" "+route(r.URL.Path)]++
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: h}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatalf("dockercount: %v", err)
	}
	_ = os.Remove(*listen)
}
