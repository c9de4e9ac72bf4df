package awslocal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/throttle-handler/throttle-handler/integration/services"
	"github.com/throttle-handler/throttle-handler/integration/services/iam"
	"github.com/throttle-handler/throttle-handler/integration/sim"
	"github.com/throttle-handler/throttle-handler/pkg/clock"
)

// Options configure the local stack. The zero value serves AWS's published
// defaults at real time on a free port of 127.0.0.1.
type Options struct {
	// Addr is the listen address. Default "127.0.0.1:0" (a free port).
	Addr string
	// TimeScale k runs the whole stack k× faster than real time. Default 1.
	TimeScale float64
	// Origin is the simulated time at start. Default: the real time now.
	Origin time.Time
	// Clock replaces the scaled clock (tests pass a clock.Fake and call
	// Stack.Sim.Step after advancing it). Stack.Scaled is nil then.
	Clock clock.Clock
	// Sim is the simulated ECS/EC2 account.
	Sim sim.Config
	// Sink receives the account's EventBridge envelopes. Default: the
	// simulator's recording sink (Stack.Sim.Events()).
	Sink sim.EventSink
	// StepInterval is how often (real time) the simulator's schedule runs
	// in the background. Default 5 ms; negative disables it (tests on a
	// Fake clock step by hand).
	StepInterval time.Duration
	// Logger logs the stack's life. Default: discard.
	Logger *slog.Logger
	// Services configures the other services (services.go).
	Services ServicesOptions

	// Account configures Service Quotas and IAM (account.go).
	Account AccountOptions
}

// Stack is a running local AWS: one endpoint for every service, one clock.
type Stack struct {
	// Endpoint is the edge's URL, http://127.0.0.1:PORT.
	Endpoint string
	// Clock is the clock every part of the stack reads.
	Clock clock.Clock
	// Scaled is Clock as a *clock.Scaled (nil when Options.Clock was set);
	// the Step Functions runner divides its timers by Scaled.Factor().
	Scaled *clock.Scaled
	// Sim is the ECS and EC2 simulator.
	Sim *sim.Sim
	// Edge dispatches requests to services; services register on it.
	Edge *Edge
	// Region is the region clients should use.
	Region string

	logger   *slog.Logger
	srv      *http.Server
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	envMu    sync.Mutex
	extraEnv map[string]string // services add their variables with SetEnv
	once     sync.Once
	connMu   sync.Mutex
	conns    map[net.Conn]http.ConnState
	// services are the Lambda, Step Functions, EventBridge, SQS and
	// DynamoDB started by startServices; set once, read concurrently.
	services atomic.Pointer[services.Services]

	// IAM is the local IAM (account.go); nil with Account.Disabled.
	IAM *iam.Service
}

// Start builds the clock, the simulator, the edge and the admin endpoints,
// serves them on Options.Addr, then starts the other services. Close stops
// everything it started. ctx bounds the start only.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.TimeScale == 0 {
		o.TimeScale = 1
	}
	if o.TimeScale < 0 {
		return nil, fmt.Errorf("awslocal: TimeScale must be > 0, got %v", o.TimeScale)
	}
	if o.Origin.IsZero() {
		o.Origin = time.Now().UTC()
	}
	if o.StepInterval == 0 {
		o.StepInterval = 5 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Stack{Edge: NewEdge(), logger: o.Logger, extraEnv: map[string]string{}}
	if o.Clock != nil {
		s.Clock = o.Clock
	} else {
		s.Scaled = clock.NewScaled(o.Origin, o.TimeScale)
		s.Clock = s.Scaled
	}
	sm, err := sim.New(s.Clock, o.Sim, func(so *sim.Options) {
		so.Sink = o.Sink
		so.Logger = o.Logger
	})
	if err != nil {
		return nil, err
	}
	s.Sim = sm
	s.Region = sm.Config().Region
	s.Edge.Handle(ServiceECS, sm.ECSHandler())
	s.Edge.Handle(ServiceEC2, sm.EC2Handler())
	s.Edge.Handle(ServiceAdmin, s.adminHandler())

	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("awslocal: listen on %s: %w", o.Addr, err)
	}
	s.Endpoint = "http://" + ln.Addr().String()
	if err := s.startAccountServices(o.Account); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("awslocal: account services: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.conns = map[net.Conn]http.ConnState{}
	s.srv = &http.Server{Handler: s.Edge, ReadHeaderTimeout: 10 * time.Second, ConnState: s.trackConn,
		// Requests live in the stack's context, so Close wakes handlers that
		// hold a response on purpose (latency and lost-response faults).
		BaseContext: func(net.Listener) context.Context { return runCtx },
		// The server's own complaints go to the stack's logger, not to the
		// process's standard logger.
		ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("awslocal: serve", "err", err)
		}
	}()
	if o.StepInterval > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			sm.Run(runCtx, o.StepInterval)
		}()
	}
	if err := s.startServices(ctx, o); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("awslocal: start services: %w", err)
	}
	s.logger.Info("awslocal: serving", "endpoint", s.Endpoint, "timeScale", o.TimeScale)
	return s, nil
}

// SetEnv adds a variable to Env (services register their endpoints and
// configuration here).
func (s *Stack) SetEnv(name, value string) {
	s.envMu.Lock()
	s.extraEnv[name] = value
	s.envMu.Unlock()
}

// Env returns the environment clients need: AWS_ENDPOINT_URL and the
// per-service AWS_ENDPOINT_URL_<SERVICE> that aws-sdk-go-v2 honours, the
// region, static credentials, and whatever the services added.
func (s *Stack) Env() map[string]string {
	env := map[string]string{
		"AWS_ENDPOINT_URL":      s.Endpoint,
		"AWS_ENDPOINT_URL_ECS":  s.Endpoint,
		"AWS_ENDPOINT_URL_EC2":  s.Endpoint,
		"AWS_REGION":            s.Region,
		"AWS_DEFAULT_REGION":    s.Region,
		"AWS_ACCESS_KEY_ID":     "test",
		"AWS_SECRET_ACCESS_KEY": "test",
	}
	s.envMu.Lock()
	maps.Copy(env, s.extraEnv)
	s.envMu.Unlock()
	return env
}

// Environ returns Env as KEY=value strings, for exec.Cmd.Env.
func (s *Stack) Environ() []string {
	var out []string
	for k, v := range s.Env() {
		out = append(out, k+"="+v)
	}
	return out
}

// Close stops the services, the server and the background schedule. It is
// safe to call more than once.
func (s *Stack) Close() error {
	var err error
	s.once.Do(func() {
		s.closeServices()
		if s.cancel != nil {
			s.cancel()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if s.srv != nil {
			s.closeNewConns()
			if e := s.srv.Shutdown(ctx); e != nil {
				err = e
				_ = s.srv.Close()
			}
		}
		s.wg.Wait()
	})
	return err
}

// trackConn remembers each connection's state, so Close can drop the ones
// no request ever arrived on: http.Server.Shutdown waits 5 s for those, and
// HTTP clients open spare connections under load.
func (s *Stack) trackConn(c net.Conn, st http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if st == http.StateClosed || st == http.StateHijacked {
		delete(s.conns, c)
		return
	}
	s.conns[c] = st
}

func (s *Stack) closeNewConns() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c, st := range s.conns {
		if st == http.StateNew {
			_ = c.Close()
		}
	}
}

// ExportLines renders Env as shell export lines, sorted, AWS_ENDPOINT_URL
// first.
func (s *Stack) ExportLines() string {
	env := s.Env()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sortKeys(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, env[k])
	}
	return b.String()
}
