// Command pause is the test cluster's sandbox ("pause") container: it holds the pod's
// namespaces, reaps zombie children (it is PID 1 of the pod when the PID namespace is
// shared) and exits 0 on SIGTERM, SIGINT or SIGHUP. Built static (CGO_ENABLED=0) so it
// runs in an image FROM scratch.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		os.Stdout.WriteString("pause (nalabo testcluster)\n")
		return
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
