package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// WebSocket close codes the page does not reconnect after.
const (
	closeExpired     = 4001
	closeSessionGone = 4002
	closeNoTerminal  = 4003
)

const (
	wsMaxMessage  = 64 << 10
	wsPingEvery   = 30 * time.Second
	wsWriteWait   = 10 * time.Second
	termReadChunk = 32 << 10
)

// resizeMessage is the only text frame the page sends.
type resizeMessage struct {
	Type string `json:"type"`
	Cols uint16 `json:"cols"`
	Rows uint16 `json:"rows"`
}

// terminal serves /s/<id>/terminal: a WebSocket carrying a TTY exec in the session's
// workspace. Binary frames are keystrokes in and output out; text frames are resizes.
// It closes when the access ends (token or session expiry) or the session is deleted.
func (s *Server) terminal(w http.ResponseWriter, r *http.Request) {
	if !s.sameOrigin(r) {
		s.metrics.Terminals.WithLabelValues("denied").Inc()
		s.fail(w, http.StatusForbidden, "cross-origin terminal request refused", true)
		return
	}
	a, ok := s.participantAccess(w, r, true)
	if !ok {
		return
	}
	opener, ok := a.backend.(workshop.TerminalOpener)
	if !ok {
		s.fail(w, http.StatusNotImplemented, "this infrastructure has no terminals", true)
		return
	}
	up := websocket.Upgrader{
		ReadBufferSize: 4096, WriteBufferSize: 32 << 10,
		CheckOrigin: func(*http.Request) bool { return true }, // checked above
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered
	}
	defer ws.Close()
	ws.SetReadLimit(wsMaxMessage)
	id := a.session.ID
	cols, rows := dim(r.URL.Query().Get("cols"), 80), dim(r.URL.Query().Get("rows"), 24)

	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	octx, ocancel := context.WithTimeout(ctx, 30*time.Second)
	term, err := opener.OpenTerminal(octx, id, &workshop.TerminalRequest{Cols: cols, Rows: rows})
	ocancel()
	if err != nil {
		s.metrics.Terminals.WithLabelValues("error").Inc()
		s.log.Error("cannot open a terminal", "session", id, "error", err)
		closeWS(ws, closeNoTerminal, "cannot open a terminal in the workspace")
		return
	}
	s.metrics.Terminals.WithLabelValues("ok").Inc()
	s.metrics.TerminalsActive.Inc()
	defer s.metrics.TerminalsActive.Dec()
	start := time.Now()
	remote := clientIP(r)
	s.audit.Record(AuditRecord{Event: AuditTerminalStart, Who: "participant", Remote: remote, Session: id,
		Participant: a.session.Participant, Result: "ok"})
	var in, out atomic.Int64
	endReason := "closed"
	defer func() {
		term.Close()
		s.metrics.TerminalBytes.WithLabelValues("in").Add(float64(in.Load()))
		s.metrics.TerminalBytes.WithLabelValues("out").Add(float64(out.Load()))
		s.audit.Record(AuditRecord{Event: AuditTerminalEnd, Who: "participant", Remote: remote, Session: id,
			Participant: a.session.Participant, Result: endReason, DurationMS: time.Since(start).Milliseconds(),
			BytesIn: in.Load(), BytesOut: out.Load()})
	}()

	// Output: the terminal to the browser. Only this goroutine writes data frames.
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		buf := make([]byte, termReadChunk)
		for {
			n, err := term.Read(buf)
			if n > 0 {
				out.Add(int64(n))
				_ = ws.SetWriteDeadline(time.Now().Add(wsWriteWait))
				if werr := ws.WriteMessage(websocket.BinaryMessage, buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				closeWS(ws, websocket.CloseNormalClosure, "the shell exited")
				return
			}
		}
	}()

	// End of access, deletion, keep-alive.
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		expire := time.NewTimer(time.Until(a.until()))
		defer expire.Stop()
		check := time.NewTicker(s.sessionCheck)
		defer check.Stop()
		ping := time.NewTicker(wsPingEvery)
		defer ping.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-outDone:
				return
			case <-expire.C:
				endReason = "expired"
				closeWS(ws, closeExpired, "the session has ended")
				return
			case <-check.C:
				if _, _, err := s.findSession(ctx, id); errors.Is(err, errSessionGone) {
					endReason = "session_gone"
					closeWS(ws, closeSessionGone, "the session has ended")
					return
				}
			case <-ping.C:
				_ = ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteWait))
			}
		}
	}()

	// Input: the browser to the terminal.
	for {
		kind, msg, err := ws.ReadMessage()
		if err != nil {
			break
		}
		switch kind {
		case websocket.BinaryMessage:
			in.Add(int64(len(msg)))
			if _, err := term.Write(msg); err != nil {
				closeWS(ws, websocket.CloseNormalClosure, "the shell exited")
			}
		case websocket.TextMessage:
			var m resizeMessage
			if json.Unmarshal(msg, &m) == nil && m.Type == "resize" && m.Cols > 0 && m.Rows > 0 && m.Cols <= 1000 && m.Rows <= 1000 {
				_ = term.Resize(m.Cols, m.Rows)
			}
		}
	}
	cancel()
	term.Close()
	<-outDone
	<-watchDone
}

func closeWS(ws *websocket.Conn, code int, reason string) {
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(wsWriteWait))
	_ = ws.Close()
}

// dim reads a terminal dimension, def when absent or out of range.
func dim(s string, def uint16) uint16 {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return def
	}
	return uint16(n)
}
