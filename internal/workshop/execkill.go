package workshop

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// An exec is tagged with ExecMarkerEnv=<random id> in its environment. Every process it
// starts inherits the marker, including ones that double-fork, setsid or daemonize, so
// after a timeout a second exec (KillCommand) can find them all in /proc and kill them:
// neither Docker nor Kubernetes kills an exec's processes when its stream ends.
const ExecMarkerEnv = "NALABO_EXEC_ID"

// ExecKillTimeout bounds the kill exec; it runs on a fresh context, since the caller's
// may be what ended.
const ExecKillTimeout = 20 * time.Second

// killMaxOutput bounds the kill exec's output (one line per process).
const killMaxOutput = 256 << 10

// NewExecMarker returns a fresh marker value (128 random bits, hex).
func NewExecMarker() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}

// killScript finds the processes of one exec and kills them. It runs in POSIX sh
// (busybox ash, dash, bash) with a grep that has -z (GNU, busybox, toybox), as the exec's user (same uid: it may read their
// /proc/<pid>/environ and signal them without capabilities).
//
// A process belongs to the exec when its environ carries the marker, or when its parent
// belongs to it (a child that cleared its environment). Every one found is SIGSTOPped
// at once, and the scan repeats until it finds no new one: a stopped process cannot
// fork, so a fork bomb converges. Only then are they all SIGKILLed (SIGKILL ends stopped
// processes too). The marker arrives as $1, never in this script's environment, so the
// script and its grep never match.
//
// Output, one per line: "comm <pid> <name>" for each process about to be killed,
// "denied <pid>" for one that could not be signalled, "left <pid>" for one still there
// after the kill, "rounds <n>" at the end.
const killScript = `printf 'a\0' | grep -qzxF a 2>/dev/null || { echo "no grep with -z" >&2; exit 127; }
m="` + ExecMarkerEnv + `=$1"
seen=" "
denied=" "
take() {
  case "$seen" in *" $1 "*) return ;; esac
  [ "$1" = "$$" ] && return
  seen="$seen$1 "
  new=1
  if ! kill -STOP "$1" 2>/dev/null && [ -d "/proc/$1" ]; then denied="$denied$1 "; fi
}
scan() {
  for f in $(grep -lszxF -e "$m" /proc/[0-9]*/environ); do
    p=${f#/proc/}; take "${p%%/*}"
  done
}
round=0
while [ $round -lt 200 ]; do
  round=$((round+1))
  new=0
  scan
  f=
  for w in $(grep -sH '^PPid:' /proc/[0-9]*/status); do
    if [ -z "$f" ]; then f=$w; continue; fi
    case "$seen" in *" $w "*) p=${f#/proc/}; take "${p%%/*}" ;; esac
    f=
  done
  [ $new = 0 ] && break
done
for p in $seen; do
  case "$denied" in *" $p "*) echo "denied $p"; continue ;; esac
  [ -r "/proc/$p/comm" ] && read -r c 2>/dev/null <"/proc/$p/comm" && echo "comm $p $c"
done
for p in $seen; do kill -KILL "$p" 2>/dev/null; done
for i in 1 2 3 4 5 6 7 8 9 10; do
  seen=" "; new=0; scan
  [ $new = 0 ] && break
  for p in $seen; do kill -KILL "$p" 2>/dev/null; done
  sleep 0.2 2>/dev/null || sleep 1
done
for p in $seen; do [ -d "/proc/$p" ] && echo "left $p"; done
echo "rounds $round"
`

// KillCommand is the argv of the exec that kills the processes of the exec tagged with
// marker. It needs /bin/sh and grep in the container.
func KillCommand(marker string) []string {
	return []string{"/bin/sh", "-c", killScript, "nalabo-kill", marker}
}

// KillRequest is the exec request that kills the processes of the exec req tagged with
// marker: same container and user (same uid), bounded output, ExecKillTimeout.
func KillRequest(req *ExecRequest, marker string) *ExecRequest {
	return &ExecRequest{Command: KillCommand(marker), Container: req.Container, User: req.User,
		Timeout: ExecKillTimeout, MaxOutputBytes: killMaxOutput}
}

// NoShellKillError is the kill's outcome when the image has no /bin/sh.
const NoShellKillError = "the image has no /bin/sh, so nothing can look for the command's processes; " +
	"they may still run until the session is deleted"

// IsNoShell tells the runtime's refusal to start /bin/sh (the image has none): nothing ran.
func IsNoShell(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, `"/bin/sh"`) && (strings.Contains(msg, "no such file") || strings.Contains(msg, "not found"))
}

// ApplyKillResult records on r what the kill exec (its result kr, or its error) did.
func ApplyKillResult(r *ExecResult, kr *ExecResult, err error) {
	r.KillAttempted = true
	switch {
	case err != nil:
		r.KillError = "the kill could not run: " + err.Error()
		return
	case kr.TimedOut:
		r.KillError = fmt.Sprintf("the kill did not finish within %s", ExecKillTimeout)
	case kr.ExitCode == 126 || kr.ExitCode == 127:
		r.KillError = fmt.Sprintf("the container has no usable /bin/sh or grep to find the command's processes (exit %d: %s); "+
			"they may still run until the session is deleted", kr.ExitCode, firstLine(kr.Stderr))
		return
	}
	names, denied, left, ok := parseKillOutput(kr.Stdout)
	r.Killed = names
	var problems []string
	if r.KillError != "" {
		problems = append(problems, r.KillError)
	}
	if denied > 0 {
		problems = append(problems, fmt.Sprintf("%d process(es) could not be signalled (another user)", denied))
	}
	if left > 0 {
		problems = append(problems, fmt.Sprintf("%d process(es) still there after SIGKILL", left))
	}
	if !ok && r.KillError == "" {
		problems = append(problems, fmt.Sprintf("the kill ended early (exit %d: %s)", kr.ExitCode, firstLine(kr.Stderr)))
	}
	r.KillError = strings.Join(problems, "; ")
}

// parseKillOutput reads killScript's output: the names of the killed processes (sorted),
// how many could not be signalled or survived, and whether the script ran to its end.
func parseKillOutput(out string) (names []string, denied, left int, complete bool) {
	for _, line := range strings.Split(out, "\n") {
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "comm":
			pid, name, _ := strings.Cut(rest, " ")
			if _, err := strconv.Atoi(pid); err == nil {
				if name == "" {
					name = "?"
				}
				names = append(names, name)
			}
		case "denied":
			denied++
		case "left":
			left++
		case "rounds":
			complete = true
		}
	}
	sort.Strings(names)
	return names, denied, left, complete
}

// KillSummary says what the kill after a timeout or cancellation did, for diagnostics:
// "killed 3 processes (sh, sleep ×2)", "no process of it was left", or why it failed.
func (r *ExecResult) KillSummary() string {
	if !r.KillAttempted {
		return "its processes were not killed"
	}
	var s string
	switch len(r.Killed) {
	case 0:
		s = "no process of it was left to kill"
	case 1:
		s = "killed 1 process (" + countNames(r.Killed) + ")"
	default:
		s = fmt.Sprintf("killed %d processes (%s)", len(r.Killed), countNames(r.Killed))
	}
	if r.KillError != "" {
		if len(r.Killed) == 0 {
			return "could not kill its processes: " + r.KillError
		}
		s += "; but " + r.KillError
	}
	return s
}

// countNames renders sorted names as "sh, sleep ×3", at most 10 distinct ones.
func countNames(names []string) string {
	var parts []string
	for i := 0; i < len(names); {
		j := i
		for j < len(names) && names[j] == names[i] {
			j++
		}
		if len(parts) == 10 {
			parts = append(parts, "...")
			break
		}
		if n := j - i; n > 1 {
			parts = append(parts, fmt.Sprintf("%s ×%d", names[i], n))
		} else {
			parts = append(parts, names[i])
		}
		i = j
	}
	return strings.Join(parts, ", ")
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
