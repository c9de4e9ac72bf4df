package sim

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// apiError is an error answer in either protocol: HTTP status, the code the
// SDK surfaces as smithy.APIError.ErrorCode, the message, and ECS's
// ConflictException resourceIds.
type apiError struct {
	status      int
	code        string
	message     string
	resourceIDs []string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// opFunc handles one operation: the raw request body (JSON for ECS, the
// parsed form for EC2 is passed through ctx of the protocol) in, a response
// document or an error out.
type protocol interface {
	writeResult(w http.ResponseWriter, op, requestID string, out any)
	writeError(w http.ResponseWriter, requestID string, e *apiError)
	serverError() *apiError // the 500 this service answers for an internal error
}

// serve runs one API call through the fault plan: it counts the call, may
// delay it, reset the connection, answer a 5xx, or perform the call and then
// lose its response.
func (s *Sim) serve(w http.ResponseWriter, r *http.Request, p protocol, service, op string, call func() (any, *apiError)) {
	s.mu.Lock()
	s.tick()
	reqID := s.requestID()
	f := s.faults.draw(s, service, op)
	s.stats.calls[service+":"+op]++
	s.mu.Unlock()

	if f.latency > 0 {
		s.sleep(r.Context(), f.latency)
	}
	switch f.kind {
	case faultReset:
		resetConn(w)
		return
	case faultServer:
		s.countError(p.serverError())
		p.writeError(w, reqID, p.serverError())
		return
	}
	out, aerr := call()
	if err := s.tryFlush(r.Context()); err != nil {
		s.logger.Warn("event sink", "err", err)
	}
	if aerr != nil {
		s.countError(aerr)
		p.writeError(w, reqID, aerr)
		return
	}
	ids := launchedIDs(out)
	if f.kind == faultLost {
		s.ledger.mark(ids, true)
		s.loseResponse(w, r, p, reqID)
		return
	}
	p.writeResult(w, op, reqID, out)
	s.ledger.mark(ids, false)
}

// launchedIDs returns the task ARNs or instance IDs a launching call's
// response carries.
func launchedIDs(out any) []string {
	var ids []string
	switch o := out.(type) {
	case runTaskOutput:
		for _, t := range o.Tasks {
			ids = append(ids, t.TaskArn)
		}
	case *runInstancesXML:
		for _, in := range o.Instances {
			ids = append(ids, in.InstanceID)
		}
	}
	return ids
}

func (s *Sim) countError(e *apiError) {
	s.mu.Lock()
	s.stats.errors[e.code]++
	s.mu.Unlock()
}

// loseResponse drops the answer to a call that did happen, as a network
// does: by resetting the connection, answering a 5xx, or holding the answer
// until the client gives up (at most Faults.LostHoldSeconds, simulated).
func (s *Sim) loseResponse(w http.ResponseWriter, r *http.Request, p protocol, reqID string) {
	s.mu.Lock()
	mode, hold := s.cfg.Faults.LostMode, s.cfg.Faults.LostHoldSeconds
	s.mu.Unlock()
	switch mode {
	case LostAsServerError:
		p.writeError(w, reqID, p.serverError())
	case LostAsTimeout:
		s.sleep(r.Context(), time.Duration(hold*float64(time.Second)))
		resetConn(w)
	default:
		resetConn(w)
	}
}

// sleep waits for a simulated duration in real time when the clock can
// convert it (clock.Scaled); on other clocks (a test's Fake) it returns at once.
func (s *Sim) sleep(ctx context.Context, d time.Duration) {
	type scaler interface {
		RealDuration(time.Duration) time.Duration
	}
	sc, ok := s.clock.(scaler)
	if !ok {
		return
	}
	t := time.NewTimer(sc.RealDuration(d))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// resetConn closes the client's connection with a TCP RST, so the client sees
// "connection reset by peer" and no response.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// readBody reads a request body of at most 1 MiB.
func readBody(r *http.Request) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, 1<<20))
}
